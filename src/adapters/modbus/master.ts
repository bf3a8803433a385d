/**
 * Helpers around modbus-serial's master shared by the TCP and RTU clients: one normalised read
 * and the mapping of its error shapes onto stable adapter error codes.
 */
import type * as modbusSerial from 'modbus-serial';
import { AdapterError } from '../errors.js';
import { describeRead, type ModbusTable } from './register-map.js';

type ModbusRtuClass = typeof modbusSerial.default.default;
export type ModbusMaster = InstanceType<ModbusRtuClass>;

let loading: Promise<ModbusRtuClass> | undefined;

/**
 * modbus-serial's master class, imported at the first connection: the package also loads
 * `serialport` and its native binding, which a device on another adapter (vendor SDK, serial
 * text protocol) never needs.
 */
export function loadModbusRtu(): Promise<ModbusRtuClass> {
  // modbus-serial is CommonJS (`module.exports = ModbusRTU`) but its typings declare an ES
  // `export default`; under NodeNext TypeScript therefore sees the class one `.default` deeper
  // than Node puts it. The cast states what Node actually loads.
  loading ??= import('modbus-serial').then((m) => m.default as unknown as ModbusRtuClass);
  return loading;
}

export { functionCodeOf } from './mbap.js';

/**
 * One read through a modbus-serial master, normalised: exactly `count` numbers (bits as 0/1;
 * modbus-serial pads bit replies to whole bytes), or MODBUS_SHORT_REPLY when fewer came.
 */
export async function masterRead(
  master: ModbusMaster,
  table: ModbusTable,
  address: number,
  count: number,
): Promise<number[]> {
  let data: ReadonlyArray<number | boolean>;
  switch (table) {
    case 'holding':
      data = (await master.readHoldingRegisters(address, count)).data;
      break;
    case 'input':
      data = (await master.readInputRegisters(address, count)).data;
      break;
    case 'coil':
      data = (await master.readCoils(address, count)).data;
      break;
    case 'discrete':
      data = (await master.readDiscreteInputs(address, count)).data;
      break;
  }
  if (!Array.isArray(data) || data.length < count) {
    throw new AdapterError(
      'MODBUS_SHORT_REPLY',
      `short reply reading ${count} ${table} values at ${address}: got ${Array.isArray(data) ? data.length : 0}`,
      { address },
    );
  }
  return data.slice(0, count).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
}

/** Maps modbus-serial's error shapes onto stable adapter error codes. */
export function toAdapterError(
  cause: unknown,
  table: ModbusTable,
  address: number,
  count: number,
): AdapterError {
  if (cause instanceof AdapterError) return cause;
  const e = (cause ?? {}) as { modbusCode?: unknown; errno?: unknown; message?: unknown };
  const what = describeRead(table, address, count);
  if (typeof e.modbusCode === 'number') {
    return new AdapterError(
      'MODBUS_EXCEPTION',
      `device answered exception ${e.modbusCode} ${what} (${String(e.message)})`,
      {
        cause,
        modbusException: e.modbusCode,
        address,
      },
    );
  }
  if (e.errno === 'ETIMEDOUT') {
    return new AdapterError(
      'MODBUS_TIMEOUT',
      `no reply ${what}; the bus or controller is stuck or the unit id is wrong`,
      {
        cause,
        address,
      },
    );
  }
  const message = typeof e.message === 'string' ? e.message : String(cause);
  if (/CRC/i.test(message))
    return new AdapterError('MODBUS_CRC', `bad CRC in reply ${what}`, { cause, address });
  if (/length/i.test(message))
    return new AdapterError('MODBUS_SHORT_REPLY', `malformed reply ${what}: ${message}`, {
      cause,
      address,
    });
  if (/Unexpected data/i.test(message))
    return new AdapterError(
      'ADAPTER_BAD_REPLY',
      `reply does not match the request ${what}: ${message}`,
      {
        cause,
        address,
      },
    );
  if (/Port Not Open/i.test(message))
    return new AdapterError('ADAPTER_NOT_CONNECTED', `link not open ${what}`, { cause, address });
  return new AdapterError('ADAPTER_DISCONNECTED', `link lost ${what}: ${message}`, {
    cause,
    address,
  });
}

/** A timeout error refined by what actually arrived (see reply-tap.ts). */
export function refineTimeout(
  err: AdapterError,
  leftover: 'none' | 'partial' | 'garbage',
  received: number,
): AdapterError {
  if (err.code !== 'MODBUS_TIMEOUT' || leftover === 'none') return err;
  return leftover === 'partial'
    ? new AdapterError(
        'MODBUS_SHORT_REPLY',
        `reply cut short (${received} bytes, then silence) ${err.message.replace(/^no reply /, '').replace(/;.*$/, '')}`,
        { cause: err, address: err.address },
      )
    : new AdapterError(
        'ADAPTER_BAD_REPLY',
        `${received} bytes that are no reply to the request arrived (line noise or a desynchronised stream), then silence`,
        { cause: err, address: err.address },
      );
}

export function describe(cause: unknown): string {
  return cause instanceof Error
    ? cause.message
    : String((cause as { message?: unknown })?.message ?? cause);
}

/**
 * Drops the transactions modbus-serial keeps after they finish. It never deletes one: it
 * overwrites slot `id % 256` (TCP) when that id comes round again, so each read's request,
 * callbacks and cleared timer live on for 256 more reads, long enough to reach V8's old
 * generation, where they pile up as garbage between the rare full GCs of an agent that reads
 * once a second. Call it when no read is in flight on `master` (the clients make one at a
 * time). A reply that comes after this finds no transaction, and modbus-serial ignores it (the
 * clients' reply tap still sees its bytes). Returns how many were dropped; 0 when modbus-serial
 * keeps them elsewhere (another version), in which case nothing changes.
 */
export function forgetFinishedTransactions(master: ModbusMaster): number {
  // modbus-serial (8.0.x) keeps them in an untyped `_transactions` object keyed by id.
  const m = master as unknown as { _transactions?: unknown };
  const held = m._transactions;
  if (held === null || typeof held !== 'object') return 0;
  const n = Object.keys(held).length;
  if (n > 0) m._transactions = {};
  return n;
}

/** How many transactions `master` holds (tests). */
export function heldTransactions(master: ModbusMaster): number {
  const held = (master as unknown as { _transactions?: unknown })._transactions;
  return held !== null && typeof held === 'object' ? Object.keys(held).length : 0;
}
