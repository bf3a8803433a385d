import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { raceAbort, raceSignals } from '../adapters/abort.js';
import { AdapterError } from '../adapters/errors.js';
import { heldBy } from '../adapters/test-signals.js';
import type { Clock, TimerHandle } from './clock.js';
import { Poller, type PollerOptions } from './poller.js';

/** Lets every pending promise callback run (the fake clock does not fake setImmediate). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A manual clock. Timers run on a monotonic timeline (like Node's timers); `now()` is that
 * timeline plus a wall-clock offset that `jump()` moves, as NTP or an operator would.
 */
class FakeClock implements Clock {
  #mono = 0;
  #wallOffset: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(startWallMs = 1_763_000_000_000) {
    this.#wallOffset = startWallMs;
  }

  now(): number {
    return this.#mono + this.#wallOffset;
  }

  /** Monotonic time since the clock was created. */
  get elapsed(): number {
    return this.#mono;
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#mono + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as unknown as number);
  }

  /** Moves the wall clock only; timers keep their monotonic due times. */
  jump(deltaMs: number): void {
    this.#wallOffset += deltaMs;
  }

  /** Advances time by `ms`, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#mono + ms;
    await settle();
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#mono = next[1].at;
      next[1].fn();
      await settle();
    }
    this.#mono = target;
  }
}

interface Run {
  startedAt: number;
  signal: AbortSignal;
  finish(): void;
  fail(err: unknown): void;
}

/**
 * A task whose runs are driven by the test. Every run honours its abort signal (rejecting with
 * the signal's reason); `duration` (if given) finishes each run that many ms after it started.
 */
function task(clock: FakeClock, duration?: (runIndex: number) => number | undefined) {
  const runs: Run[] = [];
  let active = 0;
  let maxActive = 0;
  const run = (signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      active++;
      maxActive = Math.max(maxActive, active);
      let done = false;
      const end = (fn: () => void): void => {
        if (done) return;
        done = true;
        active--;
        fn();
      };
      const r: Run = {
        startedAt: clock.elapsed,
        signal,
        finish: () => end(resolve),
        fail: (err) => end(() => reject(err)),
      };
      runs.push(r);
      signal.addEventListener('abort', () => r.fail(signal.reason), { once: true });
      const d = duration?.(runs.length - 1);
      if (d !== undefined) clock.setTimeout(() => r.finish(), d);
    });
  return {
    run,
    runs,
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
  };
}

function poller(
  clock: FakeClock,
  run: PollerOptions['run'],
  options: Partial<PollerOptions> = {},
): { poller: Poller; errors: unknown[] } {
  const errors: unknown[] = [];
  const p = new Poller({
    name: 'test poll',
    intervalMs: 1000,
    clock,
    run,
    onError: (err) => errors.push(err),
    ...options,
  });
  return { poller: p, errors };
}

describe('Poller: schedule', () => {
  it('runs once at start, at once', () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p } = poller(clock, t.run);
    expect(t.runs).toHaveLength(0);
    p.start();
    expect(t.runs).toHaveLength(1);
    expect(p.runs).toBe(1);
    expect(t.runs[0]!.startedAt).toBe(0);
  });

  it('runs at a fixed rate, not a fixed delay after each run', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 300);
    const { poller: p, errors } = poller(clock, t.run);
    p.start();
    await clock.advance(5000);
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(p.runs).toBe(6);
    expect(p.skipped).toBe(0);
    expect(errors).toEqual([]);
    await p.stop();
  });

  it('does not run before the interval has passed', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 10);
    const { poller: p } = poller(clock, t.run);
    p.start();
    await clock.advance(999);
    expect(t.runs).toHaveLength(1);
    await clock.advance(1);
    expect(t.runs).toHaveLength(2);
    await p.stop();
  });

  it('start() while running does nothing', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 10);
    const { poller: p } = poller(clock, t.run);
    p.start();
    p.start();
    await clock.advance(500);
    p.start();
    expect(t.runs).toHaveLength(1);
    await clock.advance(500);
    expect(t.runs).toHaveLength(2);
    await p.stop();
  });

  it('never starts a run while the previous one is still going', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p } = poller(clock, t.run, { timeoutMs: 60_000 });
    p.start();
    await clock.advance(10_000);
    expect(t.runs).toHaveLength(1);
    expect(t.maxActive).toBe(1);
    t.runs[0]!.finish();
    await clock.advance(1000);
    expect(t.runs).toHaveLength(2);
    expect(t.maxActive).toBe(1);
    await p.stop();
  });

  it('an overrunning run skips the missed slots instead of catching up', async () => {
    const clock = new FakeClock();
    const t = task(clock, (i) => (i === 0 ? 2500 : 100));
    const { poller: p } = poller(clock, t.run, { timeoutMs: 10_000 });
    p.start();
    await clock.advance(5000);
    // Slots 1000 and 2000 were missed; the next run waits for slot 3000 (no burst at 2500).
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 3000, 4000, 5000]);
    expect(p.skipped).toBe(2);
    expect(t.maxActive).toBe(1);
    await p.stop();
  });

  it('a run that lasts exactly one interval is followed by the next run at once', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 1000);
    const { poller: p, errors } = poller(clock, t.run, { timeoutMs: 10_000 });
    p.start();
    await clock.advance(4000);
    // Ending on the next slot is not an overrun: no slot is skipped.
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(p.skipped).toBe(0);
    expect(t.maxActive).toBe(1);
    expect(errors).toEqual([]);
    await p.stop();
  });

  it('a run one millisecond past its slot skips that slot', async () => {
    const clock = new FakeClock();
    const t = task(clock, (i) => (i === 0 ? 1001 : 10));
    const { poller: p } = poller(clock, t.run, { timeoutMs: 10_000 });
    p.start();
    await clock.advance(3000);
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 2000, 3000]);
    expect(p.skipped).toBe(1);
    await p.stop();
  });

  it('a failing run is reported and the schedule continues', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p, errors } = poller(clock, t.run);
    p.start();
    const boom = new AdapterError('MODBUS_EXCEPTION', 'device said no', { modbusException: 2 });
    t.runs[0]!.fail(boom);
    await clock.advance(1000);
    expect(errors).toEqual([boom]);
    expect(t.runs).toHaveLength(2);
    t.runs[1]!.fail(new Error('not an adapter error'));
    await clock.advance(1000);
    expect(errors).toHaveLength(2);
    expect(errors[1]).toBeInstanceOf(Error);
    expect(t.runs).toHaveLength(3);
    await p.stop();
  });

  it('a run that is cancelled while the poller is running is still reported', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p, errors } = poller(clock, t.run);
    p.start();
    t.runs[0]!.fail(new AdapterError('ADAPTER_CANCELLED', 'adapter closed under us'));
    await settle();
    expect(errors).toHaveLength(1);
    expect((errors[0] as AdapterError).code).toBe('ADAPTER_CANCELLED');
    await p.stop();
  });

  it('leaves only the next tick pending between runs (the timeout timer is cleared)', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 100);
    const { poller: p } = poller(clock, t.run);
    p.start();
    expect(clock.pendingTimers).toBe(2); // the run's timeout and its finish
    await clock.advance(500);
    expect(clock.pendingTimers).toBe(1);
    await p.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('Poller: timeouts', () => {
  it('aborts a stuck run at timeoutMs with ADAPTER_TIMEOUT, reported to onError', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p, errors } = poller(clock, t.run, { intervalMs: 1000, timeoutMs: 400 });
    p.start();
    await clock.advance(399);
    expect(t.runs[0]!.signal.aborted).toBe(false);
    expect(errors).toEqual([]);
    await clock.advance(1);
    expect(t.runs[0]!.signal.aborted).toBe(true);
    expect(errors).toHaveLength(1);
    const err = errors[0] as AdapterError;
    expect(err).toBeInstanceOf(AdapterError);
    expect(err.code).toBe('ADAPTER_TIMEOUT');
    expect(err.canceled).toBe(false);
    expect(t.runs[0]!.signal.reason).toBe(err);
    // The schedule goes on at the next slot.
    await clock.advance(600);
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 1000]);
    await p.stop();
  });

  it('the default timeout is the interval', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p, errors } = poller(clock, t.run, { intervalMs: 5000 });
    p.start();
    await clock.advance(4999);
    expect(errors).toEqual([]);
    await clock.advance(1);
    expect((errors[0] as AdapterError).code).toBe('ADAPTER_TIMEOUT');
    await p.stop();
  });

  it('the default timeout is at most 30 s', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p, errors } = poller(clock, t.run, { intervalMs: 60_000 });
    p.start();
    await clock.advance(29_999);
    expect(errors).toEqual([]);
    await clock.advance(1);
    expect((errors[0] as AdapterError).code).toBe('ADAPTER_TIMEOUT');
    await clock.advance(30_000);
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 60_000]);
    await p.stop();
  });

  it('a run that finishes in time is not aborted later', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 50);
    const { poller: p, errors } = poller(clock, t.run, { intervalMs: 1000, timeoutMs: 100 });
    p.start();
    await clock.advance(950);
    expect(t.runs[0]!.signal.aborted).toBe(false);
    expect(errors).toEqual([]);
    await p.stop();
  });
});

describe('Poller: stop', () => {
  it('aborts the current run as a cancellation that is not reported', async () => {
    const clock = new FakeClock();
    const t = task(clock);
    const { poller: p, errors } = poller(clock, t.run);
    p.start();
    await clock.advance(100);
    await p.stop();
    const reason = t.runs[0]!.signal.reason as AdapterError;
    expect(reason).toBeInstanceOf(AdapterError);
    expect(reason.code).toBe('ADAPTER_CANCELLED');
    expect(reason.canceled).toBe(true);
    expect(errors).toEqual([]);
    expect(t.active).toBe(0);
    await clock.advance(10_000);
    expect(t.runs).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits for the current run to settle', async () => {
    const clock = new FakeClock();
    let release: (() => void) | undefined;
    // A run that ignores its signal and finishes only when told to.
    const { poller: p, errors } = poller(
      clock,
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    p.start();
    let stopped = false;
    void p.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    release!();
    await settle();
    expect(stopped).toBe(true);
    expect(errors).toEqual([]);
  });

  it('between runs, cancels the next tick', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 10);
    const { poller: p } = poller(clock, t.run);
    p.start();
    await clock.advance(500);
    await p.stop();
    await clock.advance(10_000);
    expect(t.runs).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a run that fails with a real error during stop is still reported', async () => {
    const clock = new FakeClock();
    // Ignores the abort and fails on its own terms.
    let fail: ((err: unknown) => void) | undefined;
    const { poller: p, errors } = poller(
      clock,
      () => new Promise<void>((_, reject) => (fail = reject)),
    );
    p.start();
    const stopping = p.stop();
    fail!(new AdapterError('MODBUS_CRC', 'bad crc'));
    await stopping;
    expect(errors).toHaveLength(1);
    expect((errors[0] as AdapterError).code).toBe('MODBUS_CRC');
  });

  it('can be started again after a stop', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 10);
    const { poller: p } = poller(clock, t.run);
    p.start();
    await clock.advance(1500);
    await p.stop();
    await clock.advance(250);
    p.start();
    await clock.advance(1000);
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 1000, 1750, 2750]);
    await p.stop();
  });
});

describe('Poller: wall-clock jumps', () => {
  it('a backwards jump does not stall the poller for longer than one interval', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 100);
    const { poller: p } = poller(clock, t.run);
    p.start();
    await clock.advance(50);
    clock.jump(-3_600_000); // an hour back while the first run is going
    await clock.advance(950 + 1000);
    expect(t.runs.length).toBeGreaterThanOrEqual(2);
    const gaps = t.runs.slice(1).map((r, i) => r.startedAt - t.runs[i]!.startedAt);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(1000 + 100);
    await p.stop();
  });

  it('a backwards jump between runs: the next run comes within one interval', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 10);
    const { poller: p } = poller(clock, t.run);
    p.start();
    await clock.advance(1000); // second run starts at 1000 (its timer was set before the jump)
    clock.jump(-86_400_000);
    await clock.advance(1100);
    expect(t.runs.map((r) => r.startedAt)).toEqual([0, 1000, 2010]);
    await p.stop();
  });

  it('a forward jump skips slots instead of running a burst', async () => {
    const clock = new FakeClock();
    const t = task(clock, () => 100);
    const { poller: p } = poller(clock, t.run);
    p.start();
    await clock.advance(50);
    clock.jump(10_000);
    await clock.advance(2950);
    expect(t.runs.length).toBeLessThanOrEqual(4);
    expect(p.skipped).toBeGreaterThanOrEqual(10);
    expect(t.maxActive).toBe(1);
    await p.stop();
  });
});

describe('Poller: property', () => {
  it('runs start on the slot grid, one at a time, at the first slot after the previous run ends', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 10, max: 1000 }),
        fc.array(fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined, freq: 3 }), {
          minLength: 1,
          maxLength: 15,
        }),
        async (interval, rawDurations) => {
          // `undefined` is a run of exactly one interval: it ends on the next slot, which is not
          // an overrun, so that slot runs at once. Other whole multiples are kept off the grid.
          const durations = rawDurations.map((d) =>
            d === undefined ? interval : d % interval === 0 ? d + 1 : d,
          );
          const clock = new FakeClock();
          const t = task(clock, (i) => durations[i] ?? 1);
          const { poller: p, errors } = poller(clock, t.run, {
            intervalMs: interval,
            timeoutMs: 1_000_000,
          });
          p.start();
          const total = durations.reduce((a, b) => a + b + interval, 0);
          await clock.advance(total);
          await p.stop();

          expect(errors).toEqual([]);
          expect(t.maxActive).toBe(1);
          let expectedSkipped = 0;
          for (let i = 1; i < t.runs.length && i <= durations.length; i++) {
            const prev = t.runs[i - 1]!;
            const end = prev.startedAt + durations[i - 1]!;
            const expectedStart = Math.ceil(end / interval) * interval;
            expect(t.runs[i]!.startedAt).toBe(expectedStart);
            expectedSkipped += (expectedStart - prev.startedAt) / interval - 1;
          }
          expect(t.runs.length).toBeGreaterThan(durations.length);
          expect(p.skipped).toBe(expectedSkipped);
          expect(p.runs).toBe(t.runs.length);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('Poller: one AbortSignal for as many runs as leave it clean', () => {
  it('hands the next run the same signal unless the last one left a listener on it or it fired', async () => {
    const clock = new FakeClock();
    const seen: AbortSignal[] = [];
    const { poller: p, errors } = poller(
      clock,
      (signal) => {
        seen.push(signal);
        const n = seen.length;
        // Run 3 leaves a listener behind (an adapter that forgets to remove one).
        if (n === 3) signal.addEventListener('abort', () => undefined);
        // Run 5 outlives its timeout: its signal fires.
        if (n === 5)
          return new Promise<void>((_, reject) =>
            signal.addEventListener('abort', () => reject(signal.reason as Error), {
              once: true,
            }),
          );
        return Promise.resolve();
      },
      { timeoutMs: 500 },
    );
    p.start();
    await clock.advance(6000);
    await p.stop();
    expect(seen.length).toBeGreaterThanOrEqual(6);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
    expect(seen[3]).not.toBe(seen[2]); // run 3 left a listener on it
    expect(seen[4]).toBe(seen[3]);
    expect(seen[4]!.aborted).toBe(true); // run 5 timed out
    expect(seen[5]).not.toBe(seen[4]);
    expect(seen[5]!.aborted).toBe(false);
    expect(errors).toHaveLength(1);
    expect((errors[0] as AdapterError).code).toBe('ADAPTER_TIMEOUT');
  });

  it('keeps handing out the same signal to runs that wait on it through raceAbort/raceSignals, and a stuck one still times out', async () => {
    const clock = new FakeClock();
    const closing = new AbortController();
    const seen: AbortSignal[] = [];
    const { poller: p, errors } = poller(
      clock,
      (signal) => {
        seen.push(signal);
        // Run 4 never settles on its own: only the poller's timeout ends it.
        const work = seen.length === 4 ? new Promise<void>(() => undefined) : Promise.resolve();
        return seen.length % 2
          ? raceSignals(work, signal, closing.signal)
          : raceAbort(work, signal);
      },
      { timeoutMs: 500 },
    );
    p.start();
    await clock.advance(6000);
    await p.stop();
    expect(seen.length).toBeGreaterThanOrEqual(6);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
    expect(seen[3]).toBe(seen[0]);
    expect(seen[3]!.aborted).toBe(true); // run 4 timed out: a fresh signal after it
    expect(seen[4]).not.toBe(seen[3]);
    expect(seen[5]).toBe(seen[4]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as AdapterError).code).toBe('ADAPTER_TIMEOUT');
    expect(heldBy(closing.signal)).toBe(0);
    expect(heldBy(seen[5]!)).toBe(0);
  });
});
