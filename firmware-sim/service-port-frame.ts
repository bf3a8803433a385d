/**
 * Line framing of the XR-200 service port, as the controller's firmware does it (its own code;
 * the agent has a separate implementation, so a framing bug is not mirrored on both sides).
 *
 *   frame    = payload "*" checksum CR LF
 *   payload  = printable ASCII (0x20-0x7E) except "*"
 *   checksum = XOR of every payload byte, as two hexadecimal digits (upper case when sent)
 *
 * e.g. `PING*1E\r\n`. The controller ends what it sends with CR LF; it accepts CR, LF or CR LF
 * at the end of a request (a terminal sends CR for Enter) and ignores empty lines.
 */

/** Longest request the controller buffers, in bytes (terminator excluded). */
export const MAX_REQUEST_LENGTH = 256;

/** XOR of the payload's bytes as two upper-case hex digits. */
export function checksumOf(payload: string): string {
  let x = 0;
  for (let i = 0; i < payload.length; i++) x ^= payload.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

/** A payload framed for the wire: `payload*HH\r\n`. */
export function frameLine(payload: string): string {
  return `${payload}*${checksumOf(payload)}\r\n`;
}

/** What the controller made of one request line. */
export type RequestLine =
  | { kind: 'request'; payload: string }
  | { kind: 'no-checksum'; text: string }
  | { kind: 'bad-checksum'; got: string; expected: string }
  | { kind: 'not-ascii' }
  | { kind: 'too-long' };

const PRINTABLE_NO_STAR = /^[\x20-\x29\x2b-\x7e]*$/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;

/** Classifies one complete line (terminator removed). */
export function parseRequestLine(line: string): RequestLine {
  const star = line.lastIndexOf('*');
  const payload = star < 0 ? line : line.slice(0, star);
  if (!PRINTABLE_NO_STAR.test(payload)) return { kind: 'not-ascii' };
  if (star < 0) return { kind: 'no-checksum', text: line };
  const got = line.slice(star + 1);
  const expected = checksumOf(payload);
  if (!HEX2.test(got) || got.toUpperCase() !== expected)
    return { kind: 'bad-checksum', got, expected };
  return { kind: 'request', payload };
}

/**
 * Splits the received byte stream into request lines (push parser, no I/O). A line longer than
 * {@link MAX_REQUEST_LENGTH} is reported once as `too-long` and skipped up to its terminator.
 */
export class RequestSplitter {
  #line: number[] = [];
  #skipping = false;

  push(chunk: Uint8Array): RequestLine[] {
    const out: RequestLine[] = [];
    for (const byte of chunk) {
      if (byte === 0x0d || byte === 0x0a) {
        if (this.#skipping) this.#skipping = false;
        else if (this.#line.length > 0)
          out.push(parseRequestLine(String.fromCharCode(...this.#line)));
        this.#line = [];
        continue;
      }
      if (this.#skipping) continue;
      if (this.#line.length >= MAX_REQUEST_LENGTH) {
        out.push({ kind: 'too-long' });
        this.#line = [];
        this.#skipping = true;
        continue;
      }
      this.#line.push(byte);
    }
    return out;
  }
}
