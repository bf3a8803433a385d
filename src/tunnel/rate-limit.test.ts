import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../adapters/errors.js';
import { ByteRateLimiter } from './rate-limit.js';

function fakeClock(start = 1_000): { now(): number; t: number } {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('ByteRateLimiter', () => {
  it('lets everything through when unlimited', () => {
    for (const bytesPerSecond of [undefined, 0]) {
      const rl = new ByteRateLimiter({ bytesPerSecond, clock: fakeClock() });
      expect(rl.limited).toBe(false);
      rl.consume(1e9);
      expect(rl.delayFor(1e9)).toBe(0);
    }
  });

  it('allows a burst, then paces at the rate', () => {
    const clock = fakeClock();
    const rl = new ByteRateLimiter({ bytesPerSecond: 1000, burstBytes: 2000, clock });
    expect(rl.delayFor(2000)).toBe(0);
    rl.consume(2000);
    expect(rl.delayFor(500)).toBe(500);
    clock.t += 499;
    expect(rl.delayFor(500)).toBe(1);
    clock.t += 1;
    expect(rl.delayFor(500)).toBe(0);
  });

  it('defaults the burst to one second of traffic', () => {
    const rl = new ByteRateLimiter({ bytesPerSecond: 4096, clock: fakeClock() });
    rl.consume(4096);
    expect(rl.delayFor(4096)).toBe(1000);
  });

  it('sends a frame larger than the burst once the bucket is full, then repays it', () => {
    const clock = fakeClock();
    const rl = new ByteRateLimiter({ bytesPerSecond: 1000, burstBytes: 1000, clock });
    rl.consume(600);
    expect(rl.delayFor(5000)).toBe(600); // waits for a full bucket, not for 5000 bytes
    clock.t += 600;
    expect(rl.delayFor(5000)).toBe(0);
    rl.consume(5000);
    expect(rl.delayFor(1)).toBe(4001);
  });

  it('ignores a clock that steps backwards, and caps what a forward step refills', () => {
    const clock = fakeClock(50_000);
    const rl = new ByteRateLimiter({ bytesPerSecond: 1000, burstBytes: 1000, clock });
    rl.consume(1000);
    clock.t -= 86_400_000;
    expect(rl.delayFor(1000)).toBe(1000);
    clock.t += 2 * 86_400_000;
    expect(rl.delayFor(1000)).toBe(0);
    rl.consume(1000);
    expect(rl.delayFor(1)).toBe(1);
  });

  it('rejects a negative rate or an empty burst with ConfigError', () => {
    for (const options of [{ bytesPerSecond: -1 }, { bytesPerSecond: NaN }, { burstBytes: 0 }]) {
      expect(() => new ByteRateLimiter(options)).toThrow(ConfigError);
    }
    try {
      new ByteRateLimiter({ bytesPerSecond: -5 });
    } catch (err) {
      expect((err as ConfigError).code).toBe('OUTPOST_BAD_CONFIG');
      expect((err as ConfigError).path).toBe('bytesPerSecond');
    }
  });

  /** Sends `frames` honouring delayFor (plus some idle time), returning when each went. */
  function run(
    bytesPerSecond: number,
    burstBytes: number,
    frames: readonly { bytes: number; idleMs: number }[],
  ): number[] {
    const clock = fakeClock();
    const rl = new ByteRateLimiter({ bytesPerSecond, burstBytes, clock });
    return frames.map(({ bytes, idleMs }) => {
      clock.t += idleMs;
      clock.t += rl.delayFor(bytes);
      expect(rl.delayFor(bytes)).toBe(0); // waiting the delay is always enough
      rl.consume(bytes);
      return clock.t;
    });
  }

  const scenario = (maxFrameOverBurst: number) =>
    fc
      .record({
        bytesPerSecond: fc.integer({ min: 1, max: 1_000_000 }),
        burstBytes: fc.integer({ min: 1, max: 100_000 }),
      })
      .chain(({ bytesPerSecond, burstBytes }) =>
        fc.record({
          bytesPerSecond: fc.constant(bytesPerSecond),
          burstBytes: fc.constant(burstBytes),
          frames: fc.array(
            fc.record({
              bytes: fc.integer({ min: 1, max: Math.ceil(burstBytes * maxFrameOverBurst) }),
              idleMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5000 })),
            }),
            { maxLength: 60 },
          ),
        }),
      );

  it('never sends more than burst + rate × T in any span of T ms (property)', () => {
    fc.assert(
      fc.property(scenario(3), ({ bytesPerSecond, burstBytes, frames }) => {
        const at = run(bytesPerSecond, burstBytes, frames);
        for (let i = 0; i < frames.length; i++) {
          let sent = 0;
          let largest = 0;
          for (let j = i; j < frames.length; j++) {
            const bytes = frames[j]!.bytes;
            sent += bytes;
            largest = Math.max(largest, bytes);
            const bound =
              Math.max(burstBytes, largest) + (bytesPerSecond * (at[j]! - at[i]!)) / 1000;
            expect(sent).toBeLessThanOrEqual(bound + 1e-3);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never starves: back-to-back sends finish within total/rate (+1 ms a frame)', () => {
    fc.assert(
      fc.property(scenario(3), ({ bytesPerSecond, burstBytes, frames }) => {
        const busy = frames.map((f) => ({ ...f, idleMs: 0 }));
        const at = run(bytesPerSecond, burstBytes, busy);
        const total = busy.reduce((n, f) => n + f.bytes, 0);
        const elapsed = (at.at(-1) ?? 1_000) - 1_000;
        expect(elapsed).toBeLessThanOrEqual((total * 1000) / bytesPerSecond + busy.length);
      }),
      { numRuns: 300 },
    );
  });
});
