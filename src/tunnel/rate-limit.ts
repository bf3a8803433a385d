import { ConfigError } from '../adapters/errors.js';

export interface ByteRateLimiterOptions {
  /** Sustained cap, bytes per second. 0 or undefined: unlimited. */
  bytesPerSecond?: number;
  /** Bytes that may go back to back after a quiet spell. Default: one second's worth, at least 1. */
  burstBytes?: number;
  /** Time source, ms. Default: `performance.now()` (monotonic); a backwards step is ignored. */
  clock?: { now(): number };
}

/**
 * A token-bucket cap on bulk bytes (log and file uploads), so the agent never hogs the
 * hospital's uplink. Pure: it computes delays, the caller waits them (on its injected clock).
 *
 * The bucket holds up to `burstBytes` and refills at `bytesPerSecond`. A frame may go once the
 * bucket holds its size; a frame larger than the bucket goes once the bucket is full, and the
 * overdraft is repaid before anything else goes, so no frame ever starves and the long-run rate
 * still holds. Honouring `delayFor`, the bytes sent in any span of T ms are at most
 * `max(burstBytes, largest frame) + bytesPerSecond × T / 1000`.
 */
export class ByteRateLimiter {
  /** Bytes per ms; 0 when unlimited. */
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: { now(): number };
  #tokens: number;
  #at: number;

  constructor(options: ByteRateLimiterOptions = {}) {
    const bps = options.bytesPerSecond ?? 0;
    if (!Number.isFinite(bps) || bps < 0) {
      throw new ConfigError(
        'must be a number of bytes per second, 0 for unlimited',
        'bytesPerSecond',
      );
    }
    const burst = options.burstBytes ?? Math.max(1, bps);
    if (!Number.isFinite(burst) || burst < 1) {
      throw new ConfigError('must be at least 1 byte', 'burstBytes');
    }
    this.#rate = bps / 1000;
    this.#burst = burst;
    this.#clock = options.clock ?? { now: () => performance.now() };
    this.#tokens = burst;
    this.#at = this.#clock.now();
  }

  /** False when the limiter lets everything through. */
  get limited(): boolean {
    return this.#rate > 0;
  }

  /**
   * Milliseconds to wait before `bytes` may go (0: now). Ask again after waiting: another
   * `consume` in between, or a clock step, changes the answer.
   */
  delayFor(bytes: number): number {
    if (this.#rate === 0) return 0;
    this.#refill();
    const missing = Math.min(bytes, this.#burst) - this.#tokens;
    // Tolerance: a refill that lands a rounding error short must not cost a further millisecond.
    return missing <= 1e-6 ? 0 : Math.ceil(missing / this.#rate);
  }

  /**
   * Records that `bytes` went. Call it after `delayFor(bytes)` returned 0; consuming early is
   * allowed (for frames that must go, like a heartbeat) and is paid back by later waits.
   */
  consume(bytes: number): void {
    if (this.#rate === 0) return;
    this.#refill();
    this.#tokens -= bytes;
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#at);
    this.#at = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#rate);
  }
}
