import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { growthVerdict } from './growth.js';

/** A V8-like saw-tooth: rises `amp` MiB over `period` minutes, then drops back (a full GC). */
function sawTooth(minutes: number, base: number, amp: number, period: number, growthPerHour = 0) {
  return Array.from(
    { length: minutes },
    (_, m) => base + (amp * (m % period)) / period + (growthPerHour * m) / 60,
  );
}

describe('growthVerdict', () => {
  it('finds no growth in a level saw-tooth, and bounds what it cannot rule out', () => {
    const v = growthVerdict(sawTooth(160, 57, 0.8, 25));
    expect(v.noGrowthDetected).toBe(true);
    expect(v.slope95MiBPerHour[0]).toBeLessThanOrEqual(0);
    expect(v.slope95MiBPerHour[1]).toBeGreaterThanOrEqual(0);
    expect(v.slope95MiBPerHour[1]).toBeLessThan(0.5);
    expect(v.summary).toContain('no growth detected');
    expect(v.fromMinute).toBe(20);
    expect(v.minutes).toBe(140);
  });

  it('reports a leak of 0.3 MiB/h hidden under a 1 MiB saw-tooth as growth', () => {
    const v = growthVerdict(sawTooth(180, 57, 1, 20, 0.3));
    expect(v.noGrowthDetected).toBe(false);
    expect(v.slope95MiBPerHour[0]).toBeGreaterThan(0);
    // Both estimators land near the true rate; Theil–Sen leans with the saw-tooth's phase.
    expect(v.leastSquaresMiBPerHour).toBeGreaterThan(0.2);
    expect(v.leastSquaresMiBPerHour).toBeLessThan(0.4);
    expect(v.theilSenMiBPerHour).toBeGreaterThan(0.2);
    expect(v.theilSenMiBPerHour).toBeLessThan(0.45);
    expect(v.summary).toContain('growing');
    expect(v.hourOverHourMiB!.median).toBeCloseTo(0.3, 1);
  });

  it('calls a falling series shrinking, not growing', () => {
    const v = growthVerdict(sawTooth(120, 60, 0.2, 10, -1));
    expect(v.noGrowthDetected).toBe(false);
    expect(v.slope95MiBPerHour[1]).toBeLessThan(0);
    expect(v.summary).toContain('shrinking');
  });

  it('compares levels an hour apart: a one-off step of 1 MiB shows in the spans across it', () => {
    const series = Array.from({ length: 200 }, (_, m) => (m < 110 ? 57 : 58));
    const v = growthVerdict(series);
    expect(v.hourOverHourMiB!.max).toBe(1);
    expect(v.hourOverHourMiB!.min).toBe(0);
    expect(v.levelMediansMiB[0]).toBe(57);
    expect(v.levelMediansMiB[v.levelMediansMiB.length - 1]).toBe(58);
    expect(v.levelFloorsMiB).toHaveLength(v.levelMediansMiB.length);
  });

  it('needs 30 minutes after the warm-up, and finite samples', () => {
    expect(() => growthVerdict(sawTooth(49, 57, 1, 10))).toThrow(RangeError);
    const gap = sawTooth(80, 57, 1, 10);
    gap[40] = Number.NaN;
    expect(() => growthVerdict(gap)).toThrow(/finite/);
    expect(growthVerdict(sawTooth(50, 57, 1, 10)).hourOverHourMiB).toBeUndefined();
    const holey = sawTooth(80, 57, 1, 10);
    delete holey[50];
    expect(() => growthVerdict(holey)).toThrow(/finite/);
    for (const bad of [
      { blockMinutes: 0 },
      { levelMinutes: 0 },
      { resamples: 0 },
      { warmupMinutes: Number.NaN },
    ])
      expect(() => growthVerdict(sawTooth(80, 57, 1, 10), bad)).toThrow(RangeError);
  });

  it('is deterministic, and moving the whole series up or down changes no slope', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 60, maxLength: 120 }),
        fc.double({ min: -20, max: 20, noNaN: true }),
        (noise, offset) => {
          const base = noise.map((e) => 57 + e);
          const a = growthVerdict(base, { resamples: 200 });
          const b = growthVerdict(
            base.map((y) => y + offset),
            { resamples: 200 },
          );
          expect(growthVerdict(base, { resamples: 200 })).toEqual(a);
          expect(b.leastSquaresMiBPerHour).toBeCloseTo(a.leastSquaresMiBPerHour, 6);
          expect(b.slope95MiBPerHour[0]).toBeCloseTo(a.slope95MiBPerHour[0], 6);
          expect(b.slope95MiBPerHour[1]).toBeCloseTo(a.slope95MiBPerHour[1], 6);
          expect(b.noGrowthDetected).toBe(a.noGrowthDetected);
        },
      ),
      { numRuns: 50 },
    );
  });
});
