import type { CounterDef } from './register-map.js';

/** Register words read from the device, addressed by table and protocol address. */
export interface RegisterImage {
  /** A register word, or for the coil/discrete tables a bit as 0/1. */
  get(table: CounterDef['table'], address: number): number | undefined;
}

/**
 * Decodes one counter's raw value from register words (for `bool`, from a bit read as 0/1).
 * Returns undefined when a register it needs was not read. 32-bit values honour the word order; signed types are two's complement.
 * Raw values are always integers: for float32 the raw value is the 32-bit IEEE-754 pattern
 * (telemetry carries it losslessly; {@link engineering} turns it into the number).
 */
export function decodeRaw(def: CounterDef, image: RegisterImage): number | undefined {
  const w0 = image.get(def.table, def.address);
  if (w0 === undefined) return undefined;
  switch (def.type) {
    case 'bool':
      return w0 === 0 ? 0 : 1;
    case 'u16':
      return w0;
    case 'i16':
      return w0 >= 0x8000 ? w0 - 0x10000 : w0;
  }
  const w1 = image.get(def.table, def.address + 1);
  if (w1 === undefined) return undefined;
  const [hi, lo] = def.wordOrder === 'big' ? [w0, w1] : [w1, w0];
  const u32 = hi * 0x10000 + lo;
  switch (def.type) {
    case 'u32':
    case 'float32':
      return u32;
    case 'i32':
      return u32 >= 0x80000000 ? u32 - 0x100000000 : u32;
  }
}

const f32 = new DataView(new ArrayBuffer(4));

/** The number a float32 raw bit pattern stands for. */
export function float32FromBits(bits: number): number {
  f32.setUint32(0, bits >>> 0);
  return f32.getFloat32(0);
}

/** Engineering value of a raw reading. */
export function engineering(def: CounterDef, raw: number): number {
  // Round away binary noise from the scale (0.1 * 3 = 0.30000000000000004).
  const base = def.type === 'float32' ? float32FromBits(raw) : raw;
  return Number((base * def.scale + def.offset).toPrecision(12));
}
