/**
 * Run-time fault injection for the vendor-SDK endpoint: what to do to the next request(s)
 * instead of answering them properly. Pure bookkeeping; the endpoint applies the faults.
 *
 *   delay      answer `ms` later
 *   no-reply   swallow the request; never answer it
 *   malformed  answer with a frame whose payload is not JSON
 *   oversize   answer with a length prefix beyond the frame limit (and nothing after it)
 *   drop       close the connection instead of answering
 *
 * A fault applies to the next `count` requests (any method, or only `method`); without `count`
 * it stays until cleared. Several faults may be armed; the oldest matching one applies.
 */
import { SimBadArgumentError, SimBadCommandError } from './errors.js';
import { SDK_METHODS, type SdkMethod } from './sdk-protocol.js';

export const SDK_FAULT_KINDS = ['delay', 'no-reply', 'malformed', 'oversize', 'drop'] as const;
export type SdkFaultKind = (typeof SDK_FAULT_KINDS)[number];

export interface SdkFault {
  kind: SdkFaultKind;
  /** For `delay`: how long, ms (0..600 000). */
  ms?: number;
  /** How many requests it applies to (≥ 1). Default: every request until cleared. */
  count?: number;
  /** Only requests for this method. Default: any. */
  method?: SdkMethod;
}

/** Checks a fault given as data (control channel, API); throws SimBadCommandError/SimBadArgumentError. */
export function parseSdkFault(value: unknown): SdkFault {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SimBadCommandError('an SDK fault is an object {kind, ms?, count?, method?}');
  }
  const { kind, ms, count, method } = value as Record<string, unknown>;
  if (typeof kind !== 'string' || !(SDK_FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new SimBadArgumentError(
      `SDK fault kind must be one of ${SDK_FAULT_KINDS.join(', ')} (got ${JSON.stringify(kind)})`,
    );
  }
  const fault: SdkFault = { kind: kind as SdkFaultKind };
  if (kind === 'delay') {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 600_000) {
      throw new SimBadArgumentError('SDK fault delay needs ms in 0..600000');
    }
    fault.ms = ms;
  } else if (ms !== undefined) {
    throw new SimBadArgumentError(`SDK fault ${kind} takes no ms`);
  }
  if (count !== undefined) {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      throw new SimBadArgumentError('SDK fault count must be an integer ≥ 1');
    }
    fault.count = count;
  }
  if (method !== undefined) {
    if (typeof method !== 'string' || !(SDK_METHODS as readonly string[]).includes(method)) {
      throw new SimBadArgumentError(
        `SDK fault method must be one of ${SDK_METHODS.join(', ')} (got ${JSON.stringify(method)})`,
      );
    }
    fault.method = method as SdkMethod;
  }
  return fault;
}

/** The armed faults, oldest first. */
export class SdkFaultPlan {
  readonly #armed: Array<{ fault: SdkFault; left: number }> = [];
  #applied = 0;

  /** Faults applied so far. */
  get applied(): number {
    return this.#applied;
  }

  add(fault: SdkFault): void {
    const checked = parseSdkFault(fault);
    this.#armed.push({ fault: checked, left: checked.count ?? Infinity });
  }

  clear(): void {
    this.#armed.length = 0;
  }

  list(): SdkFault[] {
    return this.#armed.map((a) => ({ ...a.fault }));
  }

  /** The fault to apply to a request for `method`, if any (consumes one of its count). */
  take(method: string): SdkFault | null {
    const i = this.#armed.findIndex(
      (a) => a.fault.method === undefined || a.fault.method === method,
    );
    if (i < 0) return null;
    const armed = this.#armed[i]!;
    armed.left -= 1;
    if (armed.left <= 0) this.#armed.splice(i, 1);
    this.#applied += 1;
    return armed.fault;
  }
}
