/**
 * CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), as used by iSCSI, ext4
 * and SCTP. Table-driven, slicing by 16: sixteen 256-entry tables, sixteen bytes per step, read
 * as four 32-bit words where the host is little-endian (else eight bytes per step, byte by
 * byte). Pure.
 */
const POLY = 0x82f63b78;

const TABLE = ((): Int32Array => {
  const t = new Int32Array(16 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 16; s++) {
      const prev = t[(s - 1) * 256 + i]!;
      t[s * 256 + i] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
})();

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The CRC-32C of `data[start, end)`. Pass a previous result as `crc` to continue a running
 * checksum over several pieces: `crc32c(b, 0, b.length, crc32c(a))` equals the CRC of `a ‖ b`.
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, crc = 0): number {
  const t = TABLE;
  let c = ~crc;
  let i = start;
  if (LITTLE_ENDIAN && end - i >= 64) {
    // Up to a 4-byte boundary of the underlying buffer, then 16 bytes (four words) a step.
    while (((data.byteOffset + i) & 3) !== 0) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
    const steps = (end - i) >>> 4;
    const w = new Int32Array(data.buffer, data.byteOffset + i, steps * 4);
    for (let k = 0; k < w.length; k += 4) {
      const a = c ^ w[k]!;
      const b = w[k + 1]!;
      const d = w[k + 2]!;
      const e = w[k + 3]!;
      c =
        t[15 * 256 + (a & 0xff)]! ^
        t[14 * 256 + ((a >>> 8) & 0xff)]! ^
        t[13 * 256 + ((a >>> 16) & 0xff)]! ^
        t[12 * 256 + (a >>> 24)]! ^
        t[11 * 256 + (b & 0xff)]! ^
        t[10 * 256 + ((b >>> 8) & 0xff)]! ^
        t[9 * 256 + ((b >>> 16) & 0xff)]! ^
        t[8 * 256 + (b >>> 24)]! ^
        t[7 * 256 + (d & 0xff)]! ^
        t[6 * 256 + ((d >>> 8) & 0xff)]! ^
        t[5 * 256 + ((d >>> 16) & 0xff)]! ^
        t[4 * 256 + (d >>> 24)]! ^
        t[3 * 256 + (e & 0xff)]! ^
        t[2 * 256 + ((e >>> 8) & 0xff)]! ^
        t[256 + ((e >>> 16) & 0xff)]! ^
        t[e >>> 24]!;
    }
    i += steps * 16;
  }
  while (end - i >= 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      t[7 * 256 + (a & 0xff)]! ^
      t[6 * 256 + ((a >>> 8) & 0xff)]! ^
      t[5 * 256 + ((a >>> 16) & 0xff)]! ^
      t[4 * 256 + (a >>> 24)]! ^
      t[3 * 256 + data[i + 4]!]! ^
      t[2 * 256 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = t[(c ^ data[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
