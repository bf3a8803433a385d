/**
 * The controller's Modbus application layer (PDU), shared by its TCP and RTU faces: a request
 * PDU in, a response PDU out (normal or exception). No framing, no I/O.
 *
 * Answered: 1 read coils, 2 read discrete inputs, 3 read holding registers, 4 read input
 * registers. A quantity outside 1..2000 bits / 1..125 registers, or a request that is not
 * exactly function + address + quantity, is exception 3 (illegal data value); a range past
 * address 65535 or touching an unmapped address is exception 2 (illegal data address). The
 * device is read-only: writes (5, 6, 15, 16) and every other function get exception 1 (illegal
 * function). A reader that throws SimModbusExceptionError sets the code; any other throw is a
 * bug in the device and answers exception 4 (server device failure).
 */
import { ModbusExceptionCodes, SimModbusExceptionError } from './errors.js';
import type { RegisterTable } from './registers.js';

/** Reads `count` registers (bits as 0/1 for coil/discrete) from `address`. */
export type ModbusReader = (table: RegisterTable, address: number, count: number) => number[];

export const FunctionCodes = {
  READ_COILS: 0x01,
  READ_DISCRETE_INPUTS: 0x02,
  READ_HOLDING_REGISTERS: 0x03,
  READ_INPUT_REGISTERS: 0x04,
} as const;

/** Modbus exception 4: the device failed while answering. */
export const SERVER_DEVICE_FAILURE = 0x04;

const READS: Record<number, { table: RegisterTable; max: number }> = {
  [FunctionCodes.READ_COILS]: { table: 'coil', max: 2000 },
  [FunctionCodes.READ_DISCRETE_INPUTS]: { table: 'discrete', max: 2000 },
  [FunctionCodes.READ_HOLDING_REGISTERS]: { table: 'holding', max: 125 },
  [FunctionCodes.READ_INPUT_REGISTERS]: { table: 'input', max: 125 },
};

/** An exception response: function | 0x80, then the exception code. */
export function exceptionPdu(functionCode: number, code: number): Uint8Array {
  return Uint8Array.of((functionCode | 0x80) & 0xff, code & 0xff);
}

/** Answers one request PDU. Never throws. An empty request has no function to answer: exception 1. */
export function answerPdu(request: Uint8Array, read: ModbusReader): Uint8Array {
  const functionCode = request[0] ?? 0;
  const spec = READS[functionCode];
  if (spec === undefined) return exceptionPdu(functionCode, ModbusExceptionCodes.ILLEGAL_FUNCTION);
  if (request.length !== 5)
    return exceptionPdu(functionCode, ModbusExceptionCodes.ILLEGAL_DATA_VALUE);
  const address = (request[1]! << 8) | request[2]!;
  const count = (request[3]! << 8) | request[4]!;
  if (count < 1 || count > spec.max)
    return exceptionPdu(functionCode, ModbusExceptionCodes.ILLEGAL_DATA_VALUE);
  if (address + count > 0x1_0000)
    return exceptionPdu(functionCode, ModbusExceptionCodes.ILLEGAL_DATA_ADDRESS);
  let values: number[];
  try {
    values = read(spec.table, address, count);
  } catch (err) {
    return exceptionPdu(
      functionCode,
      err instanceof SimModbusExceptionError ? err.modbusErrorCode : SERVER_DEVICE_FAILURE,
    );
  }
  if (values.length !== count) return exceptionPdu(functionCode, SERVER_DEVICE_FAILURE);
  return spec.max === 2000 ? bitsPdu(functionCode, values) : wordsPdu(functionCode, values);
}

/** Function, byte count, bits packed eight to a byte, least significant bit first. */
function bitsPdu(functionCode: number, bits: readonly number[]): Uint8Array {
  const bytes = Math.ceil(bits.length / 8);
  const pdu = new Uint8Array(2 + bytes);
  pdu[0] = functionCode;
  pdu[1] = bytes;
  bits.forEach((bit, i) => {
    const at = 2 + (i >> 3);
    if (bit !== 0) pdu[at] = (pdu[at] ?? 0) | (1 << (i & 7));
  });
  return pdu;
}

/** Function, byte count, registers big-endian. */
function wordsPdu(functionCode: number, words: readonly number[]): Uint8Array {
  const pdu = new Uint8Array(2 + 2 * words.length);
  pdu[0] = functionCode;
  pdu[1] = 2 * words.length;
  words.forEach((word, i) => {
    pdu[2 + 2 * i] = (word >> 8) & 0xff;
    pdu[3 + 2 * i] = word & 0xff;
  });
  return pdu;
}
