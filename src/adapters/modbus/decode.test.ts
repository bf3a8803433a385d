import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRaw, engineering, float32FromBits, type RegisterImage } from './decode.js';
import type { CounterDef, RegisterTable, RegisterType, WordOrder } from './register-map.js';

function def(type: RegisterType, overrides: Partial<CounterDef> = {}): CounterDef {
  return {
    name: 'c',
    table: 'holding',
    address: 10,
    type,
    wordOrder: 'big',
    scale: 1,
    offset: 0,
    unit: '',
    ...overrides,
  };
}

/** A register image holding `words` from `address` on in `table`. */
function image(
  words: readonly number[],
  address = 10,
  table: RegisterTable = 'holding',
): RegisterImage {
  const m = new Map<string, number>();
  words.forEach((w, i) => m.set(`${table}:${address + i}`, w));
  return { get: (t, a) => m.get(`${t}:${a}`) };
}

// ---- An encoder written independently of decode.ts (what the device would put in registers).

function float32Bits(value: number): number {
  const b = Buffer.alloc(4);
  b.writeFloatBE(value);
  return b.readUInt32BE(0);
}

function float32Value(bits: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(bits);
  return b.readFloatBE(0);
}

/** The unsigned 32-bit pattern the device stores for `value` of `type`. */
function bits32(type: RegisterType, value: number): number {
  switch (type) {
    case 'u32':
      return value;
    case 'i32':
      return value < 0 ? value + 2 ** 32 : value;
    case 'float32':
      return float32Bits(value);
    default:
      throw new Error(`not a 32-bit type: ${type}`);
  }
}

function encodeWords(type: RegisterType, value: number, wordOrder: WordOrder): number[] {
  if (type === 'u16') return [value];
  if (type === 'i16') return [value < 0 ? value + 0x10000 : value];
  const u = bits32(type, value);
  const hi = Math.floor(u / 0x10000);
  const lo = u % 0x10000;
  return wordOrder === 'big' ? [hi, lo] : [lo, hi];
}

describe('decodeRaw: exact register words', () => {
  it('u16 is the word itself', () => {
    expect(decodeRaw(def('u16'), image([0]))).toBe(0);
    expect(decodeRaw(def('u16'), image([0x8000]))).toBe(32768);
    expect(decodeRaw(def('u16'), image([0xffff]))).toBe(65535);
  });

  it('i16 is two’s complement', () => {
    expect(decodeRaw(def('i16'), image([0x7fff]))).toBe(32767);
    expect(decodeRaw(def('i16'), image([0x8000]))).toBe(-32768);
    expect(decodeRaw(def('i16'), image([0xffff]))).toBe(-1);
    expect(decodeRaw(def('i16'), image([0xffce]))).toBe(-50);
    expect(decodeRaw(def('i16'), image([0]))).toBe(0);
  });

  it('u32 honours the word order', () => {
    expect(decodeRaw(def('u32'), image([0x1234, 0x5678]))).toBe(0x12345678);
    expect(decodeRaw(def('u32', { wordOrder: 'little' }), image([0x1234, 0x5678]))).toBe(
      0x56781234,
    );
    expect(decodeRaw(def('u32'), image([0xffff, 0xffff]))).toBe(4294967295);
    expect(decodeRaw(def('u32'), image([0x0001, 0x86a0]))).toBe(100_000);
  });

  it('i32 is two’s complement in either word order', () => {
    expect(decodeRaw(def('i32'), image([0xffff, 0xfffe]))).toBe(-2);
    expect(decodeRaw(def('i32', { wordOrder: 'little' }), image([0xfffe, 0xffff]))).toBe(-2);
    expect(decodeRaw(def('i32'), image([0x8000, 0x0000]))).toBe(-2147483648);
    expect(decodeRaw(def('i32'), image([0x7fff, 0xffff]))).toBe(2147483647);
    expect(decodeRaw(def('i32', { wordOrder: 'little' }), image([0xfed4, 0xffff]))).toBe(-300);
    // The low word alone having its top bit set does not make the value negative.
    expect(decodeRaw(def('i32'), image([0x0000, 0x8000]))).toBe(32768);
  });

  it('float32 raw is the IEEE-754 bit pattern, assembled in word order', () => {
    expect(decodeRaw(def('float32'), image([0x3fc0, 0x0000]))).toBe(0x3fc00000);
    expect(decodeRaw(def('float32', { wordOrder: 'little' }), image([0x0000, 0x3fc0]))).toBe(
      0x3fc00000,
    );
    expect(decodeRaw(def('float32'), image([0xc010, 0x0000]))).toBe(0xc0100000);
  });

  it('reads its words at the counter’s own address', () => {
    const img = image([0x0001, 0x0002, 0x0003], 20);
    expect(decodeRaw(def('u16', { address: 21 }), img)).toBe(2);
    expect(decodeRaw(def('u32', { address: 21 }), img)).toBe(0x00020003);
    expect(decodeRaw(def('u32', { address: 20, wordOrder: 'little' }), img)).toBe(0x00020001);
  });
});

describe('decodeRaw: missing registers', () => {
  it('is undefined when the first word was not read', () => {
    for (const t of ['u16', 'i16', 'u32', 'i32', 'float32'] as const) {
      expect(decodeRaw(def(t), image([1, 2], 11))).toBeUndefined();
    }
  });

  it('is undefined for a 32-bit type when only the first word was read', () => {
    for (const t of ['u32', 'i32', 'float32'] as const) {
      expect(decodeRaw(def(t), image([1]))).toBeUndefined();
      expect(decodeRaw(def(t, { wordOrder: 'little' }), image([1]))).toBeUndefined();
    }
  });

  it('does not take words from the other table', () => {
    const img = image([7, 8], 10, 'input');
    expect(decodeRaw(def('u16'), img)).toBeUndefined();
    expect(decodeRaw(def('u16', { table: 'input' }), img)).toBe(7);
    expect(decodeRaw(def('u32', { table: 'input' }), img)).toBe(0x00070008);
  });
});

describe('engineering', () => {
  it('applies scale and offset to integer types', () => {
    expect(engineering(def('u16', { scale: 0.1 }), 875)).toBe(87.5);
    expect(engineering(def('i16', { scale: 0.1 }), -50)).toBe(-5);
    expect(engineering(def('u16', { scale: 0.5, offset: -40 }), 100)).toBe(10);
    expect(engineering(def('u32', { scale: 0.1 }), 1_234_567)).toBe(123_456.7);
    expect(engineering(def('u16'), 42)).toBe(42);
  });

  it('rounds away binary noise from the scale', () => {
    // 3 * 0.1 is 0.30000000000000004 in binary floating point.
    expect(engineering(def('u16', { scale: 0.1 }), 3)).toBe(0.3);
    expect(engineering(def('u16', { scale: 0.1, offset: 0.2 }), 1)).toBe(0.3);
  });

  it('reads float32 raw values as bit patterns before scaling', () => {
    expect(engineering(def('float32'), 0x3fc00000)).toBe(1.5);
    expect(engineering(def('float32'), 0xc0100000)).toBe(-2.25);
    expect(engineering(def('float32', { scale: 0.1, offset: -40 }), 0x41200000)).toBe(-39);
    expect(engineering(def('float32'), 0x7f800000)).toBe(Infinity);
    expect(engineering(def('float32'), 0x7fc00000)).toBeNaN();
    // The same bits as an integer type are just a number.
    expect(engineering(def('u32'), 0x3fc00000)).toBe(0x3fc00000);
  });

  it('float32FromBits agrees with Buffer for every bit pattern', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (bits) => {
        const expected = float32Value(bits);
        const actual = float32FromBits(bits);
        expect(Number.isNaN(actual) ? Number.isNaN(expected) : Object.is(actual, expected)).toBe(
          true,
        );
      }),
    );
  });
});

describe('decodeRaw: property against an independent encoder', () => {
  const orders = fc.constantFrom<WordOrder>('big', 'little');
  const address = fc.integer({ min: 0, max: 65534 });
  const cases: Array<[RegisterType, fc.Arbitrary<number>]> = [
    ['u16', fc.integer({ min: 0, max: 0xffff })],
    ['i16', fc.integer({ min: -0x8000, max: 0x7fff })],
    ['u32', fc.integer({ min: 0, max: 2 ** 32 - 1 })],
    ['i32', fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })],
  ];

  for (const [type, values] of cases) {
    it(`${type}: the decoded raw value is the encoded value, in either word order`, () => {
      fc.assert(
        fc.property(values, orders, address, (value, wordOrder, at) => {
          const d = def(type, { wordOrder, address: at });
          const raw = decodeRaw(d, image(encodeWords(type, value, wordOrder), at));
          expect(raw).toBe(value);
          expect(engineering(d, raw!)).toBe(value);
        }),
      );
    });
  }

  it('float32: raw is the bit pattern and engineering gives back the float32 value', () => {
    fc.assert(
      fc.property(fc.float(), orders, address, (value, wordOrder, at) => {
        const d = def('float32', { wordOrder, address: at });
        const raw = decodeRaw(d, image(encodeWords('float32', value, wordOrder), at));
        expect(raw).toBe(float32Bits(value));
        const eng = engineering(d, raw!);
        if (Number.isNaN(value)) {
          expect(eng).toBeNaN();
        } else {
          // engineering() rounds to 12 significant digits, which keeps every float32 exact:
          // rounding the result back to float32 gives the value the device held.
          expect(Math.fround(eng) === Math.fround(value)).toBe(true);
          if (Number.isFinite(value))
            expect(Math.abs(eng - Math.fround(value))).toBeLessThanOrEqual(
              Math.abs(Math.fround(value)) * 1e-11,
            );
        }
      }),
    );
  });

  it('float32: every bit pattern decodes from its words in either order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), orders, (bits, wordOrder) => {
        const hi = Math.floor(bits / 0x10000);
        const lo = bits % 0x10000;
        const words = wordOrder === 'big' ? [hi, lo] : [lo, hi];
        expect(decodeRaw(def('float32', { wordOrder }), image(words))).toBe(bits);
      }),
    );
  });
});

describe('decodeRaw: bool (coils and discrete inputs)', () => {
  const bit = (overrides: Partial<CounterDef> = {}): CounterDef =>
    def('bool', { table: 'discrete', ...overrides });
  const bits = (values: number[], table: 'coil' | 'discrete' = 'discrete'): RegisterImage => {
    const m = new Map<string, number>();
    values.forEach((v, i) => m.set(`${table}:${10 + i}`, v));
    return { get: (t, a) => m.get(`${t}:${a}`) };
  };

  it('is 0 or 1', () => {
    expect(decodeRaw(bit(), bits([0]))).toBe(0);
    expect(decodeRaw(bit(), bits([1]))).toBe(1);
    expect(decodeRaw(bit({ table: 'coil' }), bits([1], 'coil'))).toBe(1);
  });

  it('reads a bit from its own table only', () => {
    expect(decodeRaw(bit({ table: 'coil' }), bits([1], 'discrete'))).toBeUndefined();
    expect(decodeRaw(bit(), image([1]))).toBeUndefined();
  });

  it('applies scale and offset like any counter (an inverted contact: -1 and +1)', () => {
    const inverted = bit({ scale: -1, offset: 1 });
    expect(engineering(inverted, 1)).toBe(0);
    expect(engineering(inverted, 0)).toBe(1);
  });
});
