import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModbusExceptionCodes, SimModbusExceptionError } from './errors.js';
import { answerPdu, exceptionPdu } from './modbus-pdu.js';
import type { RegisterTable } from './registers.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const show = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Holding/input registers hold their address + 0x1000 (input: + 0x2000); bits alternate. */
function reader(table: RegisterTable, address: number, count: number): number[] {
  if (address + count > 1000) {
    throw new SimModbusExceptionError(ModbusExceptionCodes.ILLEGAL_DATA_ADDRESS, 'unmapped');
  }
  return Array.from({ length: count }, (_, i) => {
    const a = address + i;
    if (table === 'holding') return 0x1000 + a;
    if (table === 'input') return 0x2000 + a;
    return table === 'coil' ? a % 2 : (a + 1) % 2;
  });
}

describe('answerPdu: reads', () => {
  it('function 3 and 4: byte count, then big-endian registers', () => {
    expect(show(answerPdu(hex('03 0005 0002'), reader))).toBe('0304' + '1005' + '1006');
    expect(show(answerPdu(hex('04 0000 0001'), reader))).toBe('0402' + '2000');
  });

  it('function 1 and 2: bits packed least significant first, padded to whole bytes', () => {
    // coils 0..9 = 0,1,0,1,...: bits 1,3,5,7 of byte 0 = 0xaa; bit 1 of byte 1 = 0x02.
    expect(show(answerPdu(hex('01 0000 000a'), reader))).toBe('0102' + 'aa02');
    // discrete inputs 0..2 = 1,0,1 → 0b101.
    expect(show(answerPdu(hex('02 0000 0003'), reader))).toBe('0201' + '05');
    // 2000 bits is the most one read may ask for.
    expect(answerPdu(hex('02 0000 07d0'), () => new Array<number>(2000).fill(1))).toHaveLength(
      2 + 250,
    );
  });

  it('every bit and register comes back in place (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4),
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 125 }),
        (fn, address, count) => {
          const table = (['coil', 'discrete', 'holding', 'input'] as const)[fn - 1]!;
          const pdu = answerPdu(Uint8Array.of(fn, address >> 8, address & 0xff, 0, count), reader);
          const expected = reader(table, address, count);
          expect(pdu[0]).toBe(fn);
          for (let i = 0; i < count; i++) {
            const got =
              fn <= 2
                ? (pdu[2 + (i >> 3)]! >> (i & 7)) & 1
                : (pdu[2 + 2 * i]! << 8) | pdu[3 + 2 * i]!;
            expect(got).toBe(expected[i]);
          }
        },
      ),
    );
  });
});

describe('answerPdu: exceptions', () => {
  const cases: Array<[string, string, string]> = [
    ['a count of 0', '03 0000 0000', '8303'],
    ['126 registers', '03 0000 007e', '8303'],
    ['2001 bits', '01 0000 07d1', '8103'],
    ['a request one byte short', '03 0000 00', '8303'],
    ['a request one byte long', '04 0000 0001 00', '8403'],
    ['a range past 65535', '03 ffff 0002', '8302'],
    ['an unmapped address (the reader says so)', '03 03e7 0002', '8302'],
    ['a write of one register (read-only device)', '06 0000 0001', '8601'],
    ['a write of many registers', '10 0000 0001 02 0001', '9001'],
    ['a write of one coil', '05 0000 ff00', '8501'],
    ['an unknown function', '2b 0e 01 00', 'ab01'],
    ['an empty request', '', '8001'],
  ];
  for (const [what, request, reply] of cases) {
    it(`${what} → ${reply}`, () => {
      expect(show(answerPdu(hex(request), reader))).toBe(reply);
    });
  }

  it('a reader bug is exception 4 (server device failure), not a crash', () => {
    const buggy = (): number[] => {
      throw new Error('bug');
    };
    expect(show(answerPdu(hex('03 0000 0001'), buggy))).toBe('8304');
    expect(show(answerPdu(hex('03 0000 0002'), () => [1]))).toBe('8304'); // too few values
  });

  it('exceptionPdu sets the high bit of the function', () => {
    expect(show(exceptionPdu(3, 6))).toBe('8306');
  });

  it('never throws on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 260 }), (bytes) => {
        const reply = answerPdu(bytes, reader);
        expect(reply.length).toBeGreaterThanOrEqual(2);
      }),
    );
  });
});
