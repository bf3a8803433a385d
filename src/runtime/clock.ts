/** Opaque timer handle. */
export type TimerHandle = { readonly __timer: unique symbol } | ReturnType<typeof setTimeout>;

/**
 * Time, injected: the runtime and tunnel never call Date.now or setTimeout directly, so tests
 * drive time with fake timers and clock jumps instead of sleeping.
 */
export interface Clock {
  /** Wall-clock time, Unix ms (may jump). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
