import { foreignAbortListeners } from '../adapters/abort.js';
import { AdapterError } from '../adapters/errors.js';
import type { Clock, TimerHandle } from './clock.js';

export interface PollerOptions {
  name: string;
  intervalMs: number;
  /** A run that takes longer is aborted with ADAPTER_TIMEOUT. Default: the interval, at most 30 s. */
  timeoutMs?: number;
  clock: Clock;
  run: (signal: AbortSignal) => Promise<void>;
  onError: (err: unknown) => void;
}

/**
 * Runs a task at a fixed rate: first at once, then every interval, never two at a time. A run
 * that overruns its slot makes the poller skip to the next slot instead of piling up; a stuck
 * run is aborted at its timeout. `stop()` aborts the current run as a cancellation.
 */
export class Poller {
  readonly #o: PollerOptions;
  #timer: TimerHandle | undefined;
  #current: AbortController | undefined;
  /** The last run's controller, kept for the next run while nothing is attached to it. */
  #spare: AbortController | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #nextAt = 0;
  runs = 0;
  skipped = 0;

  constructor(options: PollerOptions) {
    this.#o = options;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#nextAt = this.#o.clock.now();
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#current?.abort(new AdapterError('ADAPTER_CANCELLED', `${this.#o.name} stopped`));
    await this.#running;
  }

  #tick(): void {
    if (this.#stopped) return;
    // One controller for as many runs as leave its signal clean (not aborted, no listener
    // left behind): on Node 20 each new AbortSignal survives the young-generation GC, so a
    // fresh one a second (the error poll) fills the old generation with garbage.
    const ctl = this.#spare ?? new AbortController();
    this.#spare = undefined;
    this.#current = ctl;
    const timeoutMs = this.#o.timeoutMs ?? Math.min(this.#o.intervalMs, 30_000);
    const timeout = this.#o.clock.setTimeout(
      () =>
        ctl.abort(
          new AdapterError(
            'ADAPTER_TIMEOUT',
            `${this.#o.name} did not complete within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    this.runs++;
    this.#running = this.#o
      .run(ctl.signal)
      .catch((err: unknown) => {
        if (!(err instanceof AdapterError && err.canceled && this.#stopped)) this.#o.onError(err);
      })
      .finally(() => {
        this.#o.clock.clearTimeout(timeout);
        this.#current = undefined;
        if (!ctl.signal.aborted && foreignAbortListeners(ctl.signal) === 0) this.#spare = ctl;
        this.#schedule();
      });
  }

  #schedule(): void {
    if (this.#stopped) return;
    const now = this.#o.clock.now();
    this.#nextAt += this.#o.intervalMs;
    if (this.#nextAt < now) {
      // Overran (or the clock jumped forward): skip the missed slots.
      const missed = Math.ceil((now - this.#nextAt) / this.#o.intervalMs);
      this.skipped += missed;
      this.#nextAt += missed * this.#o.intervalMs;
    } else if (this.#nextAt - now > this.#o.intervalMs) {
      // The clock jumped backwards: do not wait longer than one interval.
      this.#nextAt = now + this.#o.intervalMs;
    }
    this.#timer = this.#o.clock.setTimeout(() => this.#tick(), this.#nextAt - now);
  }
}
