import type { ErrorCatalogue, ErrorCodeInfo } from './catalogue.js';

export interface ErrorTransition {
  info: ErrorCodeInfo;
  state: 'raised' | 'cleared';
  atMs: number;
  /** For a raise: raises the controller counted that no poll saw (came and went in between). */
  missedRaises: number;
}

/**
 * Turns successive sets of active codes into raise/clear transitions. A code present now and
 * absent before is raised; absent now and present before is cleared. When the controller
 * counts raises, the difference between its count and the raises seen is reported as missed,
 * so a fault that flickered between two polls is not silently lost.
 */
export class ErrorTracker {
  readonly #catalogue: ErrorCatalogue;
  #active = new Set<number>();
  #raisesTotal: number | undefined;
  /** Raises seen in readings that carried no raise counter, since the last one that did. */
  #seenWithoutTotal = 0;

  constructor(catalogue: ErrorCatalogue) {
    this.#catalogue = catalogue;
  }

  get active(): ReadonlySet<number> {
    return this.#active;
  }

  /**
   * An unsolicited report from the controller (a pushed error line): a transition if it changes
   * what is known to be active, undefined otherwise. The next poll's set then agrees with it.
   */
  event(code: number, state: 'raised' | 'cleared', atMs: number): ErrorTransition | undefined {
    const active = this.#active.has(code);
    if ((state === 'raised') === active) return undefined;
    const next = new Set(this.#active);
    if (state === 'raised') {
      next.add(code);
      this.#seenWithoutTotal++;
    } else {
      next.delete(code);
    }
    this.#active = next;
    return { info: this.#catalogue.lookup(code), state, atMs, missedRaises: 0 };
  }

  /**
   * Feeds one reading. Returns the transitions and the number of raises the controller counted
   * beyond those seen (also attached to the first raise, when there is one).
   */
  update(
    codes: readonly number[],
    atMs: number,
    raisesTotal?: number,
  ): { transitions: ErrorTransition[]; missed: number } {
    const now = new Set(codes);
    const out: ErrorTransition[] = [];
    for (const code of now) {
      if (!this.#active.has(code))
        out.push({ info: this.#catalogue.lookup(code), state: 'raised', atMs, missedRaises: 0 });
    }
    for (const code of this.#active) {
      if (!now.has(code))
        out.push({ info: this.#catalogue.lookup(code), state: 'cleared', atMs, missedRaises: 0 });
    }
    let missed = 0;
    const seenNow = out.filter((t) => t.state === 'raised').length;
    if (raisesTotal === undefined) {
      this.#seenWithoutTotal += seenNow;
    } else {
      if (this.#raisesTotal !== undefined) {
        // 32-bit counter: a wrap or a controller reboot (counter restarts) are not "missed".
        const delta =
          raisesTotal >= this.#raisesTotal ? raisesTotal - this.#raisesTotal : raisesTotal;
        const seen = seenNow + this.#seenWithoutTotal;
        missed = Math.max(0, delta - seen);
        const firstRaise = out.find((t) => t.state === 'raised');
        if (missed > 0 && firstRaise) firstRaise.missedRaises = missed;
      }
      this.#raisesTotal = raisesTotal;
      this.#seenWithoutTotal = 0;
    }
    this.#active = now;
    return { transitions: out, missed };
  }
}
