/** Test helper (not exported by the library). */
import { foreignAbortListeners, waitingOn } from './abort.js';

/**
 * What a signal holds on behalf of others: the calls waiting on it through abort.ts, its other
 * `abort` listeners, plus the list of dependants Node keeps for `AbortSignal.any()` (an internal
 * set; 0 when this Node version has none). abort.ts's one permanent listener is not counted.
 */
export function heldBy(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find(
    (s) => s.description === 'kDependantSignals',
  );
  const dependants = key
    ? ((signal as unknown as Record<symbol, { size?: number } | undefined>)[key]?.size ?? 0)
    : 0;
  return waitingOn(signal) + foreignAbortListeners(signal) + dependants;
}
