import { getEventListeners } from 'node:events';
import { AdapterError } from './errors.js';

/** Called with the reason as an AdapterError (see {@link reasonOf}) and the signal that fired. */
type OnAbort = (reason: AdapterError, signal: AbortSignal) => void;

/**
 * What waits on one signal right now, and the single `abort` listener that serves them all.
 *
 * A call that must end when a long-lived signal fires (the poller's reused signal, an adapter's
 * close signal) could add a listener and remove it when it settles; but on Node 20 each
 * add/remove pair on a signal that has reached the old generation leaves a few hundred bytes
 * there (the listener bookkeeping of its EventTarget), which an agent polling once a second
 * piles up until the next full GC (docs/operations.md). So each signal gets one listener, on
 * first use, that stays; a call joins and leaves a plain array.
 */
interface Waiters {
  readonly list: Array<OnAbort>;
  readonly listener: () => void;
}

const waitersBySignal = new WeakMap<AbortSignal, Waiters>();

function waitersOf(signal: AbortSignal): Waiters {
  let w = waitersBySignal.get(signal);
  if (w === undefined) {
    const list: Array<OnAbort> = [];
    const listener = (): void => {
      const reason = reasonOf(signal);
      for (const settle of list.splice(0)) settle(reason, signal);
    };
    signal.addEventListener('abort', listener, { once: true });
    w = { list, listener };
    waitersBySignal.set(signal, w);
  }
  return w;
}

/** Calls `onAbort` (once) when `signal` fires, until {@link unwatch} takes it back. */
function watch(signal: AbortSignal, onAbort: OnAbort): void {
  waitersOf(signal).list.push(onAbort);
}

function unwatch(signal: AbortSignal, onAbort: OnAbort): void {
  const list = waitersBySignal.get(signal)?.list;
  if (list === undefined) return;
  const i = list.lastIndexOf(onAbort);
  if (i < 0) return;
  // Order does not matter (all of them run on abort): swap with the last, no new array.
  list[i] = list[list.length - 1]!;
  list.pop();
}

/**
 * The `abort` listeners on `signal` other than this module's own: what someone else left there.
 * The poller reuses a signal only when this is 0.
 */
export function foreignAbortListeners(signal: AbortSignal): number {
  const own = waitersBySignal.get(signal)?.listener;
  return getEventListeners(signal, 'abort').filter((l) => l !== own).length;
}

/** How many calls wait on `signal` through this module (tests). */
export function waitingOn(signal: AbortSignal): number {
  return waitersBySignal.get(signal)?.list.length ?? 0;
}

/** Rejects with a cancelled AdapterError as soon as `signal` fires; otherwise follows `work`. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(reasonOf(signal));
  }
  return new Promise<T>((resolve, reject) => {
    watch(signal, reject);
    work.then(
      (v) => {
        unwatch(signal, reject);
        resolve(v);
      },
      (e: unknown) => {
        unwatch(signal, reject);
        reject(e);
      },
    );
  });
}

/**
 * Like {@link raceAbort} over several signals at once (the first to fire wins), without a
 * combined signal. Prefer it to {@link linkSignals} on a per-call path: on Node 20 every
 * AbortSignal an AbortController makes survives the young-generation GC, so one per call fills
 * the old generation with garbage until the next full GC (docs/operations.md).
 */
export function raceSignals<T>(
  work: Promise<T>,
  ...signals: ReadonlyArray<AbortSignal | undefined>
): Promise<T> {
  let first: AbortSignal | undefined;
  let second: AbortSignal | undefined;
  let more = false;
  for (const s of signals) {
    if (s === undefined) continue;
    if (s.aborted) {
      work.catch(() => undefined);
      return Promise.reject(reasonOf(s));
    }
    if (first === undefined) first = s;
    else if (second === undefined) second = s;
    else more = true;
  }
  if (first === undefined) return work;
  if (second === undefined) return raceAbort(work, first);
  if (more) {
    // Rare (no caller passes three today): fold the rest in one level at a time.
    const [a, ...rest] = signals.filter((s): s is AbortSignal => s !== undefined);
    return raceAbort(raceSignals(work, ...rest), a);
  }
  const a = first;
  const b = second;
  return new Promise<T>((resolve, reject) => {
    const settle = (reason: AdapterError): void => {
      unwatch(a, settle);
      unwatch(b, settle);
      reject(reason);
    };
    watch(a, settle);
    watch(b, settle);
    work.then(
      (v) => {
        unwatch(a, settle);
        unwatch(b, settle);
        resolve(v);
      },
      (e: unknown) => {
        unwatch(a, settle);
        unwatch(b, settle);
        reject(e);
      },
    );
  });
}

export function cancelled(): AdapterError {
  return new AdapterError('ADAPTER_CANCELLED', 'operation cancelled');
}

/** The AdapterError an abort stands for: a timeout when the poller says so, else a cancellation. */
export function reasonOf(signal: AbortSignal): AdapterError {
  return signal.reason instanceof AdapterError ? signal.reason : cancelled();
}

/** A signal that follows several others, and the way to let go of them. */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Detaches from the sources. Call it when the operation settles; calling it again is a no-op. */
  release(): void;
}

/**
 * A signal that aborts (with the same reason) as soon as any of `sources` does; `undefined`
 * sources are ignored. Use it instead of `AbortSignal.any()` whenever one source lives long
 * (an adapter's close signal): on Node 20, `AbortSignal.any()` adds an entry to every source's
 * list of dependants that is never removed, not even after the combined signal is collected,
 * so a per-poll call grows the heap for ever. Here the listeners go with `release()`.
 */
export function linkSignals(...sources: ReadonlyArray<AbortSignal | undefined>): LinkedSignal {
  const ctl = new AbortController();
  const attached: AbortSignal[] = [];
  const onAbort = (_reason: AdapterError, fired: AbortSignal): void => {
    release();
    ctl.abort(fired.reason);
  };
  const release = (): void => {
    for (const s of attached.splice(0)) unwatch(s, onAbort);
  };
  for (const s of sources) {
    if (s === undefined) continue;
    if (s.aborted) {
      release();
      ctl.abort(s.reason);
      return { signal: ctl.signal, release };
    }
    watch(s, onAbort);
    attached.push(s);
  }
  return { signal: ctl.signal, release };
}

/**
 * Signals for calls into code that wants one `AbortSignal` per call (a vendor SDK): each aborts
 * when one of its call's sources fires or its deadline passes. A call that ends with its signal
 * clean (not aborted, no listener of the callee left on it) gives it back, and the next call
 * gets the same one, so a call a second makes no AbortSignal at all (see {@link raceSignals} on
 * why that matters on Node 20). Calls at the same time get separate signals.
 */
export class CallSignals {
  #spare: AbortController | undefined;

  acquire(
    sources: ReadonlyArray<AbortSignal | undefined>,
    deadline?: { ms: number; reason: () => AdapterError },
  ): LinkedSignal {
    for (const s of sources) {
      if (s?.aborted) {
        const fired = new AbortController();
        fired.abort(s.reason);
        return { signal: fired.signal, release: () => undefined };
      }
    }
    const ctl = this.#spare ?? new AbortController();
    this.#spare = undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const detach = (): void => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      for (const s of sources) if (s !== undefined) unwatch(s, onAbort);
    };
    const onAbort = (_reason: AdapterError, fired: AbortSignal): void => {
      detach();
      ctl.abort(fired.reason);
    };
    for (const s of sources) if (s !== undefined) watch(s, onAbort);
    if (deadline !== undefined)
      timer = setTimeout(() => {
        detach();
        ctl.abort(deadline.reason());
      }, deadline.ms);
    return {
      signal: ctl.signal,
      release: () => {
        if (!done) detach();
        if (
          this.#spare === undefined &&
          !ctl.signal.aborted &&
          waitingOn(ctl.signal) === 0 &&
          foreignAbortListeners(ctl.signal) === 0
        )
          this.#spare = ctl;
      },
    };
  }
}
