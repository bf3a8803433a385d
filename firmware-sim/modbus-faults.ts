/**
 * Fault injection for the controller's Modbus faces (TCP and RTU), scriptable at run time from
 * the simulator API and the control channel.
 *
 * A fault is armed with a kind and a trigger: `count` (the next N requests) or `probability`
 * (each request, until cleared or `count` firings). Faces ask `take(face)` once for every
 * request they would answer (well formed, for their unit id); the first armed fault that
 * matches the face and fires decides what happens to that reply:
 *
 * | kind         | the reply                                                                  |
 * |--------------|----------------------------------------------------------------------------|
 * | `delay`      | sent `delayMs` late (on top of the face's own delay)                       |
 * | `no-reply`   | never sent                                                                 |
 * | `bad-crc`    | sent with its CRC inverted (RTU only: TCP has no CRC)                      |
 * | `truncate`   | only its first `bytes` bytes (default: half) sent                          |
 * | `garbage`    | replaced by `bytes` seeded random bytes (default: the reply's length), that  |
 * |              | never start like a reply: not with the unit id (RTU), not with protocol 0 (TCP) |
 * | `exception`  | replaced by exception `exceptionCode` (default 4, server device failure)   |
 * | `disconnect` | not sent; TCP drops every connection (refusing new ones for `downMs`);     |
 * |              | RTU closes its end of the line and reopens it after `downMs` (default 200) |
 *
 * Randomness (probability, garbage bytes) comes from a seeded PRNG, so a run repeats exactly.
 */
import { SimBadArgumentError } from './errors.js';
import { Prng } from './prng.js';

export const MODBUS_FAULT_KINDS = [
  'delay',
  'no-reply',
  'bad-crc',
  'truncate',
  'garbage',
  'exception',
  'disconnect',
] as const;
export type ModbusFaultKind = (typeof MODBUS_FAULT_KINDS)[number];
export type ModbusFaceName = 'tcp' | 'rtu';

/** What to arm (from code or a control-channel command). */
export interface ModbusFaultSpec {
  kind: ModbusFaultKind;
  /** Which face it applies to. Default `any` (`bad-crc`: RTU only). */
  face?: ModbusFaceName | 'any';
  /** Fire on the next N matching requests; with `probability`, at most N times. Default 1 without `probability`. */
  count?: number;
  /** Fire on each matching request with this probability, 0 < p ≤ 1. */
  probability?: number;
  /** `delay`: extra ms before the reply (required, > 0). */
  delayMs?: number;
  /** `exception`: the exception code, 1..255. Default 4. */
  exceptionCode?: number;
  /** `truncate`: bytes of the reply sent (default half); `garbage`: bytes sent (default the reply's length). */
  bytes?: number;
  /** `disconnect`: how long the link stays down, ms. Default 0 (TCP), 200 (RTU). */
  downMs?: number;
}

/** An armed fault. */
export interface ModbusFault {
  readonly id: number;
  readonly kind: ModbusFaultKind;
  readonly face: ModbusFaceName | 'any';
  /** Firings left, or null for "until cleared" (probability without count). */
  readonly remaining: number | null;
  readonly probability: number | null;
  readonly fired: number;
  readonly delayMs?: number;
  readonly exceptionCode?: number;
  readonly bytes?: number;
  readonly downMs?: number;
}

const ALLOWED_KEYS = new Set([
  'kind',
  'face',
  'count',
  'probability',
  'delayMs',
  'exceptionCode',
  'bytes',
  'downMs',
]);

interface Armed {
  id: number;
  kind: ModbusFaultKind;
  face: ModbusFaceName | 'any';
  remaining: number | null;
  probability: number | null;
  fired: number;
  delayMs?: number;
  exceptionCode?: number;
  bytes?: number;
  downMs?: number;
}

/** The armed faults of one simulator, and the seeded randomness they use. */
export class ModbusFaults {
  readonly #prng: Prng;
  #armed: Armed[] = [];
  #nextId = 1;
  readonly #fired: Record<ModbusFaultKind, number> = {
    delay: 0,
    'no-reply': 0,
    'bad-crc': 0,
    truncate: 0,
    garbage: 0,
    exception: 0,
    disconnect: 0,
  };

  constructor(options: { seed?: number } = {}) {
    this.#prng = new Prng(options.seed ?? 1);
  }

  /** Arms a fault. Throws SimBadArgumentError (naming the field) on a bad spec. */
  add(spec: ModbusFaultSpec): ModbusFault {
    const armed = validate(spec, this.#nextId);
    this.#nextId += 1;
    this.#armed.push(armed);
    return snapshot(armed);
  }

  /** Disarms one fault (by id) or all. @returns how many were disarmed. */
  clear(id?: number): number {
    const before = this.#armed.length;
    this.#armed = id === undefined ? [] : this.#armed.filter((f) => f.id !== id);
    return before - this.#armed.length;
  }

  /** The armed faults, oldest first. */
  list(): ModbusFault[] {
    return this.#armed.map(snapshot);
  }

  /** Firings so far, by kind. */
  fired(): Record<ModbusFaultKind, number> {
    return { ...this.#fired };
  }

  /**
   * Decides the fate of one request on `face`: the fault that fires, or undefined for a normal
   * reply. A fault whose count runs out is disarmed.
   */
  take(face: ModbusFaceName): ModbusFault | undefined {
    for (const f of this.#armed) {
      if (f.face !== 'any' && f.face !== face) continue;
      if (f.kind === 'bad-crc' && face !== 'rtu') continue;
      if (f.probability !== null && this.#prng.next() >= f.probability) continue;
      f.fired += 1;
      this.#fired[f.kind] += 1;
      if (f.remaining !== null) {
        f.remaining -= 1;
        if (f.remaining === 0) this.#armed = this.#armed.filter((x) => x !== f);
      }
      return snapshot(f);
    }
    return undefined;
  }

  /** `n` seeded random bytes whose first byte is never `avoidFirst` (garbage must not look like a reply). */
  garbage(n: number, avoidFirst: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.#prng.nextU32() & 0xff;
    if (n > 0 && out[0] === avoidFirst)
      out[0] = (avoidFirst + 1 + (this.#prng.nextU32() % 255)) & 0xff;
    return out;
  }
}

/** What a truncated reply keeps: `bytes`, or half of it (at least 1, always less than all). */
export function truncatedLength(fault: ModbusFault, replyLength: number): number {
  const want = fault.bytes ?? Math.floor(replyLength / 2);
  return Math.max(1, Math.min(want, replyLength - 1));
}

function snapshot(f: Armed): ModbusFault {
  return { ...f };
}

function bad(message: string): never {
  throw new SimBadArgumentError(`fault: ${message}`);
}

function intIn(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    bad(`${name} must be an integer from ${min} to ${max}`);
  return v;
}

function validate(spec: ModbusFaultSpec, id: number): Armed {
  if (typeof spec !== 'object' || spec === null) bad('a fault is an object');
  for (const key of Object.keys(spec)) if (!ALLOWED_KEYS.has(key)) bad(`unexpected field ${key}`);
  const kind = spec.kind;
  if (!(MODBUS_FAULT_KINDS as readonly string[]).includes(kind))
    bad(`kind must be one of ${MODBUS_FAULT_KINDS.join(', ')}`);
  const face = spec.face ?? 'any';
  if (face !== 'any' && face !== 'tcp' && face !== 'rtu') bad('face must be tcp, rtu or any');
  if (kind === 'bad-crc' && face === 'tcp') bad('bad-crc is an RTU fault: Modbus TCP has no CRC');
  const count = intIn(spec.count, 'count', 1, 1_000_000);
  let probability: number | null = null;
  if (spec.probability !== undefined) {
    const p = spec.probability;
    if (typeof p !== 'number' || !(p > 0 && p <= 1)) bad('probability must be > 0 and ≤ 1');
    probability = p;
  }
  const armed: Armed = {
    id,
    kind,
    face,
    remaining: count ?? (probability === null ? 1 : null),
    probability,
    fired: 0,
  };
  const only = (field: keyof ModbusFaultSpec, kinds: ModbusFaultKind[]): void => {
    if (spec[field] !== undefined && !kinds.includes(kind))
      bad(`${field} does not apply to ${kind}`);
  };
  only('delayMs', ['delay']);
  only('exceptionCode', ['exception']);
  only('bytes', ['truncate', 'garbage']);
  only('downMs', ['disconnect']);
  if (kind === 'delay') {
    const delayMs = spec.delayMs;
    if (
      typeof delayMs !== 'number' ||
      !Number.isFinite(delayMs) ||
      delayMs <= 0 ||
      delayMs > 600_000
    )
      bad('delay needs delayMs, > 0 and ≤ 600000');
    armed.delayMs = delayMs;
  }
  if (kind === 'exception')
    armed.exceptionCode = intIn(spec.exceptionCode, 'exceptionCode', 1, 255) ?? 4;
  if (kind === 'truncate' || kind === 'garbage') {
    const bytes = intIn(spec.bytes, 'bytes', 1, 1024);
    if (bytes !== undefined) armed.bytes = bytes;
  }
  if (kind === 'disconnect') {
    const downMs = intIn(spec.downMs, 'downMs', 0, 600_000);
    if (downMs !== undefined) armed.downMs = downMs;
  }
  return armed;
}
