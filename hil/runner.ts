/**
 * Runs one scenario: rig up (simulator or real controller), hub up (throwaway PKI, device
 * identity registered), the agent started in its own process; scenario time 0 is when its
 * tunnel is open. Faults are applied on schedule; at the end of the duration the agent's state
 * is noted, then it is stopped (flush and drain), the hub's store is read, and every assertion
 * is evaluated. Everything started is closed again, whatever happened.
 */
import { AgentHost } from './agent-host.js';
import { evaluate } from './assertions.js';
import type { Env } from './env.js';
import { startHilHub, type HilHub } from './hub.js';
import type { CounterDef, Observations } from './observations.js';
import { scenarioStatus, type FaultResult, type ScenarioResult } from './report.js';
import { resolveHardwareRig } from './rigs/hardware.js';
import { startSimRig } from './rigs/sim.js';
import type { Rig, RigEvents } from './rigs/types.js';
import type { Scenario } from './scenario.js';
import { describeFault, scheduleFaults } from './scheduler.js';

export interface RunOptions {
  /** Where hardware rigs read `${VAR}` references. Default process.env. */
  env?: Env;
  /** Progress lines (fault applications, operator prompts). Default console.log. */
  out?: (line: string) => void;
  deviceId?: string;
  /** How long the agent may take to open its tunnel. Default 20 s. */
  connectTimeoutMs?: number;
}

const DRAIN_MS = 5000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runScenario(s: Scenario, options: RunOptions = {}): Promise<ScenarioResult> {
  const started = Date.now();
  const out = options.out ?? ((line: string) => console.log(line));
  const env = options.env ?? process.env;
  const deviceId = options.deviceId ?? 'XR200-HIL-0001';
  const base: ScenarioResult = {
    name: s.name,
    source: s.source,
    description: s.description,
    rig: s.rig.kind,
    rigDescription: '',
    status: 'ERROR',
    wallMs: 0,
    faults: s.faults.map((f) => ({
      index: f.index,
      atMs: f.atMs,
      appliedAtMs: null,
      fault: describeFault(f),
      status: 'not reached',
    })),
    assertions: [],
  };
  const finish = (r: Partial<ScenarioResult>): ScenarioResult => ({
    ...base,
    ...r,
    wallMs: Date.now() - started,
  });

  const simRaises: Observations['simRaises'] = [];
  const power: Observations['power'] = [];
  const events: RigEvents = {
    raised: (code, atMs, visible) => simRaises.push({ code, atMs, visible }),
    power: (state, atMs) => power.push({ state, atMs }),
  };

  let rig: Rig | undefined;
  let hub: HilHub | undefined;
  let agent: AgentHost | undefined;
  try {
    if (s.rig.kind === 'hardware') {
      const resolved = await resolveHardwareRig(s.rig, s.source, env, out);
      if (resolved.skip) return finish({ status: 'SKIPPED', reason: resolved.message });
      rig = resolved.rig;
    } else {
      rig = await startSimRig(s.rig, events);
    }
    base.rigDescription = rig.description;
    hub = await startHilHub(deviceId);
    agent = await AgentHost.start({
      deviceId,
      hubUrl: hub.hub.url,
      caPem: hub.caPem,
      certPem: hub.device.certPem,
      keyPem: hub.device.keyPem,
      identitySecretKey: Buffer.from(hub.identitySecretKey).toString('base64'),
      hubIdentityKey: Buffer.from(hub.hub.identityPublicKey).toString('base64'),
      adapter: rig.adapter,
      registerMap: rig.registerMapJson,
      errorCatalogue: rig.errorCatalogueJson,
      ...s.agent,
    });
    const a = agent;
    const open = await a.until(() => a.tunnelState === 'open', options.connectTimeoutMs ?? 20_000);
    if (!open) out(`  (the agent's tunnel did not open; running the scenario anyway)`);

    const t0 = Date.now();
    const schedule = scheduleFaults(
      s.faults,
      t0,
      (f) => rig!.applyFault(f),
      (r) => {
        const line = base.faults.find((f) => f.index === r.spec.index)!;
        Object.assign(line, {
          appliedAtMs: r.atMs - t0,
          status: r.outcome.status,
          ...(r.outcome.note === undefined ? {} : { note: r.outcome.note }),
        } satisfies Partial<FaultResult>);
        out(
          `    +${((r.atMs - t0) / 1000).toFixed(1)} s  ${line.fault} — ${r.outcome.status}${r.outcome.note ? ` (${r.outcome.note})` : ''}`,
        );
      },
    );
    await sleep(Math.max(0, t0 + s.durationMs - Date.now()));
    const endMs = Date.now();
    const aliveAtEnd = a.alive;
    const tunnelAtEnd = a.tunnelState;
    schedule.cancel();
    await schedule.settled();
    const exit = await a.stop(DRAIN_MS);

    const store = hub.hub.store;
    const counts = store.counts(deviceId);
    const simSnapshot = rig.sim?.snapshot();
    const obs: Observations = {
      rigKind: rig.kind,
      t0,
      endMs,
      agentPollMs: s.agent.pollMs,
      counters: counterDefs(rig.registerMapJson),
      simRaises,
      power,
      faults: schedule.records,
      agent: {
        pid: a.pid,
        aliveAtEnd,
        tunnelAtEnd,
        snapshots: a.snapshots,
        pollErrors: a.pollErrors,
        uncaught: a.uncaught,
        stderr: a.stderr,
        exit,
        finalStats: a.finalStats?.stats,
        lastStats: a.stats,
      },
      hub: {
        counts: { samples: counts.samples, alarms: counts.alarms },
        alarms: store.alarms(deviceId),
        samples: store.samples(deviceId, 1_000_000),
      },
      simFinal:
        simSnapshot === undefined || s.rig.kind !== 'sim'
          ? undefined
          : {
              counters: { ...simSnapshot.counters },
              quiet: !s.rig.workload.enabled,
            },
    };
    const assertions = s.assertions.map((spec) => evaluate(spec, obs));
    return finish({
      status: scenarioStatus(assertions),
      assertions,
      agent: {
        pid: a.pid,
        exitCode: exit.code,
        signal: exit.signal,
        killed: exit.killed,
        polls: a.snapshots.length,
        pollErrors: a.pollErrors.length,
        uncaught: a.uncaught.length,
        stderrTail: a.stderr.slice(-8),
      },
      hub: { samples: counts.samples, alarms: counts.alarms },
    });
  } catch (err) {
    const stderr = agent?.stderr.slice(-8) ?? [];
    return finish({
      status: 'ERROR',
      reason: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      ...(agent
        ? {
            agent: {
              pid: agent.pid,
              exitCode: agent.exit?.code ?? null,
              signal: agent.exit?.signal ?? null,
              killed: agent.exit?.killed ?? false,
              polls: agent.snapshots.length,
              pollErrors: agent.pollErrors.length,
              uncaught: agent.uncaught.length,
              stderrTail: stderr,
            },
          }
        : {}),
    });
  } finally {
    await agent?.kill();
    await hub?.close();
    await rig?.close();
  }
}

function counterDefs(registerMap: unknown): CounterDef[] {
  const counters = (registerMap as { counters?: unknown }).counters;
  if (!Array.isArray(counters)) return [];
  return counters.map((c: { name?: unknown; type?: unknown; scale?: unknown }) => ({
    name: String(c.name),
    type: String(c.type),
    scale: typeof c.scale === 'number' ? c.scale : 1,
  }));
}
