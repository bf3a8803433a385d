import { AdapterError } from '../errors.js';

/**
 * Bytes → frames for a checksummed text line protocol (push parser, no I/O):
 *
 *   frame = payload "*" HH LF      (a CR before the LF is dropped)
 *
 * `payload` is printable ASCII (0x20-0x7E) without `*`; `HH` is the XOR of the payload's bytes
 * in hex (either case). Every line either yields one frame or one error, never both wrong:
 * a frame is only ever emitted with a checksum that matches.
 *
 * Resync: a line is the unit of recovery. A damaged line is searched for the longest valid frame
 * ending it that starts where a frame may start (`isFrameStart`) — so noise or the stub of a
 * truncated reply in front of a good frame costs the noise, not the frame — and whatever is left
 * is reported as an error. A line longer than `maxLineLength` is reported once and skipped up to
 * its LF. Empty lines are ignored.
 */
export type FramerEvent =
  | { type: 'frame'; payload: string }
  | {
      type: 'error';
      /** Code SERIAL_BAD_CHECKSUM, SERIAL_GARBAGE or SERIAL_LINE_TOO_LONG. */
      error: AdapterError;
      /** Bytes dropped (for a line too long: the bytes seen when it was cut). */
      bytes: number;
    };

export interface LineFramerOptions {
  /** Longest line accepted, bytes, terminator excluded. Default 4096. */
  maxLineLength?: number;
  /**
   * Whether a frame may begin with `head` (the first ≤ 16 payload characters); used only to
   * look for a good frame inside a damaged line. Default: an upper-case letter or `!`.
   */
  isFrameStart?: (head: string) => boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const STAR = 0x2a;
const HEAD = 16;

export class LineFramer {
  readonly #max: number;
  readonly #isFrameStart: (head: string) => boolean;
  readonly #line: Uint8Array;
  #length = 0;
  #skipping = false;

  constructor(options: LineFramerOptions = {}) {
    const max = options.maxLineLength ?? 4096;
    if (!Number.isInteger(max) || max < 4)
      throw new RangeError('maxLineLength must be an integer ≥ 4');
    this.#max = max;
    this.#isFrameStart = options.isFrameStart ?? ((head) => /^[A-Z!]/.test(head));
    this.#line = new Uint8Array(max + 1);
  }

  /** Bytes of an unfinished line held back (a reply cut short shows up here). */
  get buffered(): number {
    return this.#length;
  }

  /** Drops the unfinished line (after a timeout or a reconnect). @returns the bytes dropped. */
  reset(): number {
    const dropped = this.#length;
    this.#length = 0;
    this.#skipping = false;
    return dropped;
  }

  push(chunk: Uint8Array): FramerEvent[] {
    const out: FramerEvent[] = [];
    for (const byte of chunk) {
      if (byte === LF) {
        if (this.#skipping) this.#skipping = false;
        else this.#endLine(out);
        this.#length = 0;
      } else if (!this.#skipping) {
        // One slot beyond the maximum, for the CR of a CR LF terminator.
        if (this.#length > this.#max || (this.#length === this.#max && byte !== CR)) {
          out.push(
            lineError('SERIAL_LINE_TOO_LONG', `line longer than ${this.#max} bytes`, this.#max + 1),
          );
          this.#length = 0;
          this.#skipping = true;
        } else {
          this.#line[this.#length++] = byte;
        }
      }
    }
    return out;
  }

  #endLine(out: FramerEvent[]): void {
    let n = this.#length;
    while (n > 0 && this.#line[n - 1] === CR) n--;
    if (n === 0) return;
    const line = this.#line;
    const checksum = n >= 3 && line[n - 3] === STAR ? hexByte(line[n - 2]!, line[n - 1]!) : -1;
    // Candidate payloads run from some start up to n - 3 and may hold only printable non-`*`.
    let firstClean = 0;
    const payloadEnd = checksum >= 0 ? n - 3 : n;
    for (let i = payloadEnd - 1; i >= 0; i--) {
      const b = line[i]!;
      if (b < 0x20 || b > 0x7e || b === STAR) {
        firstClean = i + 1;
        break;
      }
    }
    if (checksum >= 0) {
      let best = -1;
      let x = 0;
      for (let start = payloadEnd - 1; start >= firstClean; start--) {
        x ^= line[start]!;
        if (x === checksum && (start === 0 || this.#isFrameStart(this.#head(start, payloadEnd)))) {
          best = start;
        }
      }
      if (best === 0) {
        out.push({ type: 'frame', payload: ascii(line, 0, payloadEnd) });
        return;
      }
      if (best > 0) {
        out.push(lineError('SERIAL_GARBAGE', `${best} bytes of noise before a frame`, best));
        out.push({ type: 'frame', payload: ascii(line, best, payloadEnd) });
        return;
      }
      for (let start = firstClean; start < payloadEnd; start++) {
        if (start === 0 || this.#isFrameStart(this.#head(start, payloadEnd))) {
          out.push(
            lineError(
              'SERIAL_BAD_CHECKSUM',
              `checksum ${ascii(line, n - 2, n)} does not match the line "${excerpt(line, start, payloadEnd)}"`,
              n,
            ),
          );
          return;
        }
      }
    }
    out.push(lineError('SERIAL_GARBAGE', `${n} bytes that are not a frame`, n));
  }

  #head(start: number, end: number): string {
    return ascii(this.#line, start, Math.min(end, start + HEAD));
  }
}

function lineError(
  code: 'SERIAL_BAD_CHECKSUM' | 'SERIAL_GARBAGE' | 'SERIAL_LINE_TOO_LONG',
  message: string,
  bytes: number,
): FramerEvent {
  return { type: 'error', error: new AdapterError(code, message), bytes };
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

function hexByte(hi: number, lo: number): number {
  const h = hexDigit(hi);
  const l = hexDigit(lo);
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function excerpt(bytes: Uint8Array, start: number, end: number): string {
  const s = ascii(bytes, start, Math.min(end, start + 40));
  return end - start > 40 ? `${s}…` : s;
}
