import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import sampleMap from '../../../protocols/register-map.json' with { type: 'json' };
import { ConfigError } from '../errors.js';
import { parseRegisterMap, registerCount } from './register-map.js';

/** Runs `fn` and returns the ConfigError it throws (failing the test if it throws anything else). */
function configError(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const e = caught as ConfigError;
  expect(e.code).toBe('OUTPOST_BAD_CONFIG');
  expect(e.name).toBe('ConfigError');
  return e;
}

const ok = { name: 'a', address: 0, type: 'u16' };

describe('parseRegisterMap: the shipped map', () => {
  it('accepts protocols/register-map.json', () => {
    const map = parseRegisterMap(sampleMap);
    expect(map.unitId).toBe(1);
    expect(map.counters.map((c) => c.name)).toEqual([
      'exposures_total',
      'tube_heat',
      'tube_heat_pct',
      'detector_temp',
      'last_kv',
      'last_ma',
      'last_ms',
      'uptime',
      'door_closed',
      'tube_mas_total',
      'heat_balance',
      'error_events_total',
    ]);
    expect(map.errors).toEqual({ table: 'holding', address: 100, slots: 8 });
    expect(map.raisesCounter).toBe('error_events_total');
  });

  it('keeps every field of a counter and fills the defaults', () => {
    const map = parseRegisterMap(sampleMap);
    const byName = new Map(map.counters.map((c) => [c.name, c]));
    expect(byName.get('tube_heat')).toEqual({
      name: 'tube_heat',
      table: 'holding',
      address: 2,
      type: 'u32',
      wordOrder: 'little',
      scale: 1,
      offset: 0,
      unit: 'HU',
    });
    // No wordOrder in the file: defaults to big.
    expect(byName.get('detector_temp')).toEqual({
      name: 'detector_temp',
      table: 'holding',
      address: 5,
      type: 'i16',
      wordOrder: 'big',
      scale: 0.1,
      offset: 0,
      unit: 'degC',
    });
    // Extra fields (description) are not carried over.
    expect(Object.keys(byName.get('uptime')!).sort()).toEqual(
      ['address', 'name', 'offset', 'scale', 'table', 'type', 'unit', 'wordOrder'].sort(),
    );
  });
});

describe('parseRegisterMap: defaults', () => {
  it('fills unit id, table, word order, scale, offset and unit', () => {
    const map = parseRegisterMap({ counters: [{ name: 'x', address: 7, type: 'u32' }] });
    expect(map).toEqual({
      unitId: 1,
      counters: [
        {
          name: 'x',
          table: 'holding',
          address: 7,
          type: 'u32',
          wordOrder: 'big',
          scale: 1,
          offset: 0,
          unit: '',
        },
      ],
      errors: undefined,
      raisesCounter: undefined,
    });
  });

  it('defaults the error block to the holding table', () => {
    const map = parseRegisterMap({ counters: [ok], errors: { address: 50, slots: 4 } });
    expect(map.errors).toEqual({ table: 'holding', address: 50, slots: 4 });
    const input = parseRegisterMap({
      counters: [ok],
      errors: { table: 'input', address: 50, slots: 4 },
    });
    expect(input.errors?.table).toBe('input');
  });

  it('detects the raises counter by its conventional name', () => {
    const map = parseRegisterMap({
      counters: [ok, { name: 'error_events_total', address: 1, type: 'u32' }],
    });
    expect(map.raisesCounter).toBe('error_events_total');
  });

  it('an explicit raises counter wins over the conventional name', () => {
    const map = parseRegisterMap({
      counters: [ok, { name: 'error_events_total', address: 1, type: 'u32' }],
      raisesCounter: 'a',
    });
    expect(map.raisesCounter).toBe('a');
  });

  it('has no raises counter when none is named and none is conventional', () => {
    expect(parseRegisterMap({ counters: [ok] }).raisesCounter).toBeUndefined();
  });

  it('accepts the extremes of every range', () => {
    const map = parseRegisterMap({
      unitId: 255,
      counters: [
        { name: 'a', address: 65535, type: 'u16', table: 'input' },
        { name: 'b', address: 65534, type: 'i32', wordOrder: 'little', scale: -2, offset: -1.5 },
        { name: 'c'.repeat(63), address: 0, type: 'float32', unit: 'x' },
      ],
      errors: { address: 0, slots: 125 },
    });
    expect(map.unitId).toBe(255);
    expect(map.counters[1]).toMatchObject({ address: 65534, scale: -2, offset: -1.5 });
    expect(parseRegisterMap({ unitId: 0, counters: [ok] }).unitId).toBe(0);
  });

  it('accepts an error block that ends exactly at the last register', () => {
    expect(
      parseRegisterMap({ counters: [ok], errors: { address: 65535, slots: 1 } }).errors,
    ).toEqual({ table: 'holding', address: 65535, slots: 1 });
    expect(
      parseRegisterMap({ counters: [ok], errors: { address: 65411, slots: 125 } }).errors,
    ).toMatchObject({ address: 65411, slots: 125 });
  });

  it('an error block past the last register names the slots and says why', () => {
    const e = configError(() =>
      parseRegisterMap({ counters: [ok], errors: { address: 65535, slots: 2 } }, 'devices[1].map'),
    );
    expect(e.path).toBe('devices[1].map.errors.slots');
    expect(e.message).toMatch(/65535|65536/);
  });
});

describe('parseRegisterMap: rejects bad input with the offending path', () => {
  const counter = (extra: Record<string, unknown>): Record<string, unknown> => ({
    ...ok,
    name: 'b',
    ...extra,
  });
  const withCounter = (extra: Record<string, unknown>): unknown => ({
    counters: [ok, counter(extra)],
  });
  const cases: Array<[string, unknown, string]> = [
    ['a non-object map', 'nope', 'registerMap'],
    ['null', null, 'registerMap'],
    ['an array as the map', [ok], 'registerMap'],
    ['unit id out of range', { unitId: 256, counters: [ok] }, 'registerMap.unitId'],
    ['negative unit id', { unitId: -1, counters: [ok] }, 'registerMap.unitId'],
    ['fractional unit id', { unitId: 1.5, counters: [ok] }, 'registerMap.unitId'],
    ['unit id as a string', { unitId: '1', counters: [ok] }, 'registerMap.unitId'],
    ['no counters', {}, 'registerMap.counters'],
    ['empty counters', { counters: [] }, 'registerMap.counters'],
    ['counters not an array', { counters: { a: ok } }, 'registerMap.counters'],
    ['a counter that is not an object', { counters: [ok, 3] }, 'registerMap.counters[1]'],
    ['a counter that is null', { counters: [ok, null] }, 'registerMap.counters[1]'],
    ['a counter without a name', withCounter({ name: undefined }), 'registerMap.counters[1].name'],
    ['an empty name', withCounter({ name: '' }), 'registerMap.counters[1].name'],
    ['a numeric name', withCounter({ name: 5 }), 'registerMap.counters[1].name'],
    ['a name in CamelCase', withCounter({ name: 'TubeHeat' }), 'registerMap.counters[1].name'],
    ['a name with a dash', withCounter({ name: 'tube-heat' }), 'registerMap.counters[1].name'],
    ['a name starting with a digit', withCounter({ name: '1x' }), 'registerMap.counters[1].name'],
    ['a 64-character name', withCounter({ name: 'a'.repeat(64) }), 'registerMap.counters[1].name'],
    ['a duplicate name', withCounter({ name: 'a' }), 'registerMap.counters[1].name'],
    ['an unknown type', withCounter({ type: 'u64' }), 'registerMap.counters[1].type'],
    ['a missing type', withCounter({ type: undefined }), 'registerMap.counters[1].type'],
    ['a missing address', withCounter({ address: undefined }), 'registerMap.counters[1].address'],
    ['a negative address', withCounter({ address: -1 }), 'registerMap.counters[1].address'],
    ['address 65536', withCounter({ address: 65536 }), 'registerMap.counters[1].address'],
    [
      'a 32-bit counter at the last register',
      withCounter({ type: 'u32', address: 65535 }),
      'registerMap.counters[1].address',
    ],
    ['a fractional address', withCounter({ address: 2.5 }), 'registerMap.counters[1].address'],
    [
      'a u16 in the coil table (bits only)',
      withCounter({ table: 'coil' }),
      'registerMap.counters[1].table',
    ],
    ['an unknown table', withCounter({ table: 'coils' }), 'registerMap.counters[1].table'],
    [
      'a float32 in the discrete table',
      withCounter({ table: 'discrete', type: 'float32' }),
      'registerMap.counters[1].table',
    ],
    ['a bool in the holding table', withCounter({ type: 'bool' }), 'registerMap.counters[1].type'],
    [
      'a bool in the input table',
      withCounter({ type: 'bool', table: 'input' }),
      'registerMap.counters[1].type',
    ],
    [
      'a bool with the default table',
      withCounter({ type: 'bool', table: undefined }),
      'registerMap.counters[1].type',
    ],
    [
      'error slots in the discrete table',
      { counters: [ok], errors: { table: 'discrete', address: 0, slots: 1 } },
      'registerMap.errors.table',
    ],
    ['a bad word order', withCounter({ wordOrder: 'middle' }), 'registerMap.counters[1].wordOrder'],
    ['scale 0', withCounter({ scale: 0 }), 'registerMap.counters[1].scale'],
    ['scale NaN', withCounter({ scale: Number.NaN }), 'registerMap.counters[1].scale'],
    ['scale Infinity', withCounter({ scale: Infinity }), 'registerMap.counters[1].scale'],
    ['scale as a string', withCounter({ scale: '0.1' }), 'registerMap.counters[1].scale'],
    ['offset as a string', withCounter({ offset: '1' }), 'registerMap.counters[1].offset'],
    ['offset Infinity', withCounter({ offset: -Infinity }), 'registerMap.counters[1].offset'],
    ['an empty unit', withCounter({ unit: '' }), 'registerMap.counters[1].unit'],
    ['a numeric unit', withCounter({ unit: 1 }), 'registerMap.counters[1].unit'],
    ['errors not an object', { counters: [ok], errors: 4 }, 'registerMap.errors'],
    ['errors null', { counters: [ok], errors: null }, 'registerMap.errors'],
    [
      'errors in an unknown table',
      { counters: [ok], errors: { table: 'coil', address: 0, slots: 1 } },
      'registerMap.errors.table',
    ],
    [
      'errors without an address',
      { counters: [ok], errors: { slots: 1 } },
      'registerMap.errors.address',
    ],
    [
      'errors with 0 slots',
      { counters: [ok], errors: { address: 0, slots: 0 } },
      'registerMap.errors.slots',
    ],
    [
      'errors with 126 slots',
      { counters: [ok], errors: { address: 0, slots: 126 } },
      'registerMap.errors.slots',
    ],
    [
      'errors running one register past 65535',
      { counters: [ok], errors: { address: 65535, slots: 2 } },
      'registerMap.errors.slots',
    ],
    [
      '125 errors slots that do not fit below 65536',
      { counters: [ok], errors: { table: 'input', address: 65412, slots: 125 } },
      'registerMap.errors.slots',
    ],
    [
      'a raises counter that names no counter',
      { counters: [ok], raisesCounter: 'nope' },
      'registerMap.raisesCounter',
    ],
    ['an empty raises counter', { counters: [ok], raisesCounter: '' }, 'registerMap.raisesCounter'],
    [
      'a non-string raises counter',
      { counters: [ok], raisesCounter: 3 },
      'registerMap.raisesCounter',
    ],
  ];

  for (const [what, input, path] of cases) {
    it(`${what} → ${path}`, () => {
      const e = configError(() => parseRegisterMap(input));
      expect(e.path).toBe(path);
    });
  }

  it('reports the index of the offending counter', () => {
    const e = configError(() =>
      parseRegisterMap({ counters: [ok, { name: 'b', address: 1, type: 'u16' }, { name: 'c' }] }),
    );
    expect(e.path).toBe('registerMap.counters[2].type');
  });

  it('uses the path it is given as the root', () => {
    const e = configError(() =>
      parseRegisterMap({ counters: [{ ...ok, type: 'bad' }] }, 'devices[0].map'),
    );
    expect(e.path).toBe('devices[0].map.counters[0].type');
  });
});

describe('registerCount', () => {
  it('is 1 for 16-bit types and 2 for 32-bit types', () => {
    expect(registerCount('u16')).toBe(1);
    expect(registerCount('i16')).toBe(1);
    expect(registerCount('u32')).toBe(2);
    expect(registerCount('i32')).toBe(2);
    expect(registerCount('float32')).toBe(2);
    expect(registerCount('bool')).toBe(1);
  });
});

describe('parseRegisterMap: coils and discrete inputs', () => {
  it('reads bool counters from the coil and discrete tables, with scale and offset', () => {
    const map = parseRegisterMap({
      unitId: 17,
      counters: [
        { name: 'door_closed', table: 'discrete', address: 0, type: 'bool' },
        { name: 'lamp', table: 'coil', address: 65535, type: 'bool', scale: -1, offset: 1 },
      ],
    });
    expect(map.unitId).toBe(17);
    expect(map.counters).toEqual([
      {
        name: 'door_closed',
        table: 'discrete',
        address: 0,
        type: 'bool',
        wordOrder: 'big',
        scale: 1,
        offset: 0,
        unit: '',
      },
      {
        name: 'lamp',
        table: 'coil',
        address: 65535,
        type: 'bool',
        wordOrder: 'big',
        scale: -1,
        offset: 1,
        unit: '',
      },
    ]);
  });

  it('says why a register type is refused in a bit table, and the reverse', () => {
    const inCoil = configError(() =>
      parseRegisterMap({ counters: [{ name: 'a', table: 'coil', address: 0, type: 'u32' }] }),
    );
    expect(inCoil.message).toMatch(/bool/);
    const boolInHolding = configError(() =>
      parseRegisterMap({ counters: [{ name: 'a', address: 0, type: 'bool' }] }),
    );
    expect(boolInHolding.message).toMatch(/coil|discrete/);
  });
});

describe('parseRegisterMap: property', () => {
  /** Either a plausible value or any JSON at all, so deep fields are reached. */
  const maybe = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: fc.jsonValue() });
  const name = fc.oneof(
    fc.constantFrom('a', 'b', 'error_events_total', 'Bad', ''),
    fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/),
  );
  const counterish = fc.record(
    {
      name: maybe(name),
      table: maybe(fc.constantFrom('holding', 'input', 'coil', 'discrete', 'coils')),
      address: maybe(fc.integer({ min: -2, max: 65537 })),
      type: maybe(fc.constantFrom('u16', 'i16', 'u32', 'i32', 'float32', 'bool', 'u8')),
      wordOrder: maybe(fc.constantFrom('big', 'little', 'middle')),
      scale: maybe(fc.oneof(fc.double(), fc.constant(0))),
      offset: maybe(fc.double()),
      unit: maybe(fc.string()),
    },
    { requiredKeys: [] },
  );
  const mapish = fc.record(
    {
      unitId: maybe(fc.integer({ min: -1, max: 256 })),
      counters: maybe(fc.array(counterish, { maxLength: 5 })),
      errors: maybe(
        fc.record(
          {
            table: maybe(fc.constantFrom('holding', 'input', 'x')),
            address: maybe(
              fc.oneof(fc.integer({ min: -1, max: 65536 }), fc.integer({ min: 65400, max: 65536 })),
            ),
            slots: maybe(fc.integer({ min: -1, max: 130 })),
          },
          { requiredKeys: [] },
        ),
      ),
      raisesCounter: maybe(name),
    },
    { requiredKeys: [] },
  );

  it('any input either parses to a valid map or throws a ConfigError naming a path', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), mapish), (input) => {
        let map;
        try {
          map = parseRegisterMap(input);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).code).toBe('OUTPOST_BAD_CONFIG');
          expect((err as ConfigError).path).toMatch(/^registerMap(\.|\[|$)/);
          return;
        }
        // Whatever parses satisfies every rule.
        expect(map.counters.length).toBeGreaterThan(0);
        expect(new Set(map.counters.map((c) => c.name)).size).toBe(map.counters.length);
        expect(Number.isInteger(map.unitId) && map.unitId >= 0 && map.unitId <= 255).toBe(true);
        for (const c of map.counters) {
          expect(c.name).toMatch(/^[a-z][a-z0-9_]{0,62}$/);
          expect(['holding', 'input', 'coil', 'discrete']).toContain(c.table);
          // bool lives in the bit tables and nothing else does.
          expect(c.type === 'bool').toBe(c.table === 'coil' || c.table === 'discrete');
          expect(['big', 'little']).toContain(c.wordOrder);
          expect(Number.isInteger(c.address) && c.address >= 0).toBe(true);
          expect(c.address + registerCount(c.type)).toBeLessThanOrEqual(65536);
          expect(Number.isFinite(c.scale) && c.scale !== 0).toBe(true);
          expect(Number.isFinite(c.offset)).toBe(true);
        }
        if (map.raisesCounter !== undefined) {
          expect(map.counters.some((c) => c.name === map.raisesCounter)).toBe(true);
        }
        if (map.errors) {
          const { address, slots } = map.errors;
          expect(['holding', 'input']).toContain(map.errors.table);
          expect(Number.isInteger(address) && address >= 0).toBe(true);
          expect(Number.isInteger(slots) && slots >= 1 && slots <= 125).toBe(true);
          // The whole block lies inside the 16-bit register space.
          expect(address + slots).toBeLessThanOrEqual(65536);
        }
      }),
      { numRuns: 500 },
    );
  });
});
