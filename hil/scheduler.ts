/**
 * Applies a scenario's faults at their times (wall-clock, from scenario time 0) and records
 * when each was applied and what came of it. A fault that throws is recorded as failed; the run
 * goes on.
 */
import type { FaultRecord } from './observations.js';
import type { FaultOutcome } from './rigs/types.js';
import type { FaultSpec } from './scenario.js';

export interface FaultSchedule {
  readonly records: FaultRecord[];
  /** Stops faults not yet due from being applied. */
  cancel(): void;
  /** Resolves when every fault that was started has finished applying. */
  settled(): Promise<void>;
}

export function scheduleFaults(
  faults: readonly FaultSpec[],
  t0: number,
  apply: (f: FaultSpec) => Promise<FaultOutcome>,
  onApplied: (record: FaultRecord) => void = () => undefined,
): FaultSchedule {
  const records: FaultRecord[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  for (const f of faults) {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        const atMs = Date.now();
        const run = apply(f)
          .catch((err: unknown): FaultOutcome => ({
            status: 'failed',
            note: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          }))
          .then((outcome) => {
            const record = { spec: f, atMs, outcome };
            records.push(record);
            onApplied(record);
          });
        running.add(run);
        void run.finally(() => running.delete(run));
      },
      Math.max(0, t0 + f.atMs - Date.now()),
    );
    timers.add(timer);
  }
  return {
    records,
    cancel: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
    settled: async () => {
      await Promise.all([...running]);
    },
  };
}

/** A fault in words: `storm 3003 at 300/s for 2000 ms`. */
export function describeFault(f: FaultSpec): string {
  switch (f.fault) {
    case 'inject':
      return `inject ${f.code}${f.holdMs === undefined ? '' : ` (hold ${f.holdMs} ms)`}`;
    case 'clear':
      return `clear ${f.code}`;
    case 'storm':
      return `storm ${f.code} at ${f.perSecond}/s for ${f.durationMs} ms`;
    case 'wrap':
      return `wrap ${f.counter} (${f.before} below 2^32)`;
    case 'clock':
      return `clock jump ${f.jumpMs >= 0 ? '+' : '−'}${Math.abs(f.jumpMs) / 3_600_000} h`;
    case 'reboot':
      return `reboot (down ${f.downMs} ms)`;
    case 'door':
      return `door ${f.closed ? 'closed' : 'open'}`;
    case 'expose':
      return `expose ×${f.count}${f.count > 1 ? ` every ${f.everyMs} ms` : ''} (${f.kv} kV, ${f.ma} mA, ${f.ms} ms)`;
    case 'prompt':
      return `prompt "${f.text}"`;
  }
}
