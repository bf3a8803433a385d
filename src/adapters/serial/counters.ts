import { ConfigError } from '../errors.js';
import type { RegisterMap } from '../modbus/register-map.js';
import type { CounterReading } from '../types.js';
import { keyValues, parseDecimal } from './protocol.js';

/** One counter to report from a `COUNTERS` reply. */
export interface SerialCounterDef {
  /** As the controller names it. */
  name: string;
  /** Engineering unit (the wire carries none). Default ''. */
  unit?: string;
  /**
   * Resolution of the raw integer telemetry carries: raw = round((value − offset) / scale).
   * Default: the decimals the controller printed (`24.3` → 0.1), which is lossless.
   */
  scale?: number;
  offset?: number;
}

/**
 * Counter definitions from a Modbus register map of the same controller: the same names, units,
 * scales and offsets, so the service port yields the same raw integers as the registers.
 */
export function serialCountersFromRegisterMap(map: RegisterMap): SerialCounterDef[] {
  return map.counters.map((c) => ({
    name: c.name,
    unit: c.unit,
    scale: c.scale,
    offset: c.offset,
  }));
}

/** Checks counter definitions (names unique, scales positive). */
export function checkCounterDefs(defs: readonly SerialCounterDef[]): readonly SerialCounterDef[] {
  const seen = new Set<string>();
  defs.forEach((d, i) => {
    if (typeof d.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(d.name))
      throw new ConfigError('must be 1-64 of A-Z a-z 0-9 _ . -', `counters[${i}].name`);
    if (seen.has(d.name))
      throw new ConfigError(`duplicate counter ${d.name}`, `counters[${i}].name`);
    seen.add(d.name);
    if (d.scale !== undefined && !(Number.isFinite(d.scale) && d.scale > 0))
      throw new ConfigError('must be a positive number', `counters[${i}].scale`);
    if (d.offset !== undefined && !Number.isFinite(d.offset))
      throw new ConfigError('must be a finite number', `counters[${i}].offset`);
  });
  return defs;
}

/**
 * The counters of a `COUNTERS` reply (`name=value` fields): the configured ones in their order
 * (absent or unreadable ones in `missing`), or every one the controller sent.
 */
export function readCounters(
  fields: readonly string[],
  defs: readonly SerialCounterDef[] | undefined,
): { counters: CounterReading[]; missing: string[] } {
  const values = new Map(keyValues('COUNTERS', fields));
  const wanted: readonly SerialCounterDef[] = defs ?? [...values.keys()].map((name) => ({ name }));
  const counters: CounterReading[] = [];
  const missing: string[] = [];
  for (const d of wanted) {
    const text = values.get(d.name);
    const dec = text === undefined ? undefined : parseDecimal(text);
    if (dec === undefined) {
      missing.push(d.name);
      continue;
    }
    const offset = d.offset ?? 0;
    const scale = d.scale ?? dec.scale;
    const raw =
      d.scale === undefined && offset === 0 ? dec.raw : Math.round((dec.value - offset) / scale);
    counters.push({ name: d.name, raw, value: dec.value, unit: d.unit ?? '', scale, offset });
  }
  return { counters, missing };
}
