/** Reconnect delays: capped exponential with full jitter (data, so tests can check it). */
export interface BackoffPolicy {
  /** Delay cap for the first retry, ms. Default 1000. */
  baseMs: number;
  /** Upper bound of any delay, ms. Default 60 000. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 60_000 };

/**
 * Delay before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)).
 * Full jitter spreads a fleet that lost its hub at the same instant across the whole window,
 * so the hub is not hit by every device at once when it comes back.
 *
 * `spreadMs` widens the window to at least that much: the reconnect spread the hub announced
 * (HubAuth.reconnect_spread_ms), sized so that its whole fleet, each device drawing its delay
 * in that window, arrives at a rate the node can serve. The window may then exceed the cap.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
  spreadMs = 0,
): number {
  const ceiling = Math.max(
    spreadMs,
    Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30)),
  );
  return Math.floor(random() * ceiling);
}
