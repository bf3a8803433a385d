/**
 * The control-channel command of Modbus fault injection (see modbus-faults.ts), for both the
 * TCP and the RTU face:
 *
 *   {"cmd":"modbus-fault","kind":"bad-crc","face":"rtu","count":2}
 *   {"cmd":"modbus-fault","kind":"delay","delayMs":1500,"probability":0.2}
 *   {"cmd":"modbus-fault","kind":"exception","exceptionCode":6,"count":1}
 *   {"cmd":"modbus-fault","kind":"truncate","bytes":5}   {"cmd":"modbus-fault","kind":"garbage"}
 *   {"cmd":"modbus-fault","kind":"no-reply","count":3}
 *   {"cmd":"modbus-fault","kind":"disconnect","downMs":500}
 *   {"cmd":"modbus-fault","kind":"none"}                 (disarm every fault)
 *   {"cmd":"modbus-fault","kind":"none","faultId":3}     (disarm one)
 *   {"cmd":"modbus-fault","kind":"list"}                 (armed faults and firings)
 *
 * Every reply carries `armed` (the armed faults) and `fired` (firings by kind). control.ts
 * checks the argument names and types; the values are checked in modbus-faults.ts.
 */
import { SimBadArgumentError } from './errors.js';
import type { ModbusFaults, ModbusFaultSpec } from './modbus-faults.js';

export type ModbusFaultCommand = {
  cmd: 'modbus-fault';
  kind: string;
  face?: string;
  count?: number;
  probability?: number;
  delayMs?: number;
  exceptionCode?: number;
  bytes?: number;
  downMs?: number;
  faultId?: number;
};

/** Argument names of the command, in control.ts's table format. */
export const MODBUS_FAULT_COMMAND_ARGS: Record<
  ModbusFaultCommand['cmd'],
  { required: string[]; optional: string[] }
> = {
  'modbus-fault': {
    required: ['kind'],
    optional: [
      'face',
      'count',
      'probability',
      'delayMs',
      'exceptionCode',
      'bytes',
      'downMs',
      'faultId',
    ],
  },
};

/** Arguments of the command that are strings (all others are numbers). */
export const MODBUS_FAULT_STRING_ARGS: ReadonlySet<string> = new Set(['kind', 'face']);

/** Runs a modbus-fault command; returns the reply fields. Throws SimBadArgumentError on bad values. */
export function runModbusFaultCommand(
  faults: ModbusFaults,
  c: ModbusFaultCommand,
): Record<string, unknown> {
  // `id` is the control channel's echo id, not part of the fault.
  const { cmd: _cmd, faultId, id: _id, ...spec } = c as ModbusFaultCommand & { id?: unknown };
  const result: Record<string, unknown> = {};
  if (c.kind === 'none') {
    if (Object.keys(spec).length > 1)
      throw new SimBadArgumentError('modbus-fault: kind none takes only faultId');
    result.cleared = faults.clear(faultId);
  } else if (c.kind === 'list') {
    if (Object.keys(spec).length > 1 || faultId !== undefined)
      throw new SimBadArgumentError('modbus-fault: kind list takes no other field');
  } else {
    if (faultId !== undefined)
      throw new SimBadArgumentError('modbus-fault: faultId only goes with kind none');
    // The shape is checked by control.ts, the values by ModbusFaults.add.
    result.fault = faults.add(spec as ModbusFaultSpec);
  }
  return { ...result, armed: faults.list(), fired: faults.fired() };
}
