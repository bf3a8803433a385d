/**
 * Modbus TCP framing for the reads the agent makes (functions 1–4): the MBAP request and the
 * checks on a reply ADU. Pure functions; the socket is in tcp-client.ts.
 *
 * An ADU is the 7-byte MBAP header (transaction id, protocol id 0, length of what follows the
 * length field, unit id) and the PDU (function code, data).
 */
import { AdapterError, MODBUS_EXCEPTIONS } from '../errors.js';
import { describeRead, type ModbusTable } from './register-map.js';

export const MBAP_HEADER_LENGTH = 7;
/** Largest MBAP length field a Modbus TCP ADU can carry (unit id + 253-byte PDU). */
export const MAX_MBAP_LENGTH = 254;
/** Most values one read may ask for (the spec's limits for registers and for bits). */
const MAX_COUNT: Record<ModbusTable, number> = {
  holding: 125,
  input: 125,
  coil: 2000,
  discrete: 2000,
};

/** Function code of a read of `table`. */
export function functionCodeOf(table: ModbusTable): 1 | 2 | 3 | 4 {
  switch (table) {
    case 'coil':
      return 1;
    case 'discrete':
      return 2;
    case 'holding':
      return 3;
    case 'input':
      return 4;
  }
}

/** The 12-byte request ADU of a read of `count` values of `table` at `address`. */
export function encodeReadRequest(
  transactionId: number,
  unitId: number,
  table: ModbusTable,
  address: number,
  count: number,
): Buffer {
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT[table])
    throw new RangeError(
      `a Modbus read of ${table} values takes 1..${MAX_COUNT[table]}, not ${count}`,
    );
  if (!Number.isInteger(address) || address < 0 || address + count > 0x10000)
    throw new RangeError(`Modbus address ${address} (+${count}) is outside 0..65535`);
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(transactionId & 0xffff, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(6, 4);
  b.writeUInt8(unitId, 6);
  b.writeUInt8(functionCodeOf(table), 7);
  b.writeUInt16BE(address, 8);
  b.writeUInt16BE(count, 10);
  return b;
}

/**
 * Length of the complete, well-formed ADU at the start of `bytes` (for `unitId`), 0 when only
 * part of one is there yet, -1 when the bytes cannot start one (another protocol id, an
 * impossible length, another unit): the stream has lost its framing.
 */
export function aduLength(bytes: Uint8Array, unitId: number): number {
  if (bytes.length >= 4 && (bytes[2] !== 0 || bytes[3] !== 0)) return -1;
  if (bytes.length === 3 && bytes[2] !== 0) return -1;
  if (bytes.length < 6) return 0;
  const length = (bytes[4]! << 8) | bytes[5]!;
  if (length < 2 || length > MAX_MBAP_LENGTH) return -1;
  if (bytes.length > 6 && bytes[6] !== unitId) return -1;
  return bytes.length < 6 + length ? 0 : 6 + length;
}

export function transactionIdOf(adu: Uint8Array): number {
  return (adu[0]! << 8) | adu[1]!;
}

/**
 * The values in `adu`, the reply to a read of `count` values of `table` at `address`: register
 * words, or bits as 0/1. Throws MODBUS_EXCEPTION (the device's exception reply),
 * MODBUS_SHORT_REPLY (a byte count that does not fit the request or the frame) or
 * ADAPTER_BAD_REPLY (another function).
 */
export function decodeReadReply(
  adu: Uint8Array,
  table: ModbusTable,
  address: number,
  count: number,
): number[] {
  const fc = functionCodeOf(table);
  const code = adu[MBAP_HEADER_LENGTH];
  if (code === (fc | 0x80)) {
    const exception = adu[MBAP_HEADER_LENGTH + 1];
    const what = describeRead(table, address, count);
    if (exception === undefined || adu.length !== MBAP_HEADER_LENGTH + 2)
      throw new AdapterError('MODBUS_SHORT_REPLY', `malformed exception reply ${what}`, {
        address,
      });
    const name =
      (MODBUS_EXCEPTIONS as Record<number, string | undefined>)[exception] ?? 'unknown exception';
    throw new AdapterError(
      'MODBUS_EXCEPTION',
      `device answered exception ${exception} (${name}) ${what}`,
      { modbusException: exception, address },
    );
  }
  if (code !== fc)
    throw new AdapterError(
      'ADAPTER_BAD_REPLY',
      `reply with function ${String(code)} does not match the request ${describeRead(table, address, count)}`,
      { address },
    );
  const expected = fc <= 2 ? Math.ceil(count / 8) : 2 * count;
  const byteCount = adu[MBAP_HEADER_LENGTH + 1];
  const data = MBAP_HEADER_LENGTH + 2;
  if (byteCount !== expected || adu.length !== data + expected)
    throw new AdapterError(
      'MODBUS_SHORT_REPLY',
      `malformed reply ${describeRead(table, address, count)}: ${adu.length - data} data bytes, byte count ${String(byteCount)}, ${expected} expected`,
      { address },
    );
  const values = new Array<number>(count);
  if (fc <= 2) for (let i = 0; i < count; i++) values[i] = (adu[data + (i >> 3)]! >> (i & 7)) & 1;
  else
    for (let i = 0; i < count; i++) values[i] = (adu[data + 2 * i]! << 8) | adu[data + 2 * i + 1]!;
  return values;
}
