import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const policy = { baseMs: 1000, capMs: 60_000 };

  it('grows exponentially up to the cap', () => {
    const top = (attempt: number): number => backoffDelay(attempt, policy, () => 0.999999);
    expect(top(0)).toBe(999);
    expect(top(1)).toBe(1999);
    expect(top(3)).toBe(7999);
    expect(top(6)).toBe(59_999);
    expect(top(50)).toBe(59_999);
  });

  it('spreads delays over the whole window (full jitter)', () => {
    expect(backoffDelay(4, policy, () => 0)).toBe(0);
    expect(backoffDelay(4, policy, () => 0.5)).toBe(8000);
  });

  it('widens the window to the announced reconnect spread, past the cap if need be', () => {
    const at = (attempt: number, spread: number): number =>
      backoffDelay(attempt, policy, () => 0.5, spread);
    expect(at(0, 50_000)).toBe(25_000); // not 500: the fleet's window, not the first backoff
    expect(at(3, 50_000)).toBe(25_000);
    expect(at(6, 50_000)).toBe(30_000); // the backoff window is wider by then
    expect(at(0, 90_000)).toBe(45_000); // beyond the 60 s cap
    expect(at(2, 0)).toBe(2000); // no spread: the backoff alone
  });
});
