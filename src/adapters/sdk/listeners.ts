/**
 * Calls every listener with `event`. A listener that throws does not stop the others, nor the
 * socket or SDK callback that delivered the event; its error goes to `onError`.
 */
export function deliver<E>(
  listeners: Iterable<(event: E) => void>,
  event: E,
  onError: (err: unknown) => void,
): void {
  for (const listener of [...listeners]) {
    try {
      listener(event);
    } catch (err) {
      onError(err);
    }
  }
}

/** Default `onError` for listeners: a process warning (visible, never fatal to the agent). */
export function warnListenerError(err: unknown): void {
  process.emitWarning(
    `an SDK event listener threw: ${err instanceof Error ? err.message : String(err)}`,
    { code: 'OUTPOST_SDK_LISTENER', detail: err instanceof Error ? err.stack : undefined },
  );
}
