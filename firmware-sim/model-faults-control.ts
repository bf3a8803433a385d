/**
 * The control-channel commands of model-level fault injection (see model-faults.ts):
 *
 *   {"cmd":"storm","code":3003,"perSecond":300,"durationMs":2000}
 *   {"cmd":"wrap","counter":"exposures_total","before":3}
 *   {"cmd":"clock","jumpMs":86400000}
 *   {"cmd":"reboot","downMs":1500}
 *
 * control.ts checks the argument names and types; the ranges are checked here and in the model.
 */
import { SimBadArgumentError } from './errors.js';
import { WRAP_COUNTERS, type ModelFaults, type WrapCounter } from './model-faults.js';

export type FaultCommand =
  | { cmd: 'storm'; code: number; perSecond: number; durationMs: number }
  | { cmd: 'wrap'; counter: string; before?: number }
  | { cmd: 'clock'; jumpMs: number }
  | { cmd: 'reboot'; downMs?: number; holdMs?: number };

/** Argument names of each fault command, in control.ts's table format. */
export const FAULT_COMMAND_ARGS: Record<
  FaultCommand['cmd'],
  { required: string[]; optional: string[] }
> = {
  storm: { required: ['code', 'perSecond', 'durationMs'], optional: [] },
  wrap: { required: ['counter'], optional: ['before'] },
  clock: { required: ['jumpMs'], optional: [] },
  reboot: { required: [], optional: ['downMs', 'holdMs'] },
};

/** Fault-command arguments that are strings (all others are numbers). */
export const FAULT_STRING_ARGS: ReadonlySet<string> = new Set(['counter']);

function isWrapCounter(value: string): value is WrapCounter {
  return (WRAP_COUNTERS as readonly string[]).includes(value);
}

/** Runs a fault command; returns the reply fields. Throws SimError subclasses on bad values. */
export function runFaultCommand(faults: ModelFaults, c: FaultCommand): Record<string, unknown> {
  switch (c.cmd) {
    case 'storm':
      return {
        storm: faults.storm({ code: c.code, perSecond: c.perSecond, durationMs: c.durationMs }),
      };
    case 'wrap': {
      if (!isWrapCounter(c.counter)) {
        throw new SimBadArgumentError(
          `wrap: counter must be one of ${WRAP_COUNTERS.join(', ')}, got ${JSON.stringify(c.counter)}`,
        );
      }
      return { counter: c.counter, value: faults.wrap(c.counter, c.before) };
    }
    case 'clock':
      return { clockOffsetMs: faults.jumpClock(c.jumpMs) };
    case 'reboot': {
      const { downUntilMs } = faults.reboot({
        ...(c.downMs === undefined ? {} : { downMs: c.downMs }),
        ...(c.holdMs === undefined ? {} : { holdMs: c.holdMs }),
      });
      return { downUntilMs, faults: faults.status() };
    }
  }
}
