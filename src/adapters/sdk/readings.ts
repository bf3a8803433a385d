import type { CounterReading } from '../types.js';
import type { SdkCounter } from './types.js';

const f32 = new DataView(new ArrayBuffer(4));

/**
 * An SDK counter as telemetry carries it; undefined when it has no usable value (NaN, ±∞).
 * With a resolution, raw = round(value / resolution) with that scale; otherwise a safe integer
 * travels as itself and anything else as the IEEE-754 float32 bit pattern.
 */
export function toReading(c: SdkCounter, resolution?: number): CounterReading | undefined {
  if (!Number.isFinite(c.value)) return undefined;
  const base = { name: c.name, unit: c.unit, offset: 0 };
  const res = resolution ?? c.resolution;
  if (res !== undefined && Number.isFinite(res) && res > 0) {
    const raw = Math.round(c.value / res);
    if (Number.isSafeInteger(raw)) {
      // Round away binary noise from the scale (0.1 * 3 = 0.30000000000000004).
      const value = Number((raw * res).toPrecision(12));
      return { ...base, raw, rawKind: 'integer', value, scale: res };
    }
  }
  if (Number.isSafeInteger(c.value)) {
    return { ...base, raw: c.value, rawKind: 'integer', value: c.value, scale: 1 };
  }
  f32.setFloat32(0, c.value);
  return { ...base, raw: f32.getUint32(0), rawKind: 'float32', value: f32.getFloat32(0), scale: 1 };
}

/** The chunks of a log, joined. */
export function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
