import { describe, expect, it } from 'vitest';
import catalogueJson from '../../protocols/error-codes.json' with { type: 'json' };
import { parseErrorCatalogue } from './catalogue.js';
import { ErrorTracker } from './error-tracker.js';

const catalogue = parseErrorCatalogue(catalogueJson);

describe('ErrorTracker.event (unsolicited controller reports)', () => {
  it('a pushed raise is a transition, and the next poll that sees the code adds none', () => {
    const tr = new ErrorTracker(catalogue);
    tr.update([], 0, 5);
    const raised = tr.event(2002, 'raised', 10);
    expect(raised).toMatchObject({
      state: 'raised',
      atMs: 10,
      info: { code: 2002, immediate: true },
    });
    expect(tr.event(2002, 'raised', 11)).toBeUndefined();
    const { transitions, missed } = tr.update([2002], 20, 6);
    expect(transitions).toEqual([]);
    // The pushed raise is the one the controller counted: nothing missed.
    expect(missed).toBe(0);
  });

  it('a pushed clear of an active code is a transition; of an inactive code, nothing', () => {
    const tr = new ErrorTracker(catalogue);
    tr.update([4001], 0);
    expect(tr.event(4001, 'cleared', 5)).toMatchObject({ state: 'cleared' });
    expect(tr.event(4001, 'cleared', 6)).toBeUndefined();
    expect(tr.update([], 10).transitions).toEqual([]);
  });
});
