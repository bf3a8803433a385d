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

export function cancelled(): AdapterError {
  return new AdapterError('ADAPTER_CANCELLED', 'operation cancelled');
}

/** The AdapterError an abort stands for: a timeout when the poller says so, else a cancellation. */
export function reasonOf(signal: AbortSignal): AdapterError {
  return signal.reason instanceof AdapterError ? signal.reason : cancelled();
}
