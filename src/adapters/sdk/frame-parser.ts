import { SdkError } from './errors.js';

/** Default largest frame payload, bytes (either direction). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Where the parser is: reading the 4-byte length, reading a payload, or dead after bad input. */
export type FrameParserState = 'length' | 'payload' | 'failed';

/**
 * Splits the byte stream of the out-of-process SDK protocol into frame payloads:
 * `u32 length (big-endian, 1..max) ‖ payload`. A pure push state machine — no I/O, no timers —
 * fed whatever the socket delivers, in pieces of any size; it returns the payloads the piece
 * completed. A zero length (`SDK_BAD_FRAME`) or a length above the maximum
 * (`SDK_FRAME_TOO_LARGE`, refused before any payload byte is buffered) throws an {@link SdkError};
 * the parser then stays failed, because a byte stream cannot be resynchronised: drop the
 * connection and start a new parser (or `reset()`).
 */
export class SdkFrameParser {
  readonly maxFrameBytes: number;
  #state: FrameParserState = 'length';
  #lengthBytes = 0;
  #length = 0;
  #payload: Uint8Array = new Uint8Array(0);
  #filled = 0;
  #error: SdkError | undefined;

  constructor(options: { maxFrameBytes?: number } = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 1 || max > 0xffff_ffff) {
      throw new RangeError('maxFrameBytes must be an integer 1..2^32-1');
    }
    this.maxFrameBytes = max;
  }

  get state(): FrameParserState {
    return this.#state;
  }

  /** Bytes held for the frame in progress (length prefix or payload). */
  get buffered(): number {
    return this.#state === 'payload' ? 4 + this.#filled : this.#lengthBytes;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#error) throw this.#error;
    const frames: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#state === 'length') {
        // Big-endian u32, one byte at a time (a prefix may arrive split anywhere).
        this.#length = this.#length * 256 + chunk[at]!;
        this.#lengthBytes += 1;
        at += 1;
        if (this.#lengthBytes === 4) this.#startPayload();
        continue;
      }
      const n = Math.min(this.#length - this.#filled, chunk.length - at);
      this.#payload.set(chunk.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#length) {
        frames.push(this.#payload);
        this.#state = 'length';
        this.#length = 0;
        this.#lengthBytes = 0;
      }
    }
    return frames;
  }

  /** Forgets everything, including a failure (for a new connection). */
  reset(): void {
    this.#state = 'length';
    this.#length = 0;
    this.#lengthBytes = 0;
    this.#filled = 0;
    this.#payload = new Uint8Array(0);
    this.#error = undefined;
  }

  #startPayload(): void {
    if (this.#length === 0) this.#fail(new SdkError('SDK_BAD_FRAME', 'SDK sent an empty frame'));
    if (this.#length > this.maxFrameBytes) {
      this.#fail(
        new SdkError(
          'SDK_FRAME_TOO_LARGE',
          `SDK frame of ${this.#length} bytes exceeds the ${this.maxFrameBytes}-byte limit`,
        ),
      );
    }
    this.#payload = new Uint8Array(this.#length);
    this.#filled = 0;
    this.#state = 'payload';
  }

  #fail(error: SdkError): never {
    this.#state = 'failed';
    this.#error = error;
    throw error;
  }
}

/** Encodes one message as a frame. Rejects (SDK_FRAME_TOO_LARGE) what the peer would refuse. */
export function encodeSdkFrame(
  message: unknown,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): Uint8Array {
  const payload = new TextEncoder().encode(JSON.stringify(message));
  if (payload.length > maxFrameBytes) {
    throw new SdkError(
      'SDK_FRAME_TOO_LARGE',
      `request of ${payload.length} bytes exceeds the ${maxFrameBytes}-byte frame limit`,
    );
  }
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, 4);
  return frame;
}
