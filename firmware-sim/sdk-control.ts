/**
 * The control-channel command of vendor-SDK fault injection (see sdk-faults.ts):
 *
 *   {"cmd":"sdk-fault","kind":"delay","ms":800,"count":1,"method":"getCounters"}
 *   {"cmd":"sdk-fault","kind":"no-reply"}   {"cmd":"sdk-fault","kind":"malformed","count":1}
 *   {"cmd":"sdk-fault","kind":"oversize","count":1}   {"cmd":"sdk-fault","kind":"drop","count":1}
 *   {"cmd":"sdk-fault","kind":"disconnect"}   (close every SDK connection now)
 *   {"cmd":"sdk-fault","kind":"none"}         (clear every armed fault)
 *
 * control.ts checks the argument names and types; the values are checked here.
 */
import { SimBadCommandError } from './errors.js';
import type { SdkEndpoint } from './sdk-endpoint.js';
import { parseSdkFault } from './sdk-faults.js';

export type SdkFaultCommand = {
  cmd: 'sdk-fault';
  kind: string;
  ms?: number;
  count?: number;
  method?: string;
};

/** Argument names of the command, in control.ts's table format. */
export const SDK_FAULT_COMMAND_ARGS: Record<
  SdkFaultCommand['cmd'],
  { required: string[]; optional: string[] }
> = {
  'sdk-fault': { required: ['kind'], optional: ['ms', 'count', 'method'] },
};

/** Arguments of the command that are strings (all others are numbers). */
export const SDK_FAULT_STRING_ARGS: ReadonlySet<string> = new Set(['kind', 'method']);

/** Runs an sdk-fault command against the endpoint; returns the reply fields. */
export function runSdkFaultCommand(
  endpoint: SdkEndpoint | null,
  c: SdkFaultCommand,
): Record<string, unknown> {
  if (endpoint === null) {
    throw new SimBadCommandError('sdk-fault: this simulator runs no vendor-SDK endpoint');
  }
  if (c.kind === 'none') {
    endpoint.clearFaults();
  } else if (c.kind === 'disconnect') {
    return { dropped: endpoint.dropConnections(), faults: endpoint.faults() };
  } else {
    const { cmd: _cmd, ...fault } = c;
    endpoint.inject(parseSdkFault(fault));
  }
  return { faults: endpoint.faults() };
}
