import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import { SimMapInvalidError, SimModbusExceptionError } from './errors.js';
import { ControllerModel } from './model.js';
import {
  defaultRegisterMap,
  encodeCounter,
  parseRegisterMap,
  RegisterImage,
  type RegisterType,
} from './registers.js';

const spec = (type: RegisterType, wordOrder: 'big' | 'little' = 'big', scale = 1, offset = 0) => ({
  type,
  wordOrder,
  scale,
  offset,
});

/** An independent decoder, written from the map's $comment, to check the encoder against. */
function decodeRaw(words: number[], type: RegisterType, wordOrder: 'big' | 'little'): number {
  const [a, b] = words as [number, number];
  if (type === 'u16') return a;
  if (type === 'i16') return a >= 0x8000 ? a - 0x10000 : a;
  const [hi, lo] = wordOrder === 'big' ? [a, b] : [b, a];
  const u = hi * 65536 + lo;
  return type === 'i32' && u >= 2 ** 31 ? u - 2 ** 32 : u;
}

const counterNames = defaultRegisterMap.counters.map((c) => c.name);
const clone = (): typeof registerMapJson =>
  JSON.parse(JSON.stringify(registerMapJson)) as typeof registerMapJson;

describe('encodeCounter', () => {
  it('encodes a negative temperature as i16 two’s complement', () => {
    expect(encodeCounter(-7.3, spec('i16', 'big', 0.1))).toEqual([0xffb7]);
    expect(encodeCounter(-0.1, spec('i16', 'big', 0.1))).toEqual([0xffff]);
    expect(encodeCounter(27.3, spec('i16', 'big', 0.1))).toEqual([273]);
  });

  it('puts the high word first for big and the low word first for little', () => {
    expect(encodeCounter(0x12345678, spec('u32', 'big'))).toEqual([0x1234, 0x5678]);
    expect(encodeCounter(0x12345678, spec('u32', 'little'))).toEqual([0x5678, 0x1234]);
    expect(encodeCounter(-100_000, spec('i32', 'big'))).toEqual([0xfffe, 0x7960]);
    expect(encodeCounter(-100_000, spec('i32', 'little'))).toEqual([0x7960, 0xfffe]);
    expect(encodeCounter(-2, spec('i32', 'little'))).toEqual([0xfffe, 0xffff]);
    expect(encodeCounter(2 ** 32 - 1, spec('u32', 'big'))).toEqual([0xffff, 0xffff]);
  });

  it('applies scale and offset: raw = round((value - offset) / scale)', () => {
    expect(encodeCounter(10, spec('u16', 'big', 0.5, -40))).toEqual([100]);
    expect(encodeCounter(429_496_729.5, spec('u32', 'big', 0.1))).toEqual([0xffff, 0xffff]);
  });

  it('saturates values outside the type range', () => {
    expect(encodeCounter(70_000, spec('u16'))).toEqual([0xffff]);
    expect(encodeCounter(-5, spec('u16'))).toEqual([0]);
    expect(encodeCounter(-5000, spec('i16', 'big', 0.1))).toEqual([0x8000]);
    expect(encodeCounter(2 ** 40, spec('i32', 'big'))).toEqual([0x7fff, 0xffff]);
  });

  it('round-trips every raw value of every type and word order through an independent decoder', () => {
    const ranges: Record<RegisterType, [number, number]> = {
      u16: [0, 0xffff],
      i16: [-0x8000, 0x7fff],
      u32: [0, 0xffff_ffff],
      i32: [-0x8000_0000, 0x7fff_ffff],
    };
    for (const type of Object.keys(ranges) as RegisterType[]) {
      const [min, max] = ranges[type];
      fc.assert(
        fc.property(
          fc.integer({ min, max }),
          fc.constantFrom<'big' | 'little'>('big', 'little'),
          fc.constantFrom(1, 0.1, 0.01, 2),
          fc.constantFrom(0, -40, 100),
          (raw, order, scale, offset) => {
            const words = encodeCounter(raw * scale + offset, spec(type, order, scale, offset));
            expect(words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)).toBe(true);
            expect(decodeRaw(words, type, order)).toBe(raw);
          },
        ),
        { numRuns: 300 },
      );
    }
  });
});

describe('RegisterImage', () => {
  it('lays out the model state exactly as protocols/register-map.json says', () => {
    const m = new ControllerModel({ workload: { enabled: false } });
    m.setExposures(0x0001_0002);
    m.setAmbient(-12);
    m.step(3_600_000);
    m.expose(80, 200, 100);
    m.step(120_000); // cooling since the exposure
    const image = new RegisterImage(defaultRegisterMap, counterNames);
    image.update(m.counters(), m.visibleCodes());
    const words = image.read('holding', 0, 18);
    const c = m.counters();
    expect(words.slice(0, 2)).toEqual([0x0001, 0x0003]); // exposures_total u32 big
    expect(c.detector_temp).toBeLessThan(-7);
    expect(words[5]).toBe(0x10000 + Math.round(c.detector_temp * 10)); // i16 two's complement
    expect(words[11]).toBe(1); // door_closed
    expect(words.slice(12, 14)).toEqual([0, 200]); // 20 mAs in 0.1 mAs, u32 big
    // heat_balance is negative while cooling: i32 little (low word first).
    expect(c.heat_balance).toBeLessThan(-100);
    const hb = 2 ** 32 + c.heat_balance;
    expect(words.slice(14, 16)).toEqual([hb % 65536, Math.floor(hb / 65536)]);
    expect(words.slice(9, 11)).toEqual([0, 3720]); // uptime u32 big
    expect(image.read('holding', 100, 8)).toEqual([3002, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('packs active codes from the first slot and empties the rest', () => {
    const image = new RegisterImage(defaultRegisterMap, counterNames);
    const zeros = Object.fromEntries(counterNames.map((n) => [n, 0]));
    image.update(zeros, [2002, 4001, 3003]);
    expect(image.read('holding', 100, 8)).toEqual([2002, 4001, 3003, 0, 0, 0, 0, 0]);
    image.update(zeros, [4001]);
    expect(image.read('holding', 100, 8)).toEqual([4001, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('answers unmapped addresses with exception 2 and bad counts with exception 3', () => {
    const image = new RegisterImage(defaultRegisterMap, counterNames);
    const exception = (f: () => unknown): number | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(SimModbusExceptionError);
        return (e as SimModbusExceptionError).modbusErrorCode;
      }
      return undefined;
    };
    expect(exception(() => image.read('holding', 18, 1))).toBe(2);
    expect(exception(() => image.read('holding', 16, 3))).toBe(2); // runs past the counters
    expect(exception(() => image.read('holding', 99, 2))).toBe(2);
    expect(exception(() => image.read('holding', 107, 2))).toBe(2); // past the last slot
    expect(exception(() => image.read('input', 0, 1))).toBe(2);
    expect(exception(() => image.read('holding', 0, 0))).toBe(3);
    expect(exception(() => image.read('holding', 0, 126))).toBe(3);
    expect(exception(() => image.read('holding', 17, 1))).toBeUndefined();
  });

  it('honours a changed map: new address, table, word order and scale', () => {
    const json = clone();
    const exposures = json.counters.find((c) => c.name === 'exposures_total') as {
      [k: string]: unknown;
    };
    Object.assign(exposures, { table: 'input', address: 40, wordOrder: 'little', scale: 2 });
    json.errors.address = 200;
    json.errors.slots = 2;
    const map = parseRegisterMap(json);
    const image = new RegisterImage(map, counterNames);
    const values = Object.fromEntries(counterNames.map((n) => [n, 0]));
    image.update({ ...values, exposures_total: 0x2_0000 * 2 + 2 }, [2001, 2002, 2003]);
    expect(image.read('input', 40, 2)).toEqual([1, 2]);
    expect(() => image.read('holding', 0, 2)).toThrow(SimModbusExceptionError);
    expect(image.read('holding', 200, 2)).toEqual([2001, 2002]);
    expect(() => image.read('holding', 100, 1)).toThrow(SimModbusExceptionError);
  });
});

describe('parseRegisterMap', () => {
  const invalid = (edit: (json: ReturnType<typeof clone>) => void): void => {
    const json = clone();
    edit(json);
    expect(() => parseRegisterMap(json)).toThrow(SimMapInvalidError);
  };
  const counter = (json: ReturnType<typeof clone>, name: string) =>
    json.counters.find((c) => c.name === name) as Record<string, unknown>;

  it('accepts the shipped map', () => {
    expect(defaultRegisterMap.unitId).toBe(1);
    expect(defaultRegisterMap.counters).toHaveLength(12);
    expect(defaultRegisterMap.errors).toEqual({ table: 'holding', address: 100, slots: 8 });
  });

  it('rejects overlaps, unknown types, missing word orders and zero scales', () => {
    invalid((j) => (counter(j, 'tube_heat').address = 1)); // overlaps exposures_total's low word
    invalid((j) => (j.errors.address = 17)); // overlaps error_events_total
    invalid((j) => (counter(j, 'last_ms').type = 'f32'));
    invalid((j) => delete counter(j, 'uptime').wordOrder);
    invalid((j) => (counter(j, 'uptime').wordOrder = 'middle'));
    invalid((j) => (counter(j, 'last_kv').scale = 0));
    invalid((j) => (counter(j, 'last_kv').address = 65_535.5));
    invalid((j) => (counter(j, 'uptime').address = 65_535)); // second word past the end
    invalid((j) => (counter(j, 'last_ma').name = 'last_kv'));
    invalid((j) => (j.unitId = 0));
  });

  it('refuses to serve a counter the controller does not have', () => {
    const json = clone();
    json.counters.push({
      ...json.counters[0],
      name: 'filament_hours',
      address: 50,
    } as (typeof json.counters)[0]);
    const map = parseRegisterMap(json);
    expect(() => new RegisterImage(map, counterNames)).toThrow(SimMapInvalidError);
  });
});
