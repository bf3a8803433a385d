import { AdapterError } from './errors.js';

/** Rejects with a cancelled AdapterError as soon as `signal` fires; otherwise follows `work`. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(reasonOf(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
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
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  const fired = live.find((s) => s.aborted);
  if (fired) {
    work.catch(() => undefined);
    return Promise.reject(reasonOf(fired));
  }
  if (live.length === 0) return work;
  if (live.length === 1) return raceAbort(work, live[0]);
  return new Promise<T>((resolve, reject) => {
    const handlers = live.map((s) => {
      const onAbort = (): void => {
        detach();
        reject(reasonOf(s));
      };
      s.addEventListener('abort', onAbort, { once: true });
      return [s, onAbort] as const;
    });
    const detach = (): void => {
      for (const [s, onAbort] of handlers) s.removeEventListener('abort', onAbort);
    };
    work.then(
      (v) => {
        detach();
        resolve(v);
      },
      (e: unknown) => {
        detach();
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
  const attached: Array<[AbortSignal, () => void]> = [];
  const release = (): void => {
    for (const [s, onAbort] of attached.splice(0)) s.removeEventListener('abort', onAbort);
  };
  for (const s of sources) {
    if (s === undefined) continue;
    if (s.aborted) {
      release();
      ctl.abort(s.reason);
      return { signal: ctl.signal, release };
    }
    const onAbort = (): void => {
      release();
      ctl.abort(s.reason);
    };
    s.addEventListener('abort', onAbort, { once: true });
    attached.push([s, onAbort]);
  }
  return { signal: ctl.signal, release };
}
