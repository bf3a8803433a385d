import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/**
 * Logs a run of repeated failures without one line per failure. A device that stays
 * unreachable fails the 1 s error poll 3 600 times an hour; the journal should say so in a
 * few lines a technician can read:
 *
 * - the first failure of each error code of a source (a poller) is logged at once;
 * - the same code again within `everyMs` is counted; the first one after it is logged with
 *   `repeatedSinceLastLine` (so at most one line per code per `everyMs`, whatever the codes
 *   alternate with, and whatever varies in their message text);
 * - when the source works again, one line at the same level closes the run with `failedPolls`,
 *   so a journal filtered at warn shows both ends of an outage; `close()` (stop) reports runs
 *   still open.
 *
 * A clock that steps back logs at once rather than staying silent until it catches up.
 */
export class FailureLog {
  readonly #log: Logger;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #everyMs: number;
  readonly #runs = new Map<
    string,
    {
      failures: number;
      byCode: Map<string, { loggedAtMs: number; repeats: number }>;
      lastCode: unknown;
    }
  >();

  constructor(o: { log: Logger; clock: Pick<Clock, 'now'>; everyMs: number }) {
    this.#log = o.log;
    this.#clock = o.clock;
    this.#everyMs = o.everyMs;
  }

  /** A failure of `source`; `fields.code` is what identifies "the same failure". */
  failed(source: string, fields: { code?: unknown; error?: unknown }): void {
    let run = this.#runs.get(source);
    if (!run) {
      run = { failures: 0, byCode: new Map(), lastCode: undefined };
      this.#runs.set(source, run);
    }
    run.failures++;
    run.lastCode = fields.code;
    const key = String(fields.code);
    const now = this.#clock.now();
    const seen = run.byCode.get(key);
    const elapsed = seen ? now - seen.loggedAtMs : Number.POSITIVE_INFINITY;
    if (seen && elapsed >= 0 && elapsed < this.#everyMs) {
      seen.repeats++;
      return;
    }
    this.#log.warn('poll failed', {
      poller: source,
      ...fields,
      ...(seen && seen.repeats > 0 ? { repeatedSinceLastLine: seen.repeats } : {}),
    });
    run.byCode.set(key, { loggedAtMs: now, repeats: 0 });
  }

  /** `source` worked: close its run, if any, with how many failures it had. */
  worked(source: string): void {
    const run = this.#runs.get(source);
    if (!run) return;
    this.#runs.delete(source);
    this.#log.warn('device reads work again', {
      poller: source,
      failedPolls: run.failures,
      lastCode: run.lastCode,
    });
  }

  /** Reports the runs still open (the agent is stopping while its device fails). */
  close(): void {
    for (const [source, run] of this.#runs)
      this.#log.warn('poll still failing at stop', {
        poller: source,
        failedPolls: run.failures,
        lastCode: run.lastCode,
      });
    this.#runs.clear();
  }
}
