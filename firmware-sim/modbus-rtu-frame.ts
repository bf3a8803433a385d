/**
 * Modbus RTU framing for the simulated controller, written for it alone (it shares nothing with
 * the agent or with modbus-serial): CRC-16/MODBUS, frame encoding and checking, and a push
 * parser that cuts a byte stream into frames the way a slave's UART driver does.
 *
 * A frame is `unit, PDU, CRC low, CRC high` (Modbus over serial line v1.02, §2.5.1). Frames are
 * delimited by silence: a gap of at least 3.5 character times ends a frame (§2.5.1.1). On a PTY
 * byte timing means nothing, so the framer can also end a request as soon as its length is
 * known from its function code and its CRC checks (`eager`), which lets back-to-back requests
 * with no gap still be told apart. The parser has no I/O and no timers: the caller passes the
 * time of every chunk and calls `idle(now)` at `deadline`.
 */

/** Longest RTU frame (§2.5.1): 1 unit + 253 PDU + 2 CRC. */
export const MAX_RTU_FRAME = 256;

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * CRC-16/MODBUS of `bytes[0..end)`: reflected polynomial 0x8005 (0xA001), initial value 0xFFFF,
 * no final XOR. On the wire its low byte goes first.
 */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** `unit, pdu..., crc low, crc high`. */
export function encodeRtuFrame(unit: number, pdu: Uint8Array): Uint8Array {
  const frame = new Uint8Array(pdu.length + 3);
  frame[0] = unit;
  frame.set(pdu, 1);
  const crc = crc16(frame, pdu.length + 1);
  frame[pdu.length + 1] = crc & 0xff;
  frame[pdu.length + 2] = crc >>> 8;
  return frame;
}

/** True when the last two bytes of `bytes[0..length)` are the CRC of the ones before. */
export function crcOk(bytes: Uint8Array, length = bytes.length): boolean {
  if (length < 3) return false;
  const crc = crc16(bytes, length - 2);
  return bytes[length - 2] === (crc & 0xff) && bytes[length - 1] === crc >>> 8;
}

export type RtuFrameCheck =
  { ok: true; unit: number; pdu: Uint8Array } | { ok: false; reason: 'short' | 'crc' };

/** Splits a received frame into unit and PDU, or says why it is not one. */
export function checkRtuFrame(frame: Uint8Array): RtuFrameCheck {
  if (frame.length < 4) return { ok: false, reason: 'short' };
  if (!crcOk(frame)) return { ok: false, reason: 'crc' };
  return { ok: true, unit: frame[0]!, pdu: frame.subarray(1, frame.length - 2) };
}

/**
 * The whole length of a request frame once its first bytes tell it, or undefined when they do
 * not (yet, or ever: unknown functions are delimited by silence alone).
 */
export function requestLength(bytes: Uint8Array, length: number): number | undefined {
  if (length < 2) return undefined;
  const fc = bytes[1]!;
  if (fc >= 1 && fc <= 6) return 8; // reads and single writes: address + quantity/value
  if (fc === 15 || fc === 16) return length < 7 ? undefined : 9 + bytes[6]!;
  return undefined;
}

/** The silence that ends a frame: 3.5 characters of 11 bits, fixed at 1.75 ms above 19200 baud (§2.5.1.1). */
export function silenceGapMs(baudRate: number, bitsPerChar = 11): number {
  return baudRate > 19200 ? 1.75 : (3.5 * bitsPerChar * 1000) / baudRate;
}

export interface RtuFramerOptions {
  /** Silence that ends a frame, ms. */
  gapMs: number;
  /** End a request as soon as its known length is in and its CRC checks. Default true. */
  eager?: boolean;
  /** Longest frame; longer runs are dropped as an overrun. Default 256. */
  maxFrame?: number;
}

export type RtuFramerEvent =
  | { type: 'frame'; bytes: Uint8Array }
  /** More than `maxFrame` bytes without a gap: dropped (`bytes` counts them). */
  | { type: 'overrun'; bytes: number };

/** Cuts a byte stream into RTU frames by silence (and, when eager, by request length). */
export class RtuFramer {
  readonly #gapMs: number;
  readonly #eager: boolean;
  readonly #buf: Uint8Array;
  #length = 0;
  /** Bytes seen since the buffer overflowed, or 0. */
  #overrun = 0;
  #lastByteAtMs = 0;

  constructor(options: RtuFramerOptions) {
    if (!(Number.isFinite(options.gapMs) && options.gapMs >= 0))
      throw new RangeError(`gapMs must be a finite number ≥ 0, got ${options.gapMs}`);
    this.#gapMs = options.gapMs;
    this.#eager = options.eager ?? true;
    this.#buf = new Uint8Array(options.maxFrame ?? MAX_RTU_FRAME);
  }

  /** True while bytes of an unfinished frame are held. */
  get pending(): boolean {
    return this.#length > 0 || this.#overrun > 0;
  }

  /** When to call `idle()` to close the frame in progress, or undefined when none is. */
  get deadline(): number | undefined {
    return this.pending ? this.#lastByteAtMs + this.#gapMs : undefined;
  }

  /** Feeds bytes received at `atMs` (a monotonic clock, ms). */
  push(chunk: Uint8Array, atMs: number): RtuFramerEvent[] {
    const events: RtuFramerEvent[] = [];
    if (this.pending && atMs >= this.#lastByteAtMs + this.#gapMs) this.#close(events);
    for (const byte of chunk) {
      if (this.#overrun > 0 || this.#length === this.#buf.length) {
        this.#overrun = this.#overrun > 0 ? this.#overrun + 1 : this.#length + 1;
        this.#length = 0;
        continue;
      }
      this.#buf[this.#length++] = byte;
      if (this.#eager && requestLength(this.#buf, this.#length) === this.#length) {
        if (crcOk(this.#buf, this.#length)) this.#close(events);
      }
    }
    if (chunk.length > 0) this.#lastByteAtMs = atMs;
    return events;
  }

  /** Closes the frame in progress if the line has been silent for the gap by `nowMs`. */
  idle(nowMs: number): RtuFramerEvent[] {
    const events: RtuFramerEvent[] = [];
    if (this.pending && nowMs >= this.#lastByteAtMs + this.#gapMs) this.#close(events);
    return events;
  }

  /** Drops whatever is held (the port was closed and reopened). */
  reset(): void {
    this.#length = 0;
    this.#overrun = 0;
  }

  #close(events: RtuFramerEvent[]): void {
    if (this.#overrun > 0) events.push({ type: 'overrun', bytes: this.#overrun });
    else if (this.#length > 0)
      events.push({ type: 'frame', bytes: this.#buf.slice(0, this.#length) });
    this.reset();
  }
}
