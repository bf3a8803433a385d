/**
 * The control-channel command of service-port fault injection (see service-port-faults.ts):
 *
 *   {"cmd":"serial-fault","kind":"delay","ms":1500,"count":1}
 *   {"cmd":"serial-fault","kind":"no-reply"}           {"cmd":"serial-fault","kind":"garbage","bytes":40}
 *   {"cmd":"serial-fault","kind":"noise","bytes":16}   {"cmd":"serial-fault","kind":"truncate","keep":10}
 *   {"cmd":"serial-fault","kind":"bad-checksum"}       {"cmd":"serial-fault","kind":"disconnect","downMs":500}
 *   {"cmd":"serial-fault","kind":"clear"}
 *
 * control.ts checks the argument names and types; the values are checked here.
 */
import { SimBadCommandError } from './errors.js';
import type { ServicePort } from './service-port.js';
import { parseFault } from './service-port-faults.js';

export type SerialFaultCommand = {
  cmd: 'serial-fault';
  kind: string;
  ms?: number;
  count?: number;
  bytes?: number;
  keep?: number;
  downMs?: number;
};

/** Argument names of the command, in control.ts's table format. */
export const SERIAL_FAULT_COMMAND_ARGS: Record<
  SerialFaultCommand['cmd'],
  { required: string[]; optional: string[] }
> = {
  'serial-fault': { required: ['kind'], optional: ['ms', 'count', 'bytes', 'keep', 'downMs'] },
};

/** Arguments of the command that are strings (all others are numbers). */
export const SERIAL_FAULT_STRING_ARGS: ReadonlySet<string> = new Set(['kind']);

/**
 * Runs a serial-fault command; returns the reply fields. A disconnect is started, not awaited:
 * the reply says the line is `down`, and the port comes back on its own.
 */
export function runSerialFaultCommand(
  port: ServicePort | null,
  c: SerialFaultCommand,
): Record<string, unknown> {
  if (port === null) {
    throw new SimBadCommandError('serial-fault: this simulator runs no service port');
  }
  const fault = parseFault(c);
  // The outcome of a disconnect (line back, or not) shows in the port's state and stats.
  port.fault(fault).catch(() => undefined);
  return { kind: fault.kind, state: port.state, pending: port.pendingFaults() };
}
