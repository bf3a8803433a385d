const f32 = new DataView(new ArrayBuffer(4));

/** The number a float32 raw bit pattern (RawKind FLOAT32_BITS) stands for. */
export function float32FromBits(bits: number): number {
  f32.setUint32(0, bits >>> 0);
  return f32.getFloat32(0);
}
