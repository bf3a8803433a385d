import type { Clock, TimerHandle } from './clock.js';
import type { ErrorTransition } from './error-tracker.js';

/**
 * Keeps an error storm from flooding the tunnel. The first change of a code goes out at once;
 * further changes of the same code within `windowMs` are held and counted, and when the window
 * ends one alarm reports where the code ended up, with the raises it stands for in
 * `missedRaises`. A code that flaps a thousand times a second costs one alarm per window, and
 * nothing is lost: the count travels with it.
 */
export class AlarmCoalescer {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #emit: (t: ErrorTransition) => void;
  readonly #codes = new Map<
    number,
    { sentState: 'raised' | 'cleared'; held?: ErrorTransition; raises: number; timer?: TimerHandle }
  >();
  suppressed = 0;

  /** Codes with a window open (what this coalescer holds memory for). */
  get openWindows(): number {
    return this.#codes.size;
  }

  constructor(o: { clock: Clock; windowMs: number; emit: (t: ErrorTransition) => void }) {
    this.#clock = o.clock;
    this.#windowMs = o.windowMs;
    this.#emit = o.emit;
  }

  push(t: ErrorTransition): void {
    const code = t.info.code;
    const entry = this.#codes.get(code);
    if (!entry || (!entry.timer && this.#windowMs <= 0)) {
      this.#send(code, t);
      return;
    }
    if (!entry.timer) {
      this.#send(code, t);
      return;
    }
    // Inside the window: hold the latest state, count the raises.
    entry.held = t;
    if (t.state === 'raised') entry.raises += 1 + t.missedRaises;
    this.suppressed++;
  }

  /** Sends everything held now (shutdown). */
  flush(): void {
    for (const [code, entry] of this.#codes) {
      if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
      entry.timer = undefined;
      this.#release(code, entry);
    }
  }

  #send(code: number, t: ErrorTransition): void {
    if (this.#windowMs <= 0) {
      // No coalescing: nothing to remember about the code.
      this.#emit(t);
      return;
    }
    const entry = this.#codes.get(code) ?? { sentState: 'cleared' as const, raises: 0 };
    entry.sentState = t.state;
    entry.held = undefined;
    entry.raises = 0;
    this.#codes.set(code, entry);
    this.#emit(t);
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      this.#release(code, entry);
      // Nothing went out anew, so no window is open: forget the code. Its next change goes
      // out at once either way, and a register that reads a new value each time (a wrong
      // register map) must not grow this map by one entry per value for ever.
      if (entry.timer === undefined) this.#codes.delete(code);
    }, this.#windowMs);
  }

  /**
   * The window ended with changes held: tell the hub everything it missed, in order, in as few
   * alarms as possible - at most a clear, one raise carrying the count of raises it stands for,
   * and the final state.
   */
  #release(
    code: number,
    entry: { sentState: 'raised' | 'cleared'; held?: ErrorTransition; raises: number },
  ): void {
    const held = entry.held;
    if (!held) return;
    const raises = entry.raises;
    if (held.state === 'raised') {
      // raises >= 1: the held raise is one of them.
      if (entry.sentState === 'raised') this.#emit({ ...held, state: 'cleared', missedRaises: 0 });
      this.#send(code, { ...held, missedRaises: raises - 1 });
      return;
    }
    // Ends cleared.
    if (raises === 0) {
      if (entry.sentState === 'raised') this.#send(code, held);
      else entry.held = undefined;
      return;
    }
    if (entry.sentState === 'raised') this.#emit({ ...held, state: 'cleared', missedRaises: 0 });
    this.#emit({ ...held, state: 'raised', missedRaises: raises - 1 });
    this.#send(code, held);
  }
}
