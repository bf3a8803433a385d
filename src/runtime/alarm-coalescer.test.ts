import { describe, expect, it } from 'vitest';
import { AlarmCoalescer } from './alarm-coalescer.js';
import type { Clock, TimerHandle } from './clock.js';
import type { ErrorTransition } from './error-tracker.js';

class StepClock implements Clock {
  t = 0;
  #timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #id = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id as unknown as TimerHandle;
  }
  clearTimeout(h: TimerHandle): void {
    this.#timers = this.#timers.filter((x) => x.id !== (h as unknown as number));
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const next = this.#timers[0];
      if (!next || next.at > end) break;
      this.#timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

const info = {
  code: 2002,
  name: 'TUBE_OVERHEAT',
  severity: 'critical' as const,
  immediate: true,
  subsystem: 'tube',
  text: '',
};
const t = (state: 'raised' | 'cleared', atMs = 0, missedRaises = 0): ErrorTransition => ({
  info,
  state,
  atMs,
  missedRaises,
});

function setup(windowMs = 1000): { clock: StepClock; out: ErrorTransition[]; c: AlarmCoalescer } {
  const clock = new StepClock();
  const out: ErrorTransition[] = [];
  return { clock, out, c: new AlarmCoalescer({ clock, windowMs, emit: (x) => out.push(x) }) };
}

describe('AlarmCoalescer', () => {
  it('sends the first change at once', () => {
    const { out, c } = setup();
    c.push(t('raised'));
    expect(out.map((x) => x.state)).toEqual(['raised']);
  });

  it('turns a storm of a thousand flaps into a few alarms that carry the count', () => {
    const { clock, out, c } = setup(1000);
    c.push(t('raised'));
    for (let i = 0; i < 1000; i++) {
      c.push(t('cleared'));
      c.push(t('raised'));
    }
    expect(out).toHaveLength(1);
    expect(c.suppressed).toBe(2000);
    clock.advance(1000);
    // Still raised at the end of the window: it cleared in between, and one more raise stands
    // for the 1000 re-raises.
    expect(out.map((x) => x.state)).toEqual(['raised', 'cleared', 'raised']);
    expect(out[2]).toMatchObject({ state: 'raised', missedRaises: 999 });
    clock.advance(5000);
    expect(out).toHaveLength(3);
  });

  it('reports where a code ended when the window closes', () => {
    const { clock, out, c } = setup(1000);
    c.push(t('raised'));
    c.push(t('cleared'));
    expect(out).toHaveLength(1);
    clock.advance(1000);
    expect(out.map((x) => x.state)).toEqual(['raised', 'cleared']);
  });

  it('reports a raise that came and went inside the window as a raise and its clear', () => {
    const { clock, out, c } = setup(1000);
    c.push(t('raised'));
    clock.advance(1000);
    c.push(t('cleared')); // sent at once (window over); opens a new window
    c.push(t('raised'));
    c.push(t('cleared'));
    clock.advance(1000);
    expect(out.map((x) => x.state)).toEqual(['raised', 'cleared', 'raised', 'cleared']);
    expect(out[2]!.missedRaises).toBe(0);
  });

  it('flush() releases what is held (shutdown loses nothing)', () => {
    const { out, c } = setup(60_000);
    c.push(t('raised'));
    c.push(t('cleared'));
    c.flush();
    expect(out.map((x) => x.state)).toEqual(['raised', 'cleared']);
  });

  it('with a zero window sends every change', () => {
    const { out, c } = setup(0);
    for (let i = 0; i < 5; i++) {
      c.push(t('raised'));
      c.push(t('cleared'));
    }
    expect(out).toHaveLength(10);
  });
});

describe('AlarmCoalescer: nothing is lost across a window', () => {
  /** Raises the hub learns of: one per raise alarm plus the count it carries. */
  const raisesLearned = (out: ErrorTransition[]): number =>
    out.filter((x) => x.state === 'raised').reduce((n, x) => n + 1 + x.missedRaises, 0);

  it('a raise and clear inside the window of a sent raise are reported when it ends cleared', () => {
    const { clock, out, c } = setup(1000);
    c.push(t('raised'));
    c.push(t('cleared'));
    c.push(t('raised'));
    c.push(t('cleared'));
    clock.advance(1000);
    expect(out.map((x) => x.state)).toEqual(['raised', 'cleared', 'raised', 'cleared']);
    expect(raisesLearned(out)).toBe(2);
  });

  it('a storm of any shape reports every raise and ends in the true state', () => {
    for (const flaps of [1, 2, 7, 600]) {
      for (const endRaised of [true, false]) {
        const { clock, out, c } = setup(1000);
        let raises = 0;
        let state: 'raised' | 'cleared' = 'cleared';
        for (let i = 0; i < flaps; i++) {
          c.push(t('raised'));
          raises++;
          state = 'raised';
          if (i < flaps - 1 || !endRaised) {
            c.push(t('cleared'));
            state = 'cleared';
          }
          clock.advance(3);
        }
        clock.advance(5000);
        expect(raisesLearned(out), `${flaps} flaps, end ${state}`).toBe(raises);
        expect(out.at(-1)!.state).toBe(state);
        expect(out.length).toBeLessThanOrEqual(8);
      }
    }
  });

  it('forgets every code once its window has ended, however many codes it has seen', () => {
    const { clock, out, c } = setup(1000);
    // A register map that reads a new value every poll: each one a code never seen before.
    for (let code = 1; code <= 5000; code++) {
      const x = { ...info, code };
      c.push({ info: x, state: 'raised', atMs: clock.t, missedRaises: 0 });
      c.push({ info: x, state: 'cleared', atMs: clock.t, missedRaises: 0 });
      clock.advance(1);
    }
    expect(c.openWindows).toBeGreaterThan(900);
    clock.advance(1000); // the held clears go out, each opening a window of its own
    clock.advance(1000);
    expect(c.openWindows).toBe(0);
    // Each code: raise at once, its clear held, then sent when the window ended.
    expect(out).toHaveLength(10_000);
    // A code seen again after its window behaves as the first time: sent at once.
    c.push({ info: { ...info, code: 7 }, state: 'raised', atMs: clock.t, missedRaises: 0 });
    expect(out[out.length - 1]).toMatchObject({ state: 'raised', info: { code: 7 } });
    expect(c.openWindows).toBe(1);
  });

  it('with coalescing off (window 0) sends every change and remembers no code', () => {
    const { out, c } = setup(0);
    for (let code = 1; code <= 100; code++) {
      c.push({ info: { ...info, code }, state: 'raised', atMs: 0, missedRaises: 0 });
      c.push({ info: { ...info, code }, state: 'cleared', atMs: 0, missedRaises: 0 });
    }
    expect(out).toHaveLength(200);
    expect(c.openWindows).toBe(0);
  });
});
