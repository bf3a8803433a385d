import { describe, expect, it } from 'vitest';
import { SimBadArgumentError } from './errors.js';
import { Prng } from './prng.js';
import { EXAM_TECHNIQUES, Workload } from './workload.js';

function drain(w: Workload, untilMs: number) {
  const out: { at: number; kv: number; ma: number; ms: number }[] = [];
  while (w.nextAtMs <= untilMs) {
    const at = w.nextAtMs;
    out.push({ at, ...w.take() });
  }
  return out;
}

describe('Workload', () => {
  it('averages the configured exposure rate, bursts included', () => {
    const hour = 3_600_000;
    const exposures = drain(new Workload(new Prng(5), { exposuresPerMinute: 6 }), 10 * hour);
    const perMinute = exposures.length / 600;
    expect(perMinute).toBeGreaterThan(5);
    expect(perMinute).toBeLessThan(7);
    // Times only move forward.
    expect(
      exposures.every((e, i) => i === 0 || e.at > (exposures[i - 1] as { at: number }).at),
    ).toBe(true);
  });

  it('produces bursts of one technique about burstIntervalMs apart', () => {
    const exposures = drain(
      new Workload(new Prng(9), {
        burstProbability: 1,
        burstMin: 4,
        burstMax: 4,
        burstIntervalMs: 1500,
      }),
      600_000,
    );
    expect(exposures.length).toBeGreaterThanOrEqual(8);
    for (let i = 1; i < 4; i++) {
      const gap = (exposures[i] as { at: number }).at - (exposures[i - 1] as { at: number }).at;
      expect(gap).toBeGreaterThan(900);
      expect(gap).toBeLessThan(2100);
      expect(exposures[i]?.ms).toBe(exposures[0]?.ms);
    }
  });

  it('uses realistic techniques with a little jitter', () => {
    const exposures = drain(new Workload(new Prng(3)), 3_600_000);
    for (const e of exposures) {
      const base = EXAM_TECHNIQUES.find(
        (t) => t.ms === e.ms && Math.abs(t.kv - e.kv) / t.kv < 0.08,
      );
      expect(base, JSON.stringify(e)).toBeDefined();
      expect(Math.abs((base?.ma ?? 0) - e.ma) / (base?.ma ?? 1)).toBeLessThan(0.1);
    }
  });

  it('schedules nothing when disabled and rejects bad options', () => {
    expect(new Workload(new Prng(1), { enabled: false }).nextAtMs).toBe(Infinity);
    expect(() => new Workload(new Prng(1), { exposuresPerMinute: 0 })).toThrow(SimBadArgumentError);
    expect(() => new Workload(new Prng(1), { burstMin: 5, burstMax: 2 })).toThrow(
      SimBadArgumentError,
    );
  });
});
