/**
 * The XR-200 "vendor SDK" wire protocol, as the controller speaks it (the agent has its own,
 * independent implementation in src/adapters/sdk/; sharing the code would mirror a framing bug
 * on both sides).
 *
 * Transport: a Unix-domain stream socket. Every message is one frame:
 *
 *   u32 length (big-endian, 1..maxFrameBytes) ‖ `length` bytes of UTF-8 JSON
 *
 * Requests   `{"id": 7, "method": "getCounters", "params": {...}}`   (id: integer 0..2^32-1)
 * Replies    `{"id": 7, "result": {...}}` or `{"id": 7, "error": {"code": 4, "message": "..."}}`
 * Events     `{"event": "error", "code": 2003, "state": "raised", "atMs": 1700000000000}`
 *            (unsolicited, only after `subscribe`; no id)
 *
 * A frame that cannot be read as a request (bad length, not UTF-8 JSON, no integer id, no method,
 * params that are not an object)
 * is answered `{"id": null, "error": {"code": 1|2, ...}}` and the connection is closed; other
 * connections are not affected. See {@link SDK_STATUS} for the error codes.
 */

/** Protocol revision reported by `hello`; bumped only for incompatible changes. */
export const SDK_PROTOCOL = 1;
/** Version of the (simulated) vendor SDK. */
export const SDK_VERSION = '2.4.1';
/** Default largest frame payload, bytes, either direction. */
export const SDK_MAX_FRAME_BYTES = 1024 * 1024;
/** Largest `readLog` chunk; longer requests are shortened to this. */
export const SDK_MAX_READ_BYTES = 256 * 1024;

/** Error codes the endpoint answers with (`error.code`). Stable; additive only. */
export const SDK_STATUS = {
  /** The frame is not a request (bad length, not JSON, no id/method). Connection closed. */
  BAD_FRAME: 1,
  /** The frame's length prefix exceeds the maximum. Connection closed. */
  FRAME_TOO_LARGE: 2,
  UNKNOWN_METHOD: 3,
  BAD_PARAMS: 4,
  NO_SUCH_LOG: 5,
  /** The endpoint is at its client limit. Connection closed. */
  BUSY: 6,
  INTERNAL: 7,
  /** The device behind the endpoint did not answer in time (not used by the simulator itself). */
  DEVICE_TIMEOUT: 8,
} as const;

export type SdkStatus = (typeof SDK_STATUS)[keyof typeof SDK_STATUS];

export const SDK_METHODS = [
  'hello',
  'getCounters',
  'getActiveErrors',
  'listLogs',
  'readLog',
  'subscribe',
  'unsubscribe',
] as const;

export type SdkMethod = (typeof SDK_METHODS)[number];

/** A request as received (shape checked, params not yet). */
export interface SdkRequest {
  id: number;
  method: string;
  params: Record<string, unknown>;
}

/** Why a frame could not be read; the connection that sent it is closed. */
export class SdkProtocolError extends Error {
  override readonly name = 'SdkProtocolError';
  constructor(
    readonly status: SdkStatus,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Encodes one message as a frame. Throws SdkProtocolError if it is larger than `maxBytes`. */
export function encodeFrame(message: unknown, maxBytes = SDK_MAX_FRAME_BYTES): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > maxBytes) {
    throw new SdkProtocolError(
      SDK_STATUS.FRAME_TOO_LARGE,
      `message of ${body.length} bytes exceeds the ${maxBytes}-byte frame limit`,
    );
  }
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/**
 * Splits a byte stream into frame payloads: a push state machine with no I/O. Feed it whatever
 * the socket delivers; it returns the payloads completed by that chunk. A bad length prefix
 * throws SdkProtocolError, and the decoder stays failed (a byte stream cannot be resynchronised).
 */
export class FrameDecoder {
  readonly #max: number;
  readonly #header = Buffer.alloc(4);
  #headerFill = 0;
  #body: Buffer | null = null;
  #bodyFill = 0;
  #failed: SdkProtocolError | null = null;

  constructor(maxFrameBytes = SDK_MAX_FRAME_BYTES) {
    this.#max = maxFrameBytes;
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.#failed) throw this.#failed;
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#body === null) {
        const take = Math.min(4 - this.#headerFill, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + take), this.#headerFill);
        this.#headerFill += take;
        i += take;
        if (this.#headerFill < 4) break;
        const length = this.#header.readUInt32BE(0);
        this.#headerFill = 0;
        if (length === 0) this.#fail(SDK_STATUS.BAD_FRAME, 'empty frame');
        if (length > this.#max) {
          this.#fail(
            SDK_STATUS.FRAME_TOO_LARGE,
            `frame of ${length} bytes exceeds the ${this.#max}-byte limit`,
          );
        }
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFill = 0;
      } else {
        const take = Math.min(this.#body.length - this.#bodyFill, chunk.length - i);
        this.#body.set(chunk.subarray(i, i + take), this.#bodyFill);
        this.#bodyFill += take;
        i += take;
        if (this.#bodyFill === this.#body.length) {
          out.push(this.#body);
          this.#body = null;
        }
      }
    }
    return out;
  }

  #fail(status: SdkStatus, message: string): never {
    this.#failed = new SdkProtocolError(status, message);
    throw this.#failed;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a frame payload as a request. Throws SdkProtocolError (BAD_FRAME) otherwise. */
export function parseRequest(payload: Uint8Array): SdkRequest {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch (cause) {
    throw new SdkProtocolError(SDK_STATUS.BAD_FRAME, 'frame is not UTF-8 JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SdkProtocolError(SDK_STATUS.BAD_FRAME, 'a request is a JSON object');
  }
  const { id, method, params } = value as Record<string, unknown>;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
    throw new SdkProtocolError(SDK_STATUS.BAD_FRAME, 'request id must be an integer 0..2^32-1');
  }
  if (typeof method !== 'string' || method.length === 0) {
    throw new SdkProtocolError(SDK_STATUS.BAD_FRAME, 'request method must be a string');
  }
  if (
    params !== undefined &&
    (typeof params !== 'object' || params === null || Array.isArray(params))
  ) {
    throw new SdkProtocolError(SDK_STATUS.BAD_FRAME, 'request params must be an object');
  }
  return { id, method, params: (params ?? {}) as Record<string, unknown> };
}
