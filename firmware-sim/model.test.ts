import { describe, expect, it } from 'vitest';
import { ControllerModel, type ControllerErrorEvent } from './model.js';
import {
  SimBadArgumentError,
  SimExposureInhibitedError,
  SimUnknownErrorCodeError,
} from './errors.js';

const quiet = { workload: { enabled: false } };
const TUBE_HEAT_WARNING = 2001;
const TUBE_OVERHEAT = 2002;
const DET_TEMP_LOW = 3002;
const DET_LINK_LOST = 3003;
const INTERLOCK_DOOR_OPEN = 4001;

function record(model: ControllerModel): ControllerErrorEvent[] {
  const events: ControllerErrorEvent[] = [];
  model.onError((e) => events.push(e));
  return events;
}

/** Steps 1 s at a time until `done` holds; returns the model time, or fails after `limitMs`. */
function stepUntil(model: ControllerModel, done: () => boolean, limitMs = 3_600_000): number {
  while (!done()) {
    if (model.timeMs >= limitMs) throw new Error(`condition not reached within ${limitMs} ms`);
    model.step(1000);
  }
  return model.timeMs;
}

describe('ControllerModel determinism', () => {
  const run = (seed: number) => {
    const m = new ControllerModel({
      seed,
      wallClock: () => 0,
      workload: { exposuresPerMinute: 12 },
    });
    for (let i = 0; i < 6000; i++) m.step(100); // ten minutes
    return m.snapshot();
  };

  it('gives the same state for the same seed and steps', () => {
    const a = run(42);
    expect(a.counters.exposures_total).toBeGreaterThan(40);
    expect(run(42)).toEqual(a);
  });

  it('gives a different workload for another seed', () => {
    expect(run(43).counters).not.toEqual(run(42).counters);
  });
});

describe('ControllerModel counters', () => {
  it('wraps exposures_total at 2^32', () => {
    const m = new ControllerModel(quiet);
    m.setExposures(2 ** 32 - 2);
    m.expose(80, 200, 100);
    expect(m.counters().exposures_total).toBe(2 ** 32 - 1);
    m.expose(80, 200, 100);
    m.expose(80, 200, 100);
    expect(m.counters().exposures_total).toBe(1);
  });

  it('rejects exposure counts that do not fit a u32', () => {
    const m = new ControllerModel(quiet);
    expect(() => m.setExposures(2 ** 32)).toThrow(SimBadArgumentError);
    expect(() => m.setExposures(-1)).toThrow(SimBadArgumentError);
    expect(() => m.setExposures(1.5)).toThrow(SimBadArgumentError);
  });

  it('records the technique, mAs and uptime', () => {
    const m = new ControllerModel(quiet);
    m.expose(80, 200, 100);
    m.expose(70.5, 320.4, 12);
    m.step(61_500);
    const c = m.counters();
    expect([c.last_kv, c.last_ma, c.last_ms]).toEqual([70.5, 320.4, 12]);
    // 200 mA × 0.1 s + 320.4 mA × 0.012 s = 23.8448 mAs, counted in whole 0.1 mAs.
    expect(c.tube_mas_total).toBeCloseTo(23.8, 10);
    expect(c.uptime).toBe(61);
  });

  it('accumulates heat per exposure (kV × mA × s × 1.35) and cools exponentially', () => {
    const m = new ControllerModel(quiet);
    m.expose(80, 200, 100);
    expect(m.counters().tube_heat).toBeCloseTo(80 * 200 * 0.1 * 1.35, 6);
    m.expose(100, 400, 500);
    const hot = 2160 + 100 * 400 * 0.5 * 1.35;
    expect(m.counters().tube_heat).toBeCloseTo(hot, 6);
    expect(m.counters().tube_heat_pct).toBeCloseTo((hot / 300_000) * 100, 6);
    expect(m.counters().heat_balance).toBe(Math.round(hot)); // all of it came in this minute
    m.step(300_000); // one time constant
    expect(m.counters().tube_heat).toBeCloseTo(hot * Math.exp(-1), 3);
    expect(m.counters().heat_balance).toBeLessThan(0); // cooling over the last minute
  });

  it('saturates the anode at its capacity', () => {
    const m = new ControllerModel(quiet);
    m.expose(150, 1000, 5000, { force: true });
    expect(m.counters().tube_heat).toBe(300_000);
    expect(m.counters().tube_heat_pct).toBe(100);
  });

  it('drifts the detector below zero in a cold room and warms it again', () => {
    const m = new ControllerModel(quiet);
    expect(m.counters().detector_temp).toBeCloseTo(26, 6); // ambient 22 + 4 self-heating
    m.setAmbient(-12);
    m.step(3_600_000);
    expect(m.counters().detector_temp).toBeCloseTo(-8, 1);
    m.setAmbient(22);
    m.step(3_600_000);
    expect(m.counters().detector_temp).toBeCloseTo(26, 1);
  });
});

describe('ControllerModel conditions', () => {
  it('raises TUBE_OVERHEAT at 90 % and clears it only below 80 % (hysteresis)', () => {
    const m = new ControllerModel({ ...quiet, wallClock: () => 1234 });
    const events = record(m);
    m.expose(150, 1000, 2000); // 405 kHU, saturates at 100 %
    expect(m.activeCodes()).toEqual([TUBE_HEAT_WARNING, TUBE_OVERHEAT]);
    expect(events.map((e) => [e.code, e.state, e.cause, e.modelTimeMs, e.wallTimeMs])).toEqual([
      [TUBE_HEAT_WARNING, 'raised', 'model', 0, 1234],
      [TUBE_OVERHEAT, 'raised', 'model', 0, 1234],
    ]);

    stepUntil(m, () => m.heatPct < 85);
    expect(m.heatPct).toBeGreaterThan(80);
    expect(m.activeCodes()).toContain(TUBE_OVERHEAT); // below 90 but not yet below 80

    let pctBefore = m.heatPct;
    while (m.activeCodes().includes(TUBE_OVERHEAT)) {
      pctBefore = m.heatPct;
      m.step(1000);
    }
    expect(pctBefore).toBeGreaterThanOrEqual(80);
    expect(m.heatPct).toBeLessThan(80);
    const cleared = events.find((e) => e.code === TUBE_OVERHEAT && e.state === 'cleared');
    expect(cleared).toMatchObject({
      cause: 'model',
      clearedBy: 'condition',
      modelTimeMs: m.timeMs,
    });

    // Back up to ~86 %: above the clear threshold, below the raise threshold — no re-raise.
    m.expose(120, 500, 300);
    expect(m.heatPct).toBeGreaterThan(80);
    expect(m.heatPct).toBeLessThan(90);
    expect(m.activeCodes()).not.toContain(TUBE_OVERHEAT);
  });

  it('clears TUBE_HEAT_WARNING below 70 %, not at 72 %', () => {
    const m = new ControllerModel(quiet);
    m.expose(150, 1000, 1500); // 303.75 kHU → 100 %
    stepUntil(m, () => m.heatPct < 72);
    expect(m.activeCodes()).toContain(TUBE_HEAT_WARNING);
    stepUntil(m, () => m.heatPct < 70);
    expect(m.activeCodes()).not.toContain(TUBE_HEAT_WARNING);
  });

  it('inhibits exposures while overheated', () => {
    const m = new ControllerModel({ workload: { exposuresPerMinute: 60 } });
    m.expose(150, 1000, 2000);
    const before = m.counters().exposures_total;
    expect(() => m.expose(80, 200, 100)).toThrow(SimExposureInhibitedError);
    m.step(10_000); // still above 80 %
    expect(m.counters().exposures_total).toBe(before);
    expect(m.snapshot().inhibitedTotal).toBeGreaterThan(0);
  });

  it('raises DET_TEMP_LOW below 5 °C and clears it above 7 °C', () => {
    const m = new ControllerModel(quiet);
    m.setAmbient(-12);
    stepUntil(m, () => m.activeCodes().includes(DET_TEMP_LOW));
    expect(m.counters().detector_temp).toBeLessThan(5);
    expect(m.counters().detector_temp).toBeGreaterThan(3); // caught within a second or so
    m.setAmbient(22);
    stepUntil(m, () => m.counters().detector_temp > 6);
    expect(m.activeCodes()).toContain(DET_TEMP_LOW);
    stepUntil(m, () => !m.activeCodes().includes(DET_TEMP_LOW));
    expect(m.counters().detector_temp).toBeGreaterThan(7);
  });

  it('raises INTERLOCK_DOOR_OPEN at once and inhibits the workload while the door is open', () => {
    const m = new ControllerModel({ workload: { exposuresPerMinute: 60 } });
    m.setDoor(false);
    expect(m.activeCodes()).toEqual([INTERLOCK_DOOR_OPEN]);
    expect(m.counters().door_closed).toBe(0);
    m.step(60_000);
    expect(m.counters().exposures_total).toBe(0);
    expect(m.snapshot().inhibitedTotal).toBeGreaterThan(30);
    expect(() => m.expose(80, 200, 100)).toThrow(expect.objectContaining({ reason: 'door-open' }));
    m.expose(80, 200, 100, { force: true });
    expect(m.counters().exposures_total).toBe(1);
    m.setDoor(true);
    expect(m.activeCodes()).toEqual([]);
    m.step(60_000);
    expect(m.counters().exposures_total).toBeGreaterThan(30);
  });
});

describe('ControllerModel injection', () => {
  it('auto-clears an injected code after holdMs of model time', () => {
    const m = new ControllerModel(quiet);
    const events = record(m);
    m.step(500);
    expect(m.inject(DET_LINK_LOST, { holdMs: 3000 })).toBe(true);
    m.step(2999);
    expect(m.activeCodes()).toEqual([DET_LINK_LOST]);
    m.step(10_000);
    expect(m.activeCodes()).toEqual([]);
    expect(events.map((e) => [e.state, e.cause, e.clearedBy, e.modelTimeMs])).toEqual([
      ['raised', 'injected', undefined, 500],
      ['cleared', 'injected', 'hold-expired', 3500],
    ]);
  });

  it('keeps an injected code without holdMs until cleared, even when its condition is absent', () => {
    const m = new ControllerModel(quiet);
    m.inject(TUBE_OVERHEAT);
    m.step(600_000);
    expect(m.activeCodes()).toEqual([TUBE_OVERHEAT]);
    expect(() => m.expose(80, 200, 100)).toThrow(SimExposureInhibitedError);
    expect(m.clear(TUBE_OVERHEAT)).toBe(true);
    expect(m.clear(TUBE_OVERHEAT)).toBe(false);
    expect(m.activeCodes()).toEqual([]);
  });

  it('rejects codes that are not in the catalogue with a typed error', () => {
    const m = new ControllerModel(quiet);
    const err = (() => {
      try {
        m.inject(9999);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SimUnknownErrorCodeError);
    expect(err).toMatchObject({ code: 'SIM_UNKNOWN_ERROR_CODE', errorCode: 9999 });
    expect(() => m.clear(0)).toThrow(SimUnknownErrorCodeError);
    expect(m.counters().error_events_total).toBe(0);
  });

  it('shows at most 8 codes but counts every raise', () => {
    const codes = [1001, 1002, 1003, 1010, 2003, 3003, 3004, 4002, 5001, 6001];
    const m = new ControllerModel(quiet);
    const events = record(m);
    for (const code of codes) m.inject(code);
    m.inject(1001); // already active: no new raise
    expect(m.activeCodes()).toEqual(codes);
    expect(m.visibleCodes()).toEqual(codes.slice(0, 8));
    expect(m.counters().error_events_total).toBe(10);
    expect(events.map((e) => e.visible)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
    m.clear(1002);
    expect(m.visibleCodes()).toEqual([1001, 1003, 1010, 2003, 3003, 3004, 4002, 5001]);
  });

  it('delivers events to every listener and rethrows a listener failure after the state is updated', () => {
    const m = new ControllerModel(quiet);
    const seen: number[] = [];
    m.onError(() => {
      throw new Error('listener bug');
    });
    const off = m.onError((e) => seen.push(e.code));
    expect(() => m.inject(DET_LINK_LOST)).toThrow('listener bug');
    expect(seen).toEqual([DET_LINK_LOST]);
    expect(m.activeCodes()).toEqual([DET_LINK_LOST]);
    off();
    expect(() => m.clear(DET_LINK_LOST)).toThrow('listener bug');
    expect(seen).toEqual([DET_LINK_LOST]);
    expect(m.recentEvents().map((e) => e.state)).toEqual(['raised', 'cleared']);
  });
});
