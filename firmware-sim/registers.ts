/**
 * The controller's Modbus register image, laid out by protocols/register-map.json.
 *
 * Nothing here hard-codes an address: the map is read (and validated) at runtime, so a changed
 * map — new addresses, another word order, another scale — is honoured as is. This encoder is the
 * simulator's own and deliberately shares no code with the agent's decoder.
 *
 * Encoding of one counter: raw = round((value − offset) / scale), saturated to the type's range
 * (the model wraps its u32 counters itself before they get here), negative values in two's
 * complement; 32-bit values are split into a high and a low word, written high-first for
 * wordOrder 'big' and low-first for 'little'. A `bool` counter is one bit of a coil or discrete
 * input: raw saturated to 0..1. Active error codes fill the error slots from the first one;
 * unused slots hold 0.
 */
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import { ModbusExceptionCodes, SimMapInvalidError, SimModbusExceptionError } from './errors.js';

export type RegisterType = 'u16' | 'i16' | 'u32' | 'i32';
/** A counter's type: a register type, or `bool` (one bit of a coil or discrete input). */
export type CounterType = RegisterType | 'bool';
export type WordOrder = 'big' | 'little';
/**
 * `holding`/`input` hold 16-bit registers (functions 3/4); `coil`/`discrete` hold single bits
 * (functions 1/2), and only `bool` counters live there (and they live nowhere else).
 */
export type RegisterTable = 'holding' | 'input' | 'coil' | 'discrete';

export interface CounterSpec {
  readonly name: string;
  readonly table: RegisterTable;
  readonly address: number;
  readonly type: CounterType;
  /** Only meaningful for 32-bit types. */
  readonly wordOrder: WordOrder;
  readonly scale: number;
  readonly offset: number;
}

export interface ErrorSlotsSpec {
  readonly table: 'holding' | 'input';
  readonly address: number;
  readonly slots: number;
}

export interface RegisterMap {
  readonly mapVersion: number;
  readonly unitId: number;
  readonly counters: readonly CounterSpec[];
  readonly errors: ErrorSlotsSpec;
}

const RANGES: Record<CounterType, { min: number; max: number; words: 1 | 2 }> = {
  u16: { min: 0, max: 0xffff, words: 1 },
  i16: { min: -0x8000, max: 0x7fff, words: 1 },
  u32: { min: 0, max: 0xffff_ffff, words: 2 },
  i32: { min: -0x8000_0000, max: 0x7fff_ffff, words: 2 },
  bool: { min: 0, max: 1, words: 1 },
};

/** Registers per read request allowed by the Modbus specification (function 3 and 4). */
export const MAX_READ_REGISTERS = 125;
/** Bits per read request allowed by the Modbus specification (function 1 and 2). */
export const MAX_READ_BITS = 2000;

const isBitTable = (t: RegisterTable): boolean => t === 'coil' || t === 'discrete';

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

function field<T>(
  obj: Record<string, unknown>,
  key: string,
  ok: (v: unknown) => v is T,
  where: string,
): T {
  const value = obj[key];
  if (!ok(value))
    throw new SimMapInvalidError(
      `register map: ${where}.${key} is invalid (${JSON.stringify(value)})`,
    );
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const intIn =
  (min: number, max: number) =>
  (v: unknown): v is number =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const isAddress = intIn(0, 0xffff);
const isTable = (v: unknown): v is RegisterTable =>
  v === 'holding' || v === 'input' || v === 'coil' || v === 'discrete';
const isWordTable = (v: unknown): v is 'holding' | 'input' => v === 'holding' || v === 'input';
const isType = (v: unknown): v is CounterType => typeof v === 'string' && Object.hasOwn(RANGES, v);
const isWordOrder = (v: unknown): v is WordOrder => v === 'big' || v === 'little';

/** Validates a register map (as parsed from JSON). Throws SimMapInvalidError on any problem. */
export function parseRegisterMap(json: unknown): RegisterMap {
  if (!isRecord(json) || !Array.isArray(json.counters) || !isRecord(json.errors)) {
    throw new SimMapInvalidError('register map: expected an object with counters[] and errors{}');
  }
  const counters = json.counters.map((c: unknown, i): CounterSpec => {
    const where = `counters[${i}]`;
    if (!isRecord(c)) throw new SimMapInvalidError(`register map: ${where} is not an object`);
    const type = field(c, 'type', isType, where);
    const scale = c.scale === undefined ? 1 : field(c, 'scale', isFiniteNumber, where);
    if (scale === 0) throw new SimMapInvalidError(`register map: ${where}.scale is 0`);
    const table = field(c, 'table', isTable, where);
    if (isBitTable(table) !== (type === 'bool')) {
      throw new SimMapInvalidError(
        `register map: ${where} is ${type} in the ${table} table (bool goes in coil/discrete, and only bool)`,
      );
    }
    return {
      name: field(c, 'name', isString, where),
      table,
      address: field(c, 'address', isAddress, where),
      type,
      wordOrder: RANGES[type].words === 2 ? field(c, 'wordOrder', isWordOrder, where) : 'big',
      scale,
      offset: c.offset === undefined ? 0 : field(c, 'offset', isFiniteNumber, where),
    };
  });
  const e = json.errors;
  const errors: ErrorSlotsSpec = {
    table: field(e, 'table', isWordTable, 'errors'),
    address: field(e, 'address', isAddress, 'errors'),
    slots: field(e, 'slots', intIn(1, MAX_READ_REGISTERS), 'errors'),
  };
  const map: RegisterMap = {
    mapVersion: field(json, 'mapVersion', intIn(0, Number.MAX_SAFE_INTEGER), 'map'),
    unitId: field(json, 'unitId', intIn(1, 247), 'map'),
    counters,
    errors,
  };
  checkLayout(map);
  return map;
}

/** No two entries share a name or a register; nothing runs past address 65535. */
function checkLayout(map: RegisterMap): void {
  const owner = new Map<string, string>();
  const claim = (table: RegisterTable, address: number, words: number, who: string): void => {
    for (let a = address; a < address + words; a++) {
      if (a > 0xffff) throw new SimMapInvalidError(`register map: ${who} runs past address 65535`);
      const key = `${table}:${a}`;
      const previous = owner.get(key);
      if (previous !== undefined) {
        throw new SimMapInvalidError(`register map: ${who} overlaps ${previous} at ${table} ${a}`);
      }
      owner.set(key, who);
    }
  };
  const names = new Set<string>();
  for (const c of map.counters) {
    if (names.has(c.name))
      throw new SimMapInvalidError(`register map: duplicate counter ${c.name}`);
    names.add(c.name);
    claim(c.table, c.address, RANGES[c.type].words, c.name);
  }
  claim(map.errors.table, map.errors.address, map.errors.slots, 'error slots');
}

/** The map shipped in protocols/register-map.json. */
export const defaultRegisterMap: RegisterMap = parseRegisterMap(registerMapJson);

/** Encodes one engineering value into its register words, in address order. */
export function encodeCounter(
  value: number,
  spec: Pick<CounterSpec, 'type' | 'wordOrder' | 'scale' | 'offset'>,
): number[] {
  if (!Number.isFinite(value)) throw new RangeError(`cannot encode ${value}`);
  const range = RANGES[spec.type];
  const raw = Math.min(
    range.max,
    Math.max(range.min, Math.round((value - spec.offset) / spec.scale)),
  );
  if (range.words === 1) return [raw < 0 ? raw + 0x1_0000 : raw];
  const unsigned = raw < 0 ? raw + 0x1_0000_0000 : raw;
  const high = Math.floor(unsigned / 0x1_0000);
  const low = unsigned % 0x1_0000;
  return spec.wordOrder === 'big' ? [high, low] : [low, high];
}

/** The register tables of the device, filled from engineering values and active codes. */
export class RegisterImage {
  readonly map: RegisterMap;
  readonly #tables: Record<RegisterTable, Map<number, number>> = {
    holding: new Map(),
    input: new Map(),
    coil: new Map(),
    discrete: new Map(),
  };

  /**
   * @param provides the counter names the controller has; a map naming any other counter is
   *   rejected (SimMapInvalidError) rather than served as zeros.
   */
  constructor(map: RegisterMap, provides: readonly string[]) {
    const missing = map.counters.filter((c) => !provides.includes(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      throw new SimMapInvalidError(
        `register map names counters the XR-200 does not have: ${missing.join(', ')}`,
      );
    }
    this.map = map;
    const values = Object.fromEntries(map.counters.map((c) => [c.name, 0]));
    this.update(values, []);
  }

  /** Rewrites every mapped register from `values` (engineering units, by counter name). */
  update(values: Readonly<Record<string, number>>, visibleCodes: readonly number[]): void {
    for (const c of this.map.counters) {
      const value = values[c.name];
      if (value === undefined) throw new RangeError(`no value for counter ${c.name}`);
      const words = encodeCounter(value, c);
      words.forEach((w, i) => this.#tables[c.table].set(c.address + i, w));
    }
    const { table, address, slots } = this.map.errors;
    for (let i = 0; i < slots; i++) this.#tables[table].set(address + i, visibleCodes[i] ?? 0);
  }

  /**
   * Reads `length` registers (bits as 0/1 from the coil and discrete tables) from `address`. A
   * length outside 1..125 (1..2000 bits) is a Modbus exception 3 (illegal data value); any
   * unmapped address in the range is exception 2 (illegal data address).
   */
  read(table: RegisterTable, address: number, length: number): number[] {
    const max = isBitTable(table) ? MAX_READ_BITS : MAX_READ_REGISTERS;
    if (!Number.isInteger(length) || length < 1 || length > max) {
      throw new SimModbusExceptionError(
        ModbusExceptionCodes.ILLEGAL_DATA_VALUE,
        `cannot read ${length} registers`,
      );
    }
    const words: number[] = [];
    for (let a = address; a < address + length; a++) {
      const word = this.#tables[table].get(a);
      if (word === undefined) {
        throw new SimModbusExceptionError(
          ModbusExceptionCodes.ILLEGAL_DATA_ADDRESS,
          `${table} register ${a} is not mapped`,
        );
      }
      words.push(word);
    }
    return words;
  }
}
