/**
 * Fault injection on the service port. Reply faults wait in a queue and apply, in order, to the
 * next replies the controller sends (each for `count` replies, default 1); `disconnect` acts at
 * once. All are scriptable from code (`servicePort.fault({ kind: 'delay', ms: 1500 })`) and from
 * the control channel (`{"cmd":"serial-fault","kind":"delay","ms":1500}`).
 *
 * | kind           | effect on the wire                                                              |
 * |----------------|---------------------------------------------------------------------------------|
 * | `delay`        | the reply leaves `ms` later (replies stay in order, as on a single-task device)  |
 * | `no-reply`     | the request is executed, the reply never sent                                    |
 * | `garbage`      | a line of `bytes` (default 24) random bytes and CR LF instead of the reply       |
 * | `noise`        | `bytes` random bytes, unterminated, just before the intact reply (line noise)    |
 * | `truncate`     | only the first `keep` bytes of the reply (default half), and no terminator       |
 * | `bad-checksum` | the reply with a wrong checksum                                                  |
 * | `disconnect`   | the line drops — the PTY pair is torn down, so the master's port reports a       |
 * |                | hang-up — and comes back after `downMs` (default 500) on the same path           |
 * | `clear`        | drops every queued reply fault                                                   |
 *
 * Model-level faults (error storms, reboots, clock jumps) are the simulator's (`sim.faults`,
 * model-faults.ts); the service port follows them: a storm's raises and clears go out as
 * `!EVT` lines, and during a reboot the port is silent, then sends `!EVT BOOT`.
 */
import { SimBadArgumentError, SimBadCommandError } from './errors.js';
import type { Prng } from './prng.js';
import { checkNumber } from './validate.js';

export type ReplyFault =
  | { kind: 'delay'; ms: number; count?: number }
  | { kind: 'no-reply'; count?: number }
  | { kind: 'garbage'; bytes?: number; count?: number }
  | { kind: 'noise'; bytes?: number; count?: number }
  | { kind: 'truncate'; keep?: number; count?: number }
  | { kind: 'bad-checksum'; count?: number };

export type LineFault = { kind: 'disconnect'; downMs?: number } | { kind: 'clear' };

export type ServicePortFault = ReplyFault | LineFault;

const FIELDS: Record<ServicePortFault['kind'], readonly string[]> = {
  delay: ['ms', 'count'],
  'no-reply': ['count'],
  garbage: ['bytes', 'count'],
  noise: ['bytes', 'count'],
  truncate: ['keep', 'count'],
  'bad-checksum': ['count'],
  disconnect: ['downMs'],
  clear: [],
};
const REQUIRED: Partial<Record<ServicePortFault['kind'], readonly string[]>> = { delay: ['ms'] };

/**
 * Validates a fault given as a plain object (`kind` names it; `cmd` and `id` of a control
 * command are ignored). Throws SimBadCommandError for a bad shape, SimBadArgumentError for a
 * bad value.
 */
export function parseFault(value: Record<string, unknown>): ServicePortFault {
  const kind = value.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(FIELDS, kind)) {
    throw new SimBadCommandError(
      `unknown service-port fault ${JSON.stringify(kind)}; expected one of ${Object.keys(FIELDS).join(', ')}`,
    );
  }
  const k = kind as ServicePortFault['kind'];
  const out: Record<string, unknown> = { kind: k };
  for (const [key, v] of Object.entries(value)) {
    if (key === 'kind' || key === 'cmd' || key === 'id') continue;
    if (!FIELDS[k].includes(key)) throw new SimBadCommandError(`${k}: unexpected field ${key}`);
    const min = key === 'count' || key === 'bytes' ? 1 : 0;
    out[key] = checkNumber(`${k}.${key}`, v, min, RANGES[key] ?? 600_000, INTEGERS.has(key));
  }
  for (const key of REQUIRED[k] ?? []) {
    if (!(key in out)) throw new SimBadCommandError(`${k}: missing ${key}`);
  }
  return out as ServicePortFault;
}

const RANGES: Record<string, number> = { count: 100_000, bytes: 4096, keep: 4096 };
const INTEGERS = new Set(['count', 'bytes', 'keep']);

export function isReplyFault(f: ServicePortFault): f is ReplyFault {
  return (
    f.kind === 'delay' ||
    f.kind === 'no-reply' ||
    f.kind === 'garbage' ||
    f.kind === 'noise' ||
    f.kind === 'truncate' ||
    f.kind === 'bad-checksum'
  );
}

/** How one reply goes out: after `delayMs`, these bytes (null = nothing). */
export interface ReplyPlan {
  delayMs: number;
  bytes: Buffer | null;
  fault: ReplyFault['kind'] | null;
}

/** The queue of reply faults, and what each does to a framed reply line (pure, seeded). */
export class ReplyFaults {
  readonly #queue: Array<{ fault: ReplyFault; left: number }> = [];
  readonly #prng: Prng;

  constructor(prng: Prng) {
    this.#prng = prng;
  }

  add(fault: ReplyFault): void {
    this.#queue.push({ fault, left: fault.count ?? 1 });
  }

  clear(): void {
    this.#queue.length = 0;
  }

  get pending(): ReplyFault[] {
    return this.#queue.map((q) => ({ ...q.fault, count: q.left }));
  }

  /** Plans the next reply (`line` is the framed reply, terminator included). */
  plan(line: string): ReplyPlan {
    const head = this.#queue[0];
    const intact: ReplyPlan = { delayMs: 0, bytes: Buffer.from(line, 'latin1'), fault: null };
    if (!head) return intact;
    head.left -= 1;
    if (head.left <= 0) this.#queue.shift();
    const f = head.fault;
    switch (f.kind) {
      case 'delay':
        return { ...intact, delayMs: f.ms, fault: f.kind };
      case 'no-reply':
        return { delayMs: 0, bytes: null, fault: f.kind };
      case 'garbage':
        return {
          delayMs: 0,
          bytes: Buffer.concat([this.#noise(f.bytes ?? 24), Buffer.from('\r\n')]),
          fault: f.kind,
        };
      case 'noise':
        return {
          delayMs: 0,
          bytes: Buffer.concat([this.#noise(f.bytes ?? 24), intact.bytes as Buffer]),
          fault: f.kind,
        };
      case 'truncate': {
        // Always short of the checksum: at most the payload minus its last byte.
        const body = line.replace(/\*[0-9A-F]{2}\r\n$/, '');
        const keep = Math.min(f.keep ?? Math.floor(body.length / 2), Math.max(0, body.length - 1));
        return { delayMs: 0, bytes: Buffer.from(body.slice(0, keep), 'latin1'), fault: f.kind };
      }
      case 'bad-checksum': {
        const m = /^(.*\*)([0-9A-F]{2})\r\n$/s.exec(line);
        if (!m) return intact;
        const wrong = ((parseInt(m[2] as string, 16) ^ (1 + this.#prng.int(0, 254))) & 0xff)
          .toString(16)
          .toUpperCase()
          .padStart(2, '0');
        return { delayMs: 0, bytes: Buffer.from(`${m[1]}${wrong}\r\n`, 'latin1'), fault: f.kind };
      }
    }
  }

  /** Random bytes without CR or LF (so they stay on one line). */
  #noise(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      let b = this.#prng.int(0, 255);
      if (b === 0x0a || b === 0x0d) b ^= 0x80;
      out[i] = b;
    }
    return out;
  }
}

/** Checks a fault given in code (same rules as the control channel). */
export function checkFault(fault: ServicePortFault): ServicePortFault {
  if (typeof fault !== 'object' || fault === null)
    throw new SimBadArgumentError('a fault is an object with a kind');
  return parseFault(fault as unknown as Record<string, unknown>);
}
