/**
 * What every delivery scenario shares: sizes (CI and soak), results, and the checks every run
 * ends with (drained, 0 lost, 0 duplicates, 0 unexpected, one stream, no crash).
 */
import type { FaultProxy } from '../../fault-proxy.js';
import { formatTotalQueue, type TotalQueueResult } from '../../total-queue.js';
import type { History } from '../history.js';
import { Rig, type AgentOverrides } from '../rig.js';

export interface DeliverySizes {
  /** Agent kill -9s under traffic. */
  kills: number;
  /** Faults of each network kind through the proxy. */
  faultsPerKind: number;
  /** Hub restarts (graceful, kill -9, and kill between commit and ack, in turn). */
  hubRestarts: number;
  /** fsync EIO episodes (each fails the next 3 fsyncs). */
  eioEpisodes: number;
  /** Clock jumps of ±24 h. */
  clockJumps: number;
  /** Days of telemetry at a 60 s poll in the backlog. */
  backlogDays: number;
  /** Rounds of agent kill -9 under an active network fault (every fourth kills the hub too). */
  combinedRounds: number;
}

export const CI_SIZES: DeliverySizes = {
  kills: 12,
  faultsPerKind: 5,
  hubRestarts: 6,
  eioEpisodes: 3,
  clockJumps: 6,
  backlogDays: 7,
  combinedRounds: 8,
};

export const SOAK_SIZES: DeliverySizes = {
  kills: 100,
  faultsPerKind: 50,
  hubRestarts: 30,
  eioEpisodes: 20,
  clockJumps: 30,
  backlogDays: 7,
  combinedRounds: 100,
};

export interface Check {
  name: string;
  pass: boolean;
  measured: string;
}

export interface ScenarioResult {
  name: string;
  durationMs: number;
  checks: Check[];
  /** Figures worth reporting (counts, latencies). */
  figures: Record<string, number | string>;
  /** Checker summaries. */
  lines: string[];
  error?: string;
}

export interface Scenario {
  name: string;
  description: string;
  run(
    sizes: DeliverySizes,
    log: (line: string) => void,
  ): Promise<Omit<ScenarioResult, 'name' | 'durationMs'>>;
}

export const rnd = (lo: number, hi: number): number =>
  lo + Math.floor(Math.random() * (hi - lo + 1));

/** The fault proxy's kinds of network damage, in the order the scenarios apply them. */
export type NetKind =
  'latency' | 'bandwidth' | 'slicing' | 'drop' | 'reset' | 'half-open' | 'timeout';
export const NET_KINDS: readonly NetKind[] = [
  'latency',
  'bandwidth',
  'slicing',
  'drop',
  'reset',
  'half-open',
  'timeout',
];

/**
 * Sets one network fault on the proxy. `i` picks the variant where a kind has several
 * (half-open: up, down, both in turn); `resetPerChunk` is the chance of an RST per chunk.
 */
export function applyNetFault(
  p: FaultProxy,
  kind: NetKind,
  i: number,
  o: { resetPerChunk: number; resetNow: boolean },
): void {
  switch (kind) {
    case 'latency':
      p.set({ both: { latencyMs: rnd(50, 250), jitterMs: rnd(20, 200) } });
      break;
    case 'bandwidth':
      p.set({ up: { bytesPerSecond: rnd(4000, 16_000) }, down: { bytesPerSecond: 4000 } });
      break;
    case 'slicing':
      p.set({ both: { slice: { min: 1, max: 7 } } });
      break;
    case 'drop':
      p.set({ dropPerChunk: 0.1 });
      break;
    case 'reset':
      if (o.resetNow) p.reset();
      p.set({ resetPerChunk: o.resetPerChunk });
      break;
    case 'half-open': {
      const which = (['up', 'down', 'both'] as const)[i % 3]!;
      p.set(which === 'both' ? { both: { halted: true } } : { [which]: { halted: true } });
      break;
    }
    case 'timeout':
      p.set({ accept: 'stall' });
      p.reset();
      break;
  }
}

export function check(name: string, pass: boolean, measured: string | number): Check {
  return { name, pass, measured: String(measured) };
}

/** The checks every scenario ends with: drained, no loss, no duplicate, no crash. */
export function commonChecks(
  rig: Rig,
  h: History,
  settled: { drained: boolean; queued: number; error?: string },
  o: { gapsAllowed?: boolean; agentKilled?: boolean } = {},
): Check[] {
  const q = (r: TotalQueueResult): string =>
    `lost=${r.counts.lost} duplicates=${r.counts.duplicates} unexpected=${r.counts.unexpected}`;
  // Over-reporting (a stored record inside a gap) is judged by the gap-accounting checks.
  const ok = (r: TotalQueueResult): boolean =>
    r.counts.lost === 0 && r.counts.duplicates === 0 && r.counts.unexpected === 0;
  const checks = [
    check(
      'agent drained its spool and stopped cleanly at the end',
      settled.drained && settled.error === undefined,
      `queued=${settled.queued}${settled.error ? `, stop failed: ${settled.error}` : ''}`,
    ),
    check(
      'telemetry: 0 accepted lost, 0 duplicates, 0 unexpected',
      ok(h.telemetry),
      q(h.telemetry),
    ),
    check('alarms: 0 accepted lost, 0 duplicates, 0 unexpected', ok(h.alarms), q(h.alarms)),
    check('one stream at the hub', h.streams === 1, h.streams),
    check(
      'no uncaught error, no unexpected exit in any agent process',
      rig.uncaught.length === 0 && rig.unexpectedExits.length === 0,
      [...rig.uncaught, ...rig.unexpectedExits].slice(0, 3).join('; ') || 'none',
    ),
  ];
  if (!o.gapsAllowed) checks.push(check('no gap reported', h.gaps.length === 0, h.gaps.length));
  // The verdicts are only as good as the journals: every stored record must have been seen
  // accepted, except those of an agent killed between its fsync and its report (a few per kill).
  const unseen = h.telemetry.counts.recovered + h.alarms.counts.recovered;
  const stored = h.telemetry.counts.stored + h.alarms.counts.stored;
  checks.push(
    o.agentKilled
      ? check(
          'the journals saw nearly every stored record accepted (≤ 10 % unseen, from kills)',
          stored > 0 && unseen <= stored * 0.1,
          `${unseen} of ${stored} stored were never seen accepted`,
        )
      : check(
          'the journals saw every stored record accepted',
          stored > 0 && unseen === 0,
          `${unseen} of ${stored} stored were never seen accepted`,
        ),
  );
  return checks;
}

export function summaries(h: History): string[] {
  return [formatTotalQueue('telemetry', h.telemetry), formatTotalQueue('alarms', h.alarms)];
}

/** Runs `body` on a fresh rig, settles it and always closes it. */
export async function withRig<T>(
  overrides: AgentOverrides,
  body: (rig: Rig) => Promise<T>,
): Promise<T> {
  const rig = await Rig.create(overrides);
  try {
    return await body(rig);
  } finally {
    await rig.close();
  }
}
