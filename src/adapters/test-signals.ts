/** Test helper (not exported by the library). */
import { getEventListeners } from 'node:events';

/**
 * What a signal holds on behalf of others: its `abort` listeners, plus the list of dependants
 * Node keeps for `AbortSignal.any()` (an internal set; 0 when this Node version has none).
 */
export function heldBy(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find(
    (s) => s.description === 'kDependantSignals',
  );
  const dependants = key
    ? ((signal as unknown as Record<symbol, { size?: number } | undefined>)[key]?.size ?? 0)
    : 0;
  return getEventListeners(signal, 'abort').length + dependants;
}
