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
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
