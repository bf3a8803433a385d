import { describe, expect, it } from 'vitest';
import { agingSummary, medianOverAgentHours } from './aging.js';

describe('aging', () => {
  // 120 real minutes at 20x: 40 agent-hours. A rise of 0.1 MiB per real minute for the first
  // 30 minutes (10 agent-hours), then level with a small saw-tooth.
  const series = Array.from({ length: 120 }, (_, m) => 56 + Math.min(m, 30) * 0.1 + (m % 3) * 0.01);

  it('maps agent-hours to real minutes', () => {
    // Agent-hours 0-2 at 20x are real minutes 0-5: 56.00 56.11 56.22 56.30 56.41 56.52 -> 56.26.
    expect(medianOverAgentHours(series, 20, 0, 2)).toBeCloseTo(56.26, 6);
    expect(() => medianOverAgentHours(series, 20, 50, 60)).toThrow(RangeError);
  });

  it('gives windows over the whole run and the slope per agent-hour of its tail', () => {
    const s = agingSummary(series, 20, 10, 10);
    expect(s.agentHours).toBe(40);
    expect(s.windows.map((w) => w[0])).toEqual([0, 10, 20, 30]);
    expect(s.windows[3]![2]).toBeCloseTo(59.01, 1);
    expect(s.tail.fromAgentHour).toBe(30);
    // The tail is level but for the saw-tooth: at most a few KiB per agent-hour either way.
    expect(Math.abs(s.tail.perAgentHour)).toBeLessThan(0.005);
    expect(s.tail.interval95[1]).toBeLessThan(0.005);
    expect(s.tail.interval95[0]).toBeGreaterThan(-0.005);
  });

  it('divides the slope by the rate', () => {
    // A steady 0.3 MiB per real hour at 5x is 0.06 MiB per agent-hour.
    const steady = Array.from({ length: 90 }, (_, m) => 56 + (0.3 * m) / 60);
    const s = agingSummary(steady, 5, 5, 1);
    expect(s.tail.perAgentHour).toBeCloseTo(0.06, 3);
    expect(s.tail.noGrowthDetected).toBe(false);
    expect(() => agingSummary(steady, 5, 100, 1)).toThrow(RangeError);
    expect(() => agingSummary(steady, 0, 5, 1)).toThrow(RangeError);
  });
});
