/**
 * Everything a run observed, gathered by the runner for the assertions: what the rig did (raises,
 * power), what the agent process reported, and what the hub stored. All times are wall-clock
 * ms (`Date.now()`) on the runner's machine; the agent runs on the same machine.
 */
import type { StoredAlarm, StoredSample } from '../hub/index.js';
import type { AgentStats } from '../src/index.js';
import type { AgentExit, PollErrorRecord, SnapshotRecord, UncaughtRecord } from './agent-host.js';
import type { FaultOutcome } from './rigs/types.js';
import type { FaultSpec } from './scenario.js';

export interface CounterDef {
  name: string;
  type: string;
  scale: number;
}

export interface FaultRecord {
  spec: FaultSpec;
  /** When it was applied (wall ms). */
  atMs: number;
  outcome: FaultOutcome;
}

export interface Observations {
  rigKind: 'sim' | 'hardware';
  /** Scenario time 0: the agent's tunnel was open. */
  t0: number;
  /** End of the scenario's duration (before the agent is stopped). */
  endMs: number;
  agentPollMs: number;
  counters: CounterDef[];
  simRaises: Array<{ code: number; atMs: number; visible: boolean }>;
  power: Array<{ state: 'up' | 'down'; atMs: number }>;
  faults: FaultRecord[];
  agent: {
    pid: number | undefined;
    /** At the end of the duration, before it was asked to stop. */
    aliveAtEnd: boolean;
    tunnelAtEnd: string | undefined;
    snapshots: SnapshotRecord[];
    pollErrors: PollErrorRecord[];
    uncaught: UncaughtRecord[];
    stderr: string[];
    exit: AgentExit | undefined;
    /** Stats the agent reported after stopping (undefined if it never did). */
    finalStats: AgentStats | undefined;
    /** The last stats it reported at all. */
    lastStats: AgentStats | undefined;
  };
  hub: {
    counts: { samples: number; alarms: number };
    alarms: StoredAlarm[];
    samples: StoredSample[];
  };
  /** The simulator's counters after the agent stopped, and whether nothing else moved them. */
  simFinal: { counters: Record<string, number>; quiet: boolean } | undefined;
}
