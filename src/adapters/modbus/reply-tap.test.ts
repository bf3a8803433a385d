import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyRtuLeftover, classifyTcpLeftover, rtuReplyLength } from './reply-tap.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('rtuReplyLength', () => {
  it('is unit + function + byte count + data + CRC', () => {
    expect(rtuReplyLength(3, 1)).toBe(7);
    expect(rtuReplyLength(4, 125)).toBe(255);
    expect(rtuReplyLength(1, 1)).toBe(6);
    expect(rtuReplyLength(2, 8)).toBe(6);
    expect(rtuReplyLength(2, 9)).toBe(7);
    expect(rtuReplyLength(1, 2000)).toBe(255);
  });
});

describe('classifyRtuLeftover', () => {
  // The reply to "unit 1, read 2 holding registers": 01 03 04 00 0a 00 0b <crc lo> <crc hi>.
  const reply = hex('01 03 04 00 0a 00 0b 9b f6');

  it('nothing is a timeout', () => {
    expect(classifyRtuLeftover(new Uint8Array(0), 1, 3, 2)).toBe('none');
  });

  it('every proper prefix of the reply, byte by byte, is a reply cut short', () => {
    for (let n = 1; n < reply.length; n++) {
      expect(classifyRtuLeftover(reply.subarray(0, n), 1, 3, 2), `${n} bytes`).toBe('partial');
    }
  });

  it('prefixes of an exception reply are cut short too', () => {
    const exception = hex('01 83 02 c0 f1');
    for (let n = 1; n < exception.length; n++) {
      expect(classifyRtuLeftover(exception.subarray(0, n), 1, 3, 2)).toBe('partial');
    }
  });

  it('bytes that are not our reply are garbage', () => {
    expect(classifyRtuLeftover(hex('02 03 04'), 1, 3, 2)).toBe('garbage'); // another unit
    expect(classifyRtuLeftover(hex('01 04 04'), 1, 3, 2)).toBe('garbage'); // another function
    expect(classifyRtuLeftover(hex('01 03 06 00'), 1, 3, 2)).toBe('garbage'); // wrong byte count
    expect(classifyRtuLeftover(hex('ff 00 12 34 56'), 1, 3, 2)).toBe('garbage');
    // As long as the whole reply or longer, yet never completed: not a short reply.
    expect(classifyRtuLeftover(reply, 1, 3, 2)).toBe('garbage');
  });

  it('coil replies: byte count is ceil(bits / 8)', () => {
    expect(classifyRtuLeftover(hex('01 01 02 ff'), 1, 1, 9)).toBe('partial');
    expect(classifyRtuLeftover(hex('01 01 01 ff'), 1, 1, 9)).toBe('garbage');
  });

  it('never throws, and only says partial for a prefix of a reply to us', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 247 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 125 }),
        (bytes, unit, fcode, count) => {
          const kind = classifyRtuLeftover(bytes, unit, fcode, count);
          if (kind === 'partial') {
            expect(bytes[0]).toBe(unit);
            expect(bytes.length).toBeLessThan(rtuReplyLength(fcode, count));
          }
          expect(kind === 'none').toBe(bytes.length === 0);
        },
      ),
    );
  });
});

describe('classifyTcpLeftover', () => {
  // Transaction 7, unit 1, read 1 holding register, value 0x1234.
  const adu = hex('0007 0000 0005 01 03 02 1234');

  it('nothing, or only whole frames, is a timeout', () => {
    expect(classifyTcpLeftover(new Uint8Array(0), 1)).toBe('none');
    expect(classifyTcpLeftover(adu, 1)).toBe('none');
    expect(classifyTcpLeftover(Buffer.concat([adu, adu]), 1)).toBe('none');
  });

  it('every proper prefix of an ADU, byte by byte, is a reply cut short', () => {
    for (let n = 1; n < adu.length; n++) {
      expect(classifyTcpLeftover(adu.subarray(0, n), 1), `${n} bytes`).toBe('partial');
      // ... also after a whole frame (a stale late reply) that the master ignored.
      expect(classifyTcpLeftover(Buffer.concat([adu, adu.subarray(0, n)]), 1)).toBe('partial');
    }
  });

  it('a header that cannot be Modbus TCP is garbage', () => {
    expect(classifyTcpLeftover(hex('0007 0001 0005 01 03'), 1)).toBe('garbage'); // protocol 1
    expect(classifyTcpLeftover(hex('0007 0000 9c40 01'), 1)).toBe('garbage'); // length 40000
    expect(classifyTcpLeftover(hex('0007 0000 0001 01'), 1)).toBe('garbage'); // length 1
    expect(classifyTcpLeftover(hex('0007 0000 0005 02 03'), 1)).toBe('garbage'); // unit 2
    expect(classifyTcpLeftover(hex('0007 05'), 1)).toBe('garbage'); // protocol byte set
    expect(classifyTcpLeftover(Buffer.concat([adu, hex('de ad be ef')]), 1)).toBe('garbage');
  });

  it('never throws on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 255 }), (b, u) => {
        expect(['none', 'partial', 'garbage']).toContain(classifyTcpLeftover(b, u));
      }),
    );
  });
});
