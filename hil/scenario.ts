/**
 * A HIL scenario, as parsed from its JSON file (see parse.ts and hil/README.md). Every time in
 * a scenario is wall-clock milliseconds from the moment the agent's tunnel is open; the sim rig
 * converts fault durations to model time with its `timeScale`.
 */

/** A value of a hardware rig that may reference environment variables: `"${VAR}"`, `"${VAR:-default}"`. */
export type Templated = string | number;

export interface SimRigSpec {
  kind: 'sim';
  /** Faces the simulator serves; the agent uses the first. */
  faces: string[];
  seed: number;
  /** Model ms per wall ms (physics only: fault times and durations stay wall-clock). */
  timeScale: number;
  workload: { enabled: boolean; exposuresPerMinute?: number };
  ambientC?: number;
}

export interface HardwareRigSpec {
  kind: 'hardware';
  /** The face the agent uses; derived from the link sections when not given. */
  face: string;
  /** Link sections (`modbus`, `serial`, `sdk`, ...) with their templated values. */
  links: Record<string, Record<string, unknown>>;
  registerMap: Templated;
  errorCatalogue: Templated;
}

export type RigSpec = SimRigSpec | HardwareRigSpec;

export interface AgentSpec {
  pollMs: number;
  errorPollMs: number;
  sendMs: number;
  coalesceMs: number;
  pollTimeoutMs?: number;
}

export type FaultBody =
  | { fault: 'inject'; code: number; holdMs?: number }
  | { fault: 'clear'; code: number }
  | { fault: 'storm'; code: number; perSecond: number; durationMs: number }
  | { fault: 'wrap'; counter: 'exposures_total' | 'tube_mas_total'; before: number }
  | { fault: 'clock'; jumpMs: number }
  | { fault: 'reboot'; downMs: number; holdMs?: number }
  | { fault: 'door'; closed: boolean }
  | { fault: 'expose'; count: number; everyMs: number; kv: number; ma: number; ms: number }
  | { fault: 'prompt'; text: string };

export type FaultSpec = FaultBody & { index: number; atMs: number };
export type FaultKind = FaultBody['fault'];

/** Faults only a simulator can take; on a hardware rig they are skipped with a note. */
export const SIM_ONLY_FAULTS: ReadonlySet<FaultKind> = new Set([
  'inject',
  'clear',
  'storm',
  'wrap',
  'clock',
  'reboot',
  'door',
  'expose',
]);

export type AssertionSpec =
  | { kind: 'alarmStoredWithin'; code: number; ms: number; which: 'each' | 'first' }
  | { kind: 'everyCounterRead' }
  | { kind: 'agentRunning' }
  | { kind: 'noUnhandledErrors' }
  | { kind: 'maxAlarmsStored'; code: number; max: number }
  | { kind: 'raisesReported'; code: number; atLeast: number }
  | { kind: 'telemetryLost'; max: number }
  | { kind: 'samplesAtLeast'; min: number }
  | { kind: 'counterWrapped'; counter: string }
  | { kind: 'recoversWithin'; ms: number };

export type AssertionKind = AssertionSpec['kind'];

export interface Scenario {
  name: string;
  description: string;
  /** Part of `npm run hil -- --ci`. */
  ci: boolean;
  /** The file it came from (for messages and relative paths). */
  source: string;
  rig: RigSpec;
  agent: AgentSpec;
  durationMs: number;
  faults: FaultSpec[];
  assertions: AssertionSpec[];
}
