/**
 * The sim rig: the simulated XR-200 (firmware-sim) serving the scenario's faces, with faults
 * applied through its control channel (`sim.command`), exactly as a test bench script would.
 *
 * Scenario times are wall-clock; the controller's own durations are model time. The rig
 * converts: a hold, storm or downtime of D wall ms is D × timeScale model ms, and a storm of
 * N cycles per wall second is N / timeScale per model second.
 */
import catalogueJson from '../../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../../protocols/register-map.json' with { type: 'json' };
import { startSimulator, type Simulator, type SimulatorOptions } from '../../firmware-sim/index.js';
import { HilRigError } from '../errors.js';
import type { FaultSpec, SimRigSpec } from '../scenario.js';
import { face } from './index.js';
import type { FaultOutcome, Rig, RigEvents } from './types.js';

export async function startSimRig(spec: SimRigSpec, events: RigEvents): Promise<Rig> {
  const faces = spec.faces.map(face);
  const faceOptions: Partial<SimulatorOptions> = {};
  for (const f of faces) Object.assign(faceOptions, f.simOptions);
  let sim: Simulator;
  try {
    sim = await startSimulator({
      ...faceOptions,
      seed: spec.seed,
      timeScale: spec.timeScale,
      controlPort: false,
      workload: {
        enabled: spec.workload.enabled,
        ...(spec.workload.exposuresPerMinute === undefined
          ? {}
          : { exposuresPerMinute: spec.workload.exposuresPerMinute }),
      },
      ...(spec.ambientC === undefined ? {} : { ambientC: spec.ambientC }),
    });
  } catch (cause) {
    throw new HilRigError(`the simulator did not start: ${(cause as Error).message}`, { cause });
  }
  const attached: Array<{ close(): Promise<void> }> = [];
  try {
    const specs = [];
    for (const f of faces) {
      const a = await f.attachSim(sim);
      attached.push(a);
      specs.push(a.spec);
    }
    return new SimRig(sim, spec, specs[0]!, attached, events);
  } catch (cause) {
    await Promise.all(attached.map((a) => a.close()));
    await sim.close();
    throw new HilRigError(`a face could not be attached: ${(cause as Error).message}`, { cause });
  }
}

class SimRig implements Rig {
  readonly kind = 'sim';
  readonly description: string;
  readonly adapter;
  readonly registerMapJson: unknown = registerMapJson;
  readonly errorCatalogueJson: unknown = catalogueJson;
  readonly sim: Simulator;
  readonly #scale: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #attached: Array<{ close(): Promise<void> }>;
  readonly #unsubscribe: Array<() => void> = [];

  constructor(
    sim: Simulator,
    spec: SimRigSpec,
    adapter: Rig['adapter'],
    attached: Array<{ close(): Promise<void> }>,
    events: RigEvents,
  ) {
    this.sim = sim;
    this.adapter = adapter;
    this.#scale = spec.timeScale;
    this.#attached = attached;
    const where = Object.entries(adapter)
      .filter(([k]) => k !== 'face')
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    this.description = `simulated XR-200 (seed ${spec.seed}, time ×${spec.timeScale}) serving ${spec.faces.join(', ')}; the agent uses ${adapter.face} (${where})`;
    this.#unsubscribe.push(
      sim.onError((e) => {
        if (e.state === 'raised') events.raised(e.code, Date.now(), e.visible);
      }),
      sim.faults.onPower((state) => events.power(state, Date.now())),
    );
  }

  async applyFault(f: FaultSpec): Promise<FaultOutcome> {
    const model = (wallMs: number): number => wallMs * this.#scale;
    switch (f.fault) {
      case 'inject':
        return this.#command({
          cmd: 'inject',
          code: f.code,
          ...(f.holdMs === undefined ? {} : { holdMs: model(f.holdMs) }),
        });
      case 'clear':
        return this.#command({ cmd: 'clear', code: f.code });
      case 'storm':
        return this.#command({
          cmd: 'storm',
          code: f.code,
          perSecond: f.perSecond / this.#scale,
          durationMs: model(f.durationMs),
        });
      case 'wrap':
        return this.#command({ cmd: 'wrap', counter: f.counter, before: f.before });
      case 'clock':
        return this.#command({ cmd: 'clock', jumpMs: f.jumpMs });
      case 'reboot':
        return this.#command({
          cmd: 'reboot',
          downMs: model(f.downMs),
          ...(f.holdMs === undefined ? {} : { holdMs: model(f.holdMs) }),
        });
      case 'door':
        return this.#command({ cmd: 'door', closed: f.closed });
      case 'expose':
        return this.#expose(f);
      case 'prompt':
        return { status: 'applied', note: 'printed (no operator on a sim rig)' };
    }
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const off of this.#unsubscribe) off();
    await Promise.all(this.#attached.map((a) => a.close()));
    await this.sim.close();
  }

  #command(command: Record<string, unknown>): FaultOutcome {
    const reply = JSON.parse(this.sim.command(JSON.stringify(command))) as {
      ok: boolean;
      error?: { code: string; message: string };
    };
    if (reply.ok) return { status: 'applied' };
    return {
      status: 'failed',
      note: `${reply.error?.code ?? 'SIM_ERROR'}: ${reply.error?.message ?? 'refused'}`,
    };
  }

  /** `count` exposures, `everyMs` apart (the first now). */
  #expose(f: Extract<FaultSpec, { fault: 'expose' }>): Promise<FaultOutcome> {
    const one = (): FaultOutcome => this.#command({ cmd: 'expose', kv: f.kv, ma: f.ma, ms: f.ms });
    if (f.everyMs === 0) {
      for (let i = 0; i < f.count; i++) {
        const r = one();
        if (r.status !== 'applied') return Promise.resolve(r);
      }
      return Promise.resolve({ status: 'applied' });
    }
    const first = one();
    if (first.status !== 'applied' || f.count === 1) return Promise.resolve(first);
    let left = f.count - 1;
    const next = (): void => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        if (one().status === 'applied' && --left > 0) next();
      }, f.everyMs);
      this.#timers.add(t);
    };
    next();
    return Promise.resolve({
      status: 'applied',
      note: `${f.count} exposures, ${f.everyMs} ms apart`,
    });
  }
}
