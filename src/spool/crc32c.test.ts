import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bit-at-a-time reference, straight from the definition. */
function reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it.each([
    ['empty', new Uint8Array(0), 0x00000000],
    ['"a"', ascii('a'), 0xc1d04330],
    ['"123456789" (the check value)', ascii('123456789'), 0xe3069283],
    ['32 zero bytes (RFC 3720 B.4)', new Uint8Array(32), 0x8a9136aa],
    ['32 0xFF bytes (RFC 3720 B.4)', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 ascending bytes (RFC 3720 B.4)', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    [
      '32 descending bytes (RFC 3720 B.4)',
      Uint8Array.from({ length: 32 }, (_, i) => 31 - i),
      0x113fdb5c,
    ],
    ['the quick brown fox', ascii('The quick brown fox jumps over the lazy dog'), 0x22620404],
  ])('%s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
    expect(reference(data)).toBe(expected);
  });

  it('matches the bitwise definition on any input, any slice', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, a, b) => {
        const start = data.length === 0 ? 0 : a % data.length;
        const end = start + (data.length === 0 ? 0 : b % (data.length - start + 1));
        expect(crc32c(data, start, end)).toBe(reference(data.subarray(start, end)));
      }),
    );
  });

  it('matches it on views at any offset of a larger buffer (the word-at-a-time path)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 600 }), fc.nat(7), (data, pad) => {
        const big = new Uint8Array(data.length + 8);
        big.set(data, pad);
        const view = big.subarray(pad, pad + data.length);
        expect(crc32c(view)).toBe(reference(data));
        expect(crc32c(view, 3, view.length - 1)).toBe(reference(data.subarray(3, -1)));
      }),
    );
  });

  it('continues a running checksum across pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
        const whole = new Uint8Array([...a, ...b]);
        expect(crc32c(b, 0, b.length, crc32c(a))).toBe(crc32c(whole));
      }),
    );
  });
});
