/**
 * The hardware rig: a real controller reached over the link sections of the scenario's `rig`
 * (with `${VAR}` references expanded from the environment). Faults that only a simulator can
 * take are skipped with a note; `prompt` faults are printed for the person at the bench.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { expand, missingVariables, type Env } from '../env.js';
import { HilRigError } from '../errors.js';
import { SIM_ONLY_FAULTS, type FaultSpec, type HardwareRigSpec } from '../scenario.js';
import { Checker } from '../validate.js';
import { face } from './index.js';
import type { FaultOutcome, Rig } from './types.js';

export type HardwareRigResolution =
  { skip: true; missing: string[]; message: string } | { skip: false; rig: Rig };

/**
 * Expands the rig's references. When a variable without a default is unset the scenario is
 * skipped, and the message names every such variable.
 */
export async function resolveHardwareRig(
  spec: HardwareRigSpec,
  source: string,
  env: Env,
  out: (line: string) => void,
): Promise<HardwareRigResolution> {
  const missing = [
    ...new Set(missingVariables([spec.links, spec.registerMap, spec.errorCatalogue], env)),
  ];
  if (missing.length > 0) {
    return {
      skip: true,
      missing,
      message: `set ${missing.join(', ')} to run against a real controller`,
    };
  }
  const check = new Checker(source);
  const rigFace = face(spec.face);
  const adapter = rigFace.fromHardware(expand(spec.links, env), check);
  const base = dirname(resolve(source));
  const load = async (value: string | number, path: string): Promise<unknown> => {
    const file = resolve(base, String(expand(value, env)));
    try {
      return JSON.parse(await readFile(file, 'utf8')) as unknown;
    } catch (cause) {
      throw new HilRigError(`${path}: cannot load ${file}: ${(cause as Error).message}`, {
        cause,
      });
    }
  };
  const rig: Rig = {
    kind: 'hardware',
    description: `real controller on ${spec.face} (${describeSpec(adapter)})`,
    adapter,
    registerMapJson: await load(spec.registerMap, 'rig.registerMap'),
    errorCatalogueJson: await load(spec.errorCatalogue, 'rig.errorCatalogue'),
    sim: undefined,
    applyFault: (f: FaultSpec): Promise<FaultOutcome> => {
      if (f.fault === 'prompt') {
        out(`  >>> OPERATOR: ${f.text}`);
        return Promise.resolve({ status: 'applied', note: 'printed for the operator' });
      }
      if (SIM_ONLY_FAULTS.has(f.fault)) {
        return Promise.resolve({
          status: 'skipped',
          note: `sim-only fault: a real controller cannot take "${f.fault}"`,
        });
      }
      return Promise.resolve({ status: 'skipped', note: 'not supported on hardware' });
    },
    close: () => Promise.resolve(),
  };
  return { skip: false, rig };
}

function describeSpec(spec: Record<string, unknown>): string {
  return Object.entries(spec)
    .filter(([k]) => k !== 'face')
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}
