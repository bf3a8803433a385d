import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkRtuFrame,
  crc16,
  crcOk,
  encodeRtuFrame,
  MAX_RTU_FRAME,
  requestLength,
  RtuFramer,
  silenceGapMs,
  type RtuFramerEvent,
} from './modbus-rtu-frame.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const frames = (events: RtuFramerEvent[]): string[] =>
  events.map((e) =>
    e.type === 'frame' ? Buffer.from(e.bytes).toString('hex') : `overrun:${e.bytes}`,
  );

/** "Unit 1, read 1 holding register at 0": the classic example frame. */
const READ_1 = hex('01 03 00 00 00 01 84 0a');

describe('crc16 (CRC-16/MODBUS)', () => {
  it('matches the catalogue check value and a textbook frame', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0x4b37);
    expect(crc16(hex('01 03 00 00 00 01'))).toBe(0x0a84); // sent low byte first: 84 0a
    expect(crc16(new Uint8Array(0))).toBe(0xffff);
  });

  it('encodes frames with the CRC low byte first, and checks them', () => {
    expect(encodeRtuFrame(1, hex('03 00 00 00 01'))).toEqual(READ_1);
    expect(crcOk(READ_1)).toBe(true);
    expect(checkRtuFrame(READ_1)).toEqual({ ok: true, unit: 1, pdu: hex('03 00 00 00 01') });
    expect(checkRtuFrame(hex('01 03 00 00 00 01 0a 84'))).toEqual({ ok: false, reason: 'crc' });
    expect(checkRtuFrame(hex('01 03 00'))).toEqual({ ok: false, reason: 'short' });
  });

  it('detects every single-bit flip, anywhere in the frame', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: 1, maxLength: 252 }),
        fc.nat(),
        (unit, pdu, pick) => {
          const frame = encodeRtuFrame(unit, pdu);
          const bit = pick % (frame.length * 8);
          const flipped = frame.slice();
          flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
          expect(checkRtuFrame(flipped)).toEqual({ ok: false, reason: 'crc' });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('detects every burst error of up to 16 bits', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 60 }),
        fc.nat(),
        fc.integer({ min: 1, max: 0xffff }),
        (pdu, pick, pattern) => {
          const frame = encodeRtuFrame(1, pdu);
          // XOR a 16-bit pattern starting at any bit: a burst no longer than 16 bits.
          const start = pick % (frame.length * 8 - 16);
          const corrupted = frame.slice();
          for (let i = 0; i < 16; i++) {
            if ((pattern >> i) & 1) {
              const b = start + i;
              corrupted[b >> 3] = corrupted[b >> 3]! ^ (1 << (b & 7));
            }
          }
          expect(crcOk(corrupted)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('requestLength', () => {
  it('knows reads and single writes (8 bytes) and multiple writes (9 + byte count)', () => {
    expect(requestLength(READ_1, 1)).toBeUndefined();
    for (const f of [1, 2, 3, 4, 5, 6]) expect(requestLength(Uint8Array.of(1, f), 2)).toBe(8);
    expect(requestLength(hex('01 10 00 00 00 02'), 6)).toBeUndefined();
    expect(requestLength(hex('01 10 00 00 00 02 04'), 7)).toBe(13);
    expect(requestLength(hex('01 0f 00 00 00 0a 02'), 7)).toBe(11);
    expect(requestLength(hex('01 2b 0e'), 3)).toBeUndefined(); // unknown: by silence alone
  });

  it('silence gap is 3.5 characters of 11 bits, 1.75 ms above 19200 baud', () => {
    expect(silenceGapMs(9600)).toBeCloseTo(4.01, 2);
    expect(silenceGapMs(19200)).toBeCloseTo(2.005, 3);
    expect(silenceGapMs(38400)).toBe(1.75);
    expect(silenceGapMs(115200)).toBe(1.75);
  });
});

describe('RtuFramer, byte by byte', () => {
  it('eager: a read request is a frame the moment its eighth byte arrives', () => {
    const framer = new RtuFramer({ gapMs: 2 });
    for (let i = 0; i < READ_1.length - 1; i++) {
      expect(framer.push(READ_1.subarray(i, i + 1), i * 0.1)).toEqual([]);
      expect(framer.deadline).toBeCloseTo(i * 0.1 + 2);
    }
    expect(frames(framer.push(READ_1.subarray(7), 0.7))).toEqual(['010300000001840a']);
    expect(framer.pending).toBe(false);
    expect(framer.deadline).toBeUndefined();
  });

  it('not eager: the frame ends only after the silence gap', () => {
    const framer = new RtuFramer({ gapMs: 2, eager: false });
    READ_1.forEach((b, i) => expect(framer.push(Uint8Array.of(b), i * 0.1)).toEqual([]));
    expect(framer.idle(2.6)).toEqual([]); // 1.9 ms after the last byte
    expect(frames(framer.idle(2.7))).toEqual(['010300000001840a']);
    expect(framer.idle(10)).toEqual([]);
  });

  it('a silence inside a frame cuts it: both halves come out as frames (and fail their CRC)', () => {
    const framer = new RtuFramer({ gapMs: 2 });
    expect(framer.push(READ_1.subarray(0, 3), 0)).toEqual([]);
    const cut = framer.push(READ_1.subarray(3), 5); // 5 ms later
    expect(frames(cut)).toEqual(['010300']);
    expect(frames(framer.idle(7))).toEqual(['000001840a']);
  });

  it('a request whose CRC is wrong at its length is held until the silence', () => {
    const framer = new RtuFramer({ gapMs: 2 });
    const bad = hex('01 03 00 00 00 01 0a 84');
    expect(framer.push(bad, 0)).toEqual([]);
    const out = framer.idle(2);
    expect(frames(out)).toEqual(['0103000000010a84']);
    expect(out[0]?.type === 'frame' && checkRtuFrame(out[0].bytes)).toEqual({
      ok: false,
      reason: 'crc',
    });
  });

  it('eager: two requests back to back in one chunk are two frames', () => {
    const framer = new RtuFramer({ gapMs: 2 });
    const second = encodeRtuFrame(7, hex('04 00 10 00 02'));
    expect(frames(framer.push(Buffer.concat([READ_1, second]), 0))).toEqual([
      '010300000001840a',
      Buffer.from(second).toString('hex'),
    ]);
  });

  it('functions of unknown length end at the silence', () => {
    const framer = new RtuFramer({ gapMs: 1.75 });
    const frame = encodeRtuFrame(1, hex('2b 0e 01 00'));
    expect(framer.push(frame, 0)).toEqual([]);
    expect(frames(framer.idle(1.75))).toEqual([Buffer.from(frame).toString('hex')]);
  });

  it('more than 256 bytes without a silence are dropped as one overrun', () => {
    const framer = new RtuFramer({ gapMs: 2, eager: false });
    expect(framer.push(new Uint8Array(300).fill(0x55), 0)).toEqual([]);
    expect(framer.push(new Uint8Array(10).fill(0x55), 1)).toEqual([]);
    expect(frames(framer.idle(3))).toEqual(['overrun:310']);
    expect(frames(framer.push(READ_1, 10))).toEqual([]);
    expect(frames(framer.idle(12))).toEqual(['010300000001840a']);
    expect(MAX_RTU_FRAME).toBe(256);
  });

  it('reset drops a partial frame', () => {
    const framer = new RtuFramer({ gapMs: 2 });
    framer.push(READ_1.subarray(0, 4), 0);
    framer.reset();
    expect(framer.pending).toBe(false);
    expect(framer.idle(100)).toEqual([]);
  });

  it('rejects a gap that is not a finite number ≥ 0', () => {
    expect(() => new RtuFramer({ gapMs: -1 })).toThrow(RangeError);
    expect(() => new RtuFramer({ gapMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('RtuFramer: properties', () => {
  /** Cuts `bytes` into chunks at the given (sorted, deduplicated) points. */
  function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
    const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    const out: Uint8Array[] = [];
    let at = 0;
    for (const p of [...points, bytes.length]) {
      if (p > at) out.push(bytes.subarray(at, p));
      at = Math.max(at, p);
    }
    return out;
  }

  const request = fc
    .record({
      unit: fc.integer({ min: 0, max: 255 }),
      fn: fc.integer({ min: 1, max: 4 }),
      address: fc.integer({ min: 0, max: 0xffff }),
      count: fc.integer({ min: 0, max: 0xffff }),
    })
    .map(({ unit, fn, address, count }) =>
      encodeRtuFrame(
        unit,
        Uint8Array.of(fn, address >> 8, address & 0xff, count >> 8, count & 0xff),
      ),
    );

  it('frames separated by silences come out exactly, however each is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(request, fc.array(fc.nat(), { maxLength: 8 })), {
          minLength: 1,
          maxLength: 10,
        }),
        fc.boolean(),
        (list, eager) => {
          const framer = new RtuFramer({ gapMs: 2, eager });
          const got: RtuFramerEvent[] = [];
          let t = 0;
          for (const [frame, cuts] of list) {
            for (const piece of chunk(frame, cuts)) {
              got.push(...framer.push(piece, t));
              t += 0.1; // bytes of one frame arrive well inside the gap
            }
            t += 3; // silence between frames
          }
          got.push(...framer.idle(t));
          expect(frames(got)).toEqual(list.map(([f]) => Buffer.from(f).toString('hex')));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('eager: requests back to back with no silence at all still come out exactly', () => {
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (list, cuts) => {
          const framer = new RtuFramer({ gapMs: 2 });
          const stream = Buffer.concat(list);
          const got: RtuFramerEvent[] = [];
          for (const piece of chunk(stream, cuts)) got.push(...framer.push(piece, 0));
          got.push(...framer.idle(2));
          expect(frames(got)).toEqual(list.map((f) => Buffer.from(f).toString('hex')));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random bytes at random times never crash it, and every byte is accounted for', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.uint8Array({ maxLength: 400 }), fc.double({ min: 0, max: 5, noNaN: true })),
          {
            maxLength: 30,
          },
        ),
        fc.boolean(),
        fc.double({ min: 0, max: 4, noNaN: true }),
        (chunks, eager, gapMs) => {
          const framer = new RtuFramer({ gapMs, eager });
          const events: RtuFramerEvent[] = [];
          let t = 0;
          let total = 0;
          for (const [bytes, dt] of chunks) {
            t += dt;
            total += bytes.length;
            events.push(...framer.push(bytes, t));
            events.push(...framer.idle(t + dt / 2));
          }
          events.push(...framer.idle(t + gapMs));
          expect(framer.pending).toBe(false);
          let accounted = 0;
          for (const e of events) {
            if (e.type === 'frame') {
              expect(e.bytes.length).toBeGreaterThan(0);
              expect(e.bytes.length).toBeLessThanOrEqual(MAX_RTU_FRAME);
              accounted += e.bytes.length;
            } else {
              expect(e.bytes).toBeGreaterThan(MAX_RTU_FRAME);
              accounted += e.bytes;
            }
            // The checker never throws either.
            if (e.type === 'frame') expect(typeof checkRtuFrame(e.bytes).ok).toBe('boolean');
          }
          expect(accounted).toBe(total);
        },
      ),
      { numRuns: 300 },
    );
  });
});
