import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineFramer, type FramerEvent } from './line-framer.js';
import { isServicePortFrameStart, xorChecksum } from './protocol.js';

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** A frame as the controller sends it, built by hand here (not with the code under test). */
function frame(payload: string): string {
  return `${payload}*${xorChecksum(payload).toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

function framer(max = 4096): LineFramer {
  return new LineFramer({ maxLineLength: max, isFrameStart: isServicePortFrameStart });
}

function payloads(events: FramerEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'frame' ? [e.payload] : []));
}

function codes(events: FramerEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'error' ? [e.error.code] : []));
}

describe('LineFramer', () => {
  it('checks the literal example: OK PING*34', () => {
    // O^K^' '^P^I^N^G by hand: 0x4F^0x4B^0x20^0x50^0x49^0x4E^0x47 = 0x34.
    expect(payloads(framer().push(enc('OK PING*34\r\n')))).toEqual(['OK PING']);
    expect(payloads(framer().push(enc('OK PING*34\n')))).toEqual(['OK PING']);
    expect(payloads(framer().push(enc('ok ping*34\r\n')))).toEqual(['ok ping']);
  });

  it('accepts lower-case hex digits', () => {
    const f = framer();
    expect(payloads(f.push(enc('!EVT BOOT 1028*7b\r\n')))).toHaveLength(1);
  });

  it('yields the same frames fed one byte at a time', () => {
    const f = framer();
    const text =
      frame('OK COUNTERS #3 a=1 b=2.5') +
      frame('!EVT ERR 2003 RAISED 1700000000000') +
      frame('ERR NOFILE #4 no log');
    const out: FramerEvent[] = [];
    for (const b of enc(text)) out.push(...f.push(Uint8Array.of(b)));
    expect(payloads(out)).toEqual([
      'OK COUNTERS #3 a=1 b=2.5',
      '!EVT ERR 2003 RAISED 1700000000000',
      'ERR NOFILE #4 no log',
    ]);
    expect(codes(out)).toEqual([]);
    expect(f.buffered).toBe(0);
  });

  it('holds an unfinished line until its LF, and reset() drops it', () => {
    const f = framer();
    expect(f.push(enc('OK PI'))).toEqual([]);
    expect(f.buffered).toBe(5);
    expect(f.reset()).toBe(5);
    expect(payloads(f.push(enc(frame('OK PING'))))).toEqual(['OK PING']);
  });

  it('reports a bad checksum and yields no frame for that line', () => {
    const out = framer().push(enc('OK PING*35\r\n'));
    expect(payloads(out)).toEqual([]);
    expect(codes(out)).toEqual(['SERIAL_BAD_CHECKSUM']);
  });

  it('reports a line without a checksum, or with non-hex digits, as garbage', () => {
    expect(codes(framer().push(enc('OK PING\r\n')))).toEqual(['SERIAL_GARBAGE']);
    expect(codes(framer().push(enc('OK PING*GG\r\n')))).toEqual(['SERIAL_GARBAGE']);
    expect(codes(framer().push(enc('\x00\xff\x13\x88\r\n')))).toEqual(['SERIAL_GARBAGE']);
  });

  it('ignores empty lines', () => {
    expect(framer().push(enc('\r\n\n\r\r\n'))).toEqual([]);
  });

  it('resyncs: noise in front of a frame on the same line costs the noise, not the frame', () => {
    const out = framer().push(enc(`\x93\x00garbage!!${frame('OK PING #7')}`));
    expect(codes(out)).toEqual(['SERIAL_GARBAGE']);
    expect(payloads(out)).toEqual(['OK PING #7']);
    expect(out[0]).toMatchObject({ bytes: 11 });
  });

  it('resyncs: the stub of a truncated reply in front of the next reply', () => {
    const out = framer().push(
      enc(`OK COUNTERS #5 exposures_total=12${frame('OK ERRORS #6 raises=0 active=')}`),
    );
    expect(payloads(out)).toEqual(['OK ERRORS #6 raises=0 active=']);
    expect(codes(out)).toEqual(['SERIAL_GARBAGE']);
  });

  it('resyncs on the next line after garbage between frames', () => {
    const out = framer().push(
      enc(`${frame('OK PING #1')}\xde\xad\xbe\xef\r\n${frame('OK PING #2')}`),
    );
    expect(payloads(out)).toEqual(['OK PING #1', 'OK PING #2']);
    expect(codes(out)).toEqual(['SERIAL_GARBAGE']);
  });

  it('cuts an over-long line once, skips to its LF and goes on', () => {
    const f = framer(32);
    const long = 'OK ' + 'x'.repeat(100);
    const out = [...f.push(enc(`${long}*00\r\n`)), ...f.push(enc(frame('OK PING')))];
    expect(codes(out)).toEqual(['SERIAL_LINE_TOO_LONG']);
    expect(payloads(out)).toEqual(['OK PING']);
  });

  it('accepts a line of exactly the maximum length', () => {
    const payload = `OK ${'y'.repeat(26)}`; // 29 + "*HH" = 32
    expect(payloads(framer(32).push(enc(frame(payload))))).toEqual([payload]);
  });

  it('refuses a too-small maximum', () => {
    expect(() => new LineFramer({ maxLineLength: 2 })).toThrow(RangeError);
  });
});

/** Printable payloads of the protocol's shapes, without `*`. */
const payloadArb = fc
  .tuple(fc.constantFrom('OK ', 'ERR ', '!EVT '), fc.stringMatching(/^[\x20-\x29\x2b-\x7e]{0,60}$/))
  .map(([head, rest]) => head + rest);

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(bytes.subarray(prev, p));
    prev = p;
  }
  parts.push(bytes.subarray(prev));
  return parts;
}

describe('LineFramer properties', () => {
  it('any split of valid frames yields the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(payloadArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (ps, cuts) => {
          const bytes = enc(ps.map(frame).join(''));
          const f = framer();
          const out = splitAt(bytes, cuts).flatMap((c) => f.push(c));
          expect(codes(out)).toEqual([]);
          expect(payloads(out)).toEqual(ps);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random garbage never throws and never yields a frame whose checksum is wrong', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (noise, cuts) => {
          const f = framer(128);
          const lines = Buffer.from(noise)
            .toString('latin1')
            .split('\n')
            .map((l) => l.replace(/\r+$/, ''));
          for (const part of splitAt(noise, cuts)) {
            for (const e of f.push(part)) {
              if (e.type !== 'frame') continue;
              // Printable, star-free, and it ends some input line followed by its own checksum.
              expect(e.payload).toMatch(/^[\x20-\x29\x2b-\x7e]+$/);
              const ok = lines.some((l) => {
                const m = /\*([0-9A-Fa-f]{2})$/.exec(l);
                return (
                  m !== null &&
                  l.slice(0, -3).endsWith(e.payload) &&
                  parseInt(m[1]!, 16) === xorChecksum(e.payload)
                );
              });
              expect(ok).toBe(true);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a frame emitted from garbage really ended its line with its own checksum', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), payloadArb, (noise, payload) => {
        const clean = noise.filter((b) => b !== 0x0a);
        const f = framer();
        const line = Buffer.concat([Buffer.from(clean), Buffer.from(frame(payload), 'latin1')]);
        const out = f.push(line);
        const frames = payloads(out);
        expect(frames).toHaveLength(1);
        // Whatever was chosen must be a suffix of the line with a matching checksum.
        const got = frames[0]!;
        expect(xorChecksum(got)).toBe(xorChecksum(payload));
        expect(payload.endsWith(got) || got.endsWith(payload)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('garbage then valid frames: every frame after the garbage line is recovered', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.array(payloadArb, { minLength: 1, maxLength: 5 }),
        (noise, ps) => {
          const f = framer();
          const out = [
            ...f.push(noise),
            ...f.push(enc('\r\n')),
            ...f.push(enc(ps.map(frame).join(''))),
          ];
          expect(payloads(out).slice(-ps.length)).toEqual(ps);
        },
      ),
      { numRuns: 300 },
    );
  });
});
