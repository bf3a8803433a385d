import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import catalogueJson from '../../protocols/error-codes.json' with { type: 'json' };
import { parseErrorCatalogue } from './catalogue.js';
import { ErrorTracker, type ErrorTransition } from './error-tracker.js';

const catalogue = parseErrorCatalogue(catalogueJson);
const T0 = 1_763_000_000_000;

function summary(transitions: ErrorTransition[]): string[] {
  return transitions.map((t) => `${t.state} ${t.info.code}`).sort();
}

describe('ErrorTracker: transitions', () => {
  it('raises a code when it appears and clears it when it goes', () => {
    const tracker = new ErrorTracker(catalogue);
    const first = tracker.update([1001], T0);
    expect(first.transitions).toHaveLength(1);
    expect(first.transitions[0]).toMatchObject({ state: 'raised', atMs: T0, missedRaises: 0 });
    expect(first.transitions[0]!.info).toEqual(catalogue.lookup(1001));
    expect([...tracker.active]).toEqual([1001]);

    expect(tracker.update([1001], T0 + 1000).transitions).toEqual([]);

    const cleared = tracker.update([], T0 + 2000);
    expect(cleared.transitions).toHaveLength(1);
    expect(cleared.transitions[0]).toMatchObject({ state: 'cleared', atMs: T0 + 2000 });
    expect(cleared.transitions[0]!.info.code).toBe(1001);
    expect(tracker.active.size).toBe(0);
  });

  it('raises and clears in one update when the set changes', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([1001, 2001], T0);
    const { transitions } = tracker.update([2001, 3001, 4001], T0 + 1);
    expect(summary(transitions)).toEqual(['cleared 1001', 'raised 3001', 'raised 4001']);
    expect([...tracker.active].sort()).toEqual([2001, 3001, 4001]);
  });

  it('a code listed twice is raised once', () => {
    const tracker = new ErrorTracker(catalogue);
    expect(summary(tracker.update([2002, 2002], T0).transitions)).toEqual(['raised 2002']);
  });

  it('order of the codes does not matter', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([1, 2, 3], T0);
    expect(tracker.update([3, 1, 2], T0 + 1).transitions).toEqual([]);
  });

  it('classifies through the catalogue', () => {
    const tracker = new ErrorTracker(catalogue);
    const { transitions } = tracker.update([2001, 4002], T0);
    const byCode = new Map(transitions.map((t) => [t.info.code, t.info]));
    expect(byCode.get(2001)).toMatchObject({ severity: 'warning', immediate: false });
    expect(byCode.get(4002)).toMatchObject({ severity: 'critical', immediate: true });
  });

  it('treats an unknown code as alarm-class with severity error, on raise and on clear', () => {
    const tracker = new ErrorTracker(catalogue);
    const raised = tracker.update([9999], T0).transitions[0]!;
    expect(raised.info).toMatchObject({ code: 9999, severity: 'error', immediate: true });
    const cleared = tracker.update([], T0 + 1).transitions[0]!;
    expect(cleared).toMatchObject({ state: 'cleared' });
    expect(cleared.info).toMatchObject({ code: 9999, severity: 'error', immediate: true });
  });
});

describe('ErrorTracker: missed raises', () => {
  it('the first total is only a baseline', () => {
    const tracker = new ErrorTracker(catalogue);
    const { transitions, missed } = tracker.update([1001], T0, 500);
    expect(missed).toBe(0);
    expect(transitions[0]!.missedRaises).toBe(0);
  });

  it('raises the controller counted beyond those seen are missed, attached to the first raise', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 5);
    const { transitions, missed } = tracker.update([1001, 2001], T0 + 1, 10);
    // 5 counted, 2 seen.
    expect(missed).toBe(3);
    const raises = transitions.filter((t) => t.state === 'raised');
    expect(raises).toHaveLength(2);
    expect(raises[0]!.missedRaises).toBe(3);
    expect(raises[1]!.missedRaises).toBe(0);
  });

  it('no missed raises when every counted raise was seen', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 5);
    const { transitions, missed } = tracker.update([1001], T0 + 1, 6);
    expect(missed).toBe(0);
    expect(transitions[0]!.missedRaises).toBe(0);
  });

  it('a raise that came and went between polls is missed even with no transition to carry it', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([2001], T0, 1);
    const { transitions, missed } = tracker.update([2001], T0 + 1, 3);
    expect(transitions).toEqual([]);
    expect(missed).toBe(2);
  });

  it('missed raises are not attached to a clear', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([2001], T0, 1);
    const { transitions, missed } = tracker.update([], T0 + 1, 2);
    expect(missed).toBe(1);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ state: 'cleared', missedRaises: 0 });
  });

  it('more raises seen than counted is never a negative miss', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 4);
    expect(tracker.update([1001, 1002, 1003], T0 + 1, 5).missed).toBe(0);
  });

  it('a counter that restarts from zero (controller reboot) is not a miss', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([1001], T0, 1000);
    const { transitions, missed } = tracker.update([], T0 + 1, 0);
    expect(missed).toBe(0);
    expect(summary(transitions)).toEqual(['cleared 1001']);
  });

  it('after a restart only raises counted since the restart can be missed', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 1000);
    // Rebooted; the controller has counted 3 raises since, one of which is active now.
    const { missed } = tracker.update([2001], T0 + 1, 3);
    expect(missed).toBe(2);
    // From the new baseline on, counting continues normally.
    expect(tracker.update([2001], T0 + 2, 4).missed).toBe(1);
  });

  it('a 32-bit wrap never yields a huge or negative miss', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 2 ** 32 - 2);
    const { missed } = tracker.update([], T0 + 1, 1);
    expect(missed).toBeGreaterThanOrEqual(0);
    expect(missed).toBeLessThanOrEqual(3);
  });

  it('an update without a total neither counts misses nor moves the baseline', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 10);
    expect(tracker.update([], T0 + 1).missed).toBe(0);
    expect(tracker.update([], T0 + 2, 13).missed).toBe(3);
  });
});

describe('ErrorTracker: property', () => {
  const codes = fc.array(fc.constantFrom(1001, 2001, 3001, 4001, 9999, 12), { maxLength: 6 });

  it('transitions turn the previous active set into the current one', () => {
    fc.assert(
      fc.property(fc.array(codes, { minLength: 1, maxLength: 20 }), (readings) => {
        const tracker = new ErrorTracker(catalogue);
        const model = new Set<number>();
        readings.forEach((reading, i) => {
          const { transitions } = tracker.update(reading, T0 + i);
          for (const t of transitions) {
            expect(t.atMs).toBe(T0 + i);
            if (t.state === 'raised') {
              expect(model.has(t.info.code)).toBe(false);
              model.add(t.info.code);
            } else {
              expect(model.has(t.info.code)).toBe(true);
              model.delete(t.info.code);
            }
          }
          expect([...model].sort()).toEqual([...new Set(reading)].sort());
          expect([...tracker.active].sort()).toEqual([...model].sort());
        });
      }),
    );
  });

  it('with a growing total, missed = counted - seen (when at least as many were counted)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(codes, fc.nat({ max: 5 })), { minLength: 2, maxLength: 20 }),
        fc.nat({ max: 1_000_000 }),
        (readings, start) => {
          const tracker = new ErrorTracker(catalogue);
          let total = start;
          let seenBefore = new Set<number>();
          let missedSum = 0;
          let expectedSum = 0;
          readings.forEach(([reading, extra], i) => {
            const now = new Set(reading);
            const newlyRaised = [...now].filter((c) => !seenBefore.has(c)).length;
            // The controller counted every visible raise plus `extra` invisible ones.
            total += i === 0 ? 0 : newlyRaised + extra;
            const { transitions, missed } = tracker.update(reading, T0 + i, total);
            const attached = transitions.reduce((n, t) => n + t.missedRaises, 0);
            expect(missed).toBe(i === 0 ? 0 : extra);
            if (transitions.some((t) => t.state === 'raised')) expect(attached).toBe(missed);
            else expect(attached).toBe(0);
            missedSum += missed;
            if (i > 0) expectedSum += extra;
            seenBefore = now;
          });
          expect(missedSum).toBe(expectedSum);
        },
      ),
    );
  });
});
