import { ConfigError } from '../errors.js';

/** Tables of 16-bit registers: holding (function 3) and input (function 4). */
export type RegisterTable = 'holding' | 'input';
/** Tables of single bits: coils (function 1) and discrete inputs (function 2). */
export type BitTable = 'coil' | 'discrete';
/** Every table a counter can live in. */
export type ModbusTable = RegisterTable | BitTable;

/** "reading 4 holding values at 100": what a read was, for its error messages (built only then). */
export function describeRead(table: ModbusTable, address: number, count: number): string {
  return `reading ${count} ${table} ${count === 1 ? 'value' : 'values'} at ${address}`;
}
/** `bool` is one bit of a coil or discrete input, read as 0 or 1; the others are registers. */
export type RegisterType = 'u16' | 'i16' | 'u32' | 'i32' | 'float32' | 'bool';
export type WordOrder = 'big' | 'little';

const TABLES = ['holding', 'input', 'coil', 'discrete'] as const;
const TYPES = ['u16', 'i16', 'u32', 'i32', 'float32', 'bool'] as const;

/** True for the bit tables (coils, discrete inputs), read with function 1 or 2. */
export function isBitTable(table: ModbusTable): table is BitTable {
  return table === 'coil' || table === 'discrete';
}

/**
 * One named counter in the controller's register space. A `bool` counter lives in a bit table
 * (`coil` or `discrete`) and only there; every other type lives in `holding` or `input`.
 */
export interface CounterDef {
  name: string;
  table: ModbusTable;
  /** 0-based protocol address of the first register. */
  address: number;
  type: RegisterType;
  /** For 32-bit types: `big` = high word at the lower address. Default `big`. */
  wordOrder: WordOrder;
  scale: number;
  offset: number;
  unit: string;
}

/** The block of registers that hold active error codes, one u16 per slot, 0 = empty. */
export interface ErrorSlotsDef {
  table: RegisterTable;
  address: number;
  slots: number;
}

export interface RegisterMap {
  unitId: number;
  counters: CounterDef[];
  errors?: ErrorSlotsDef;
  /** Name of the counter that counts error raises since boot (optional). */
  raisesCounter?: string;
}

/** Registers (or, for `bool`, bits) one value of `type` occupies. */
export function registerCount(type: RegisterType): number {
  return type === 'u16' || type === 'i16' || type === 'bool' ? 1 : 2;
}

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Validates a register map from configuration (JSON). Every problem names its path, so a
 * technician can fix the file: `counters[3].type: must be one of u16, i16, u32, i32, float32, bool`.
 * A counter's type and table must agree: `bool` is read from `coil`/`discrete` (0 or 1), the
 * other types from `holding`/`input`; the error slots are registers (`holding`/`input`).
 */
export function parseRegisterMap(input: unknown, path = 'registerMap'): RegisterMap {
  const obj = record(input, path);
  const unitId = int(obj.unitId ?? 1, `${path}.unitId`, 0, 255);
  if (!Array.isArray(obj.counters) || obj.counters.length === 0) {
    throw new ConfigError('must be a non-empty array', `${path}.counters`);
  }
  const seen = new Set<string>();
  const counters = obj.counters.map((c, i) => {
    const p = `${path}.counters[${i}]`;
    const def = parseCounter(c, p);
    if (seen.has(def.name))
      throw new ConfigError(`duplicate counter name "${def.name}"`, `${p}.name`);
    seen.add(def.name);
    return def;
  });
  let errors: ErrorSlotsDef | undefined;
  if (obj.errors !== undefined) {
    const e = record(obj.errors, `${path}.errors`);
    errors = {
      table: registerTable(e.table ?? 'holding', `${path}.errors.table`),
      address: int(e.address, `${path}.errors.address`, 0, 65535),
      slots: int(e.slots, `${path}.errors.slots`, 1, 125),
    };
    if (errors.address + errors.slots > 65536) {
      throw new ConfigError(
        'runs past register 65535 (address + slots must be ≤ 65536)',
        `${path}.errors.slots`,
      );
    }
  }
  const raisesCounter =
    obj.raisesCounter === undefined
      ? seen.has('error_events_total')
        ? 'error_events_total'
        : undefined
      : str(obj.raisesCounter, `${path}.raisesCounter`);
  if (raisesCounter !== undefined && !seen.has(raisesCounter)) {
    throw new ConfigError(`names no counter ("${raisesCounter}")`, `${path}.raisesCounter`);
  }
  return { unitId, counters, errors, raisesCounter };
}

function parseCounter(input: unknown, p: string): CounterDef {
  const c = record(input, p);
  const name = str(c.name, `${p}.name`);
  if (!NAME.test(name)) throw new ConfigError('must be snake_case, 1-63 characters', `${p}.name`);
  const type = oneOf(c.type, `${p}.type`, TYPES);
  const address = int(c.address, `${p}.address`, 0, 65535 - (registerCount(type) - 1));
  const scale = num(c.scale ?? 1, `${p}.scale`);
  if (scale === 0) throw new ConfigError('must not be 0', `${p}.scale`);
  const tableName = oneOf(c.table ?? 'holding', `${p}.table`, TABLES);
  if (isBitTable(tableName) && type !== 'bool') {
    throw new ConfigError(
      `the ${tableName} table holds single bits: only type bool is read from it (${type} lives in holding or input)`,
      `${p}.table`,
    );
  }
  if (!isBitTable(tableName) && type === 'bool') {
    throw new ConfigError(
      `bool is one bit of a coil or discrete input: set table to coil or discrete (a 0/1 register is u16)`,
      `${p}.type`,
    );
  }
  return {
    name,
    table: tableName,
    address,
    type,
    wordOrder: oneOf(c.wordOrder ?? 'big', `${p}.wordOrder`, ['big', 'little'] as const),
    scale,
    offset: num(c.offset ?? 0, `${p}.offset`),
    unit: c.unit === undefined ? '' : str(c.unit, `${p}.unit`),
  };
}

function record(v: unknown, p: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError('must be an object', p);
  return v as Record<string, unknown>;
}
function str(v: unknown, p: string): string {
  if (typeof v !== 'string' || v.length === 0)
    throw new ConfigError('must be a non-empty string', p);
  return v;
}
function num(v: unknown, p: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ConfigError('must be a finite number', p);
  return v;
}
function int(v: unknown, p: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`must be an integer from ${min} to ${max}`, p);
  }
  return v;
}
function oneOf<T extends string>(v: unknown, p: string, options: readonly T[]): T {
  if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
    throw new ConfigError(`must be one of ${options.join(', ')}`, p);
  }
  return v as T;
}
function registerTable(v: unknown, p: string): RegisterTable {
  return oneOf(v, p, ['holding', 'input'] as const);
}
