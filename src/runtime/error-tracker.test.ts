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

describe('ErrorTracker: raises seen in updates without a total', () => {
  it('are subtracted when the next total arrives, not reported as missed', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 10);
    const seen = tracker.update([5], T0 + 1); // raise of 5 seen, no total this time
    expect(summary(seen.transitions)).toEqual(['raised 5']);
    expect(seen.missed).toBe(0);
    const next = tracker.update([5], T0 + 2, 11);
    expect(next.transitions).toEqual([]);
    expect(next.missed).toBe(0);
  });

  it('accumulate over several updates, and what remains is still missed', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 10);
    tracker.update([1001], T0 + 1); // seen 1
    tracker.update([], T0 + 2); // clear: not a raise
    tracker.update([1001, 2001], T0 + 3); // seen 2 more
    // 5 counted since 10, 3 seen without a total, 1 seen now: 1 missed, on the new raise.
    const { transitions, missed } = tracker.update([1001, 2001, 3001], T0 + 4, 15);
    expect(missed).toBe(1);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ state: 'raised', missedRaises: 1 });
    expect(transitions[0]!.info.code).toBe(3001);
  });

  it('are forgotten once a total has accounted for them', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 10);
    tracker.update([1001], T0 + 1);
    expect(tracker.update([1001], T0 + 2, 11).missed).toBe(0);
    // The raise seen at T0+1 is not subtracted a second time.
    expect(tracker.update([1001], T0 + 3, 12).missed).toBe(1);
  });

  it('seen before the first total are not held against the baseline', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([1001], T0);
    tracker.update([], T0 + 1);
    expect(tracker.update([], T0 + 2, 50).missed).toBe(0); // only the baseline
    expect(tracker.update([2001], T0 + 3, 52).missed).toBe(1);
  });

  it('a restart of the counter while totals were absent is still not a miss', () => {
    const tracker = new ErrorTracker(catalogue);
    tracker.update([], T0, 1000);
    tracker.update([2001], T0 + 1);
    expect(tracker.update([2001], T0 + 2, 1).missed).toBe(0);
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

  it('with totals only now and then, missed = raises counted but seen in no update', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(codes, fc.nat({ max: 5 }), fc.boolean()), {
          minLength: 1,
          maxLength: 25,
        }),
        fc.nat({ max: 1_000_000 }),
        (readings, start) => {
          const tracker = new ErrorTracker(catalogue);
          let total = start;
          let before = new Set<number>();
          let baseline = false;
          let unseenSinceLastTotal = 0;
          for (const [i, [reading, extra, reportsTotal]] of readings.entries()) {
            const now = new Set(reading);
            // The controller counts every raise, visible or not, whether or not it is read.
            total += [...now].filter((c) => !before.has(c)).length + extra;
            unseenSinceLastTotal += extra;
            const { transitions, missed } = tracker.update(
              reading,
              T0 + i,
              reportsTotal ? total : undefined,
            );
            if (!reportsTotal || !baseline) expect(missed).toBe(0);
            else expect(missed).toBe(unseenSinceLastTotal);
            const attached = transitions.reduce((n, t) => n + t.missedRaises, 0);
            expect(attached).toBe(transitions.some((t) => t.state === 'raised') ? missed : 0);
            if (reportsTotal) {
              baseline = true;
              unseenSinceLastTotal = 0;
            }
            before = now;
          }
        },
      ),
      { numRuns: 300 },
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
