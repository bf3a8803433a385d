import { SdkError } from './errors.js';
import type { SdkEvent } from './types.js';

/** The protocol revision this binding speaks (the endpoint reports its own in `hello`). */
export const IPC_PROTOCOL = 1;

/**
 * Error codes of the out-of-process SDK endpoint (`error.code` in a reply), and the
 * AdapterError code each maps to. Anything else maps to `SDK_ERROR`.
 */
export const IPC_STATUS = {
  BAD_FRAME: 1,
  FRAME_TOO_LARGE: 2,
  UNKNOWN_METHOD: 3,
  BAD_PARAMS: 4,
  NO_SUCH_LOG: 5,
  BUSY: 6,
  INTERNAL: 7,
  /** The device behind the endpoint did not answer in time. */
  DEVICE_TIMEOUT: 8,
} as const;

/** One message read from the endpoint. */
export type IpcMessage =
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number | null; status: number | string; message: string }
  | { kind: 'event'; event: Exclude<SdkEvent, { type: 'disconnected' }> }
  /** An event this binding does not know (the protocol grows additively): skip it. */
  | { kind: 'unknown-event'; name: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string, cause?: unknown): SdkError {
  return new SdkError('SDK_BAD_FRAME', `SDK sent a malformed message: ${message}`, { cause });
}

const isId = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;

/**
 * Reads one frame payload. Pure; throws only {@link SdkError} `SDK_BAD_FRAME` (not UTF-8, not
 * JSON, or not a reply or event of this protocol).
 */
export function decodeIpcMessage(payload: Uint8Array): IpcMessage {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch (cause) {
    throw bad('payload is not UTF-8 JSON', cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('not a JSON object');
  }
  const m = value as Record<string, unknown>;
  if ('event' in m) return decodeEvent(m);
  if (!('id' in m)) throw bad('a reply needs an id');
  if ('error' in m) {
    const e = m.error;
    if (typeof e !== 'object' || e === null) throw bad('error must be an object');
    const { code, message } = e as Record<string, unknown>;
    if (typeof code !== 'number' && typeof code !== 'string') throw bad('error.code missing');
    if (m.id !== null && !isId(m.id)) throw bad('reply id must be an integer or null');
    return {
      kind: 'error',
      id: m.id,
      status: code,
      message: typeof message === 'string' ? message : '',
    };
  }
  if (!isId(m.id)) throw bad('reply id must be an integer 0..2^32-1');
  if (!('result' in m)) throw bad('a reply needs a result or an error');
  return { kind: 'result', id: m.id, result: m.result };
}

function decodeEvent(m: Record<string, unknown>): IpcMessage {
  const name = m.event;
  if (typeof name !== 'string') throw bad('event name must be a string');
  if (name !== 'error' && name !== 'reboot') return { kind: 'unknown-event', name };
  const atMs = m.atMs;
  if (typeof atMs !== 'number' || !Number.isFinite(atMs)) throw bad(`${name} event needs atMs`);
  if (name === 'error') {
    const { code, state } = m;
    if (!Number.isSafeInteger(code) || (code as number) < 0) throw bad('error event code');
    if (state !== 'raised' && state !== 'cleared') throw bad('error event state');
    return { kind: 'event', event: { type: 'error', code: code as number, state, atMs } };
  }
  return { kind: 'event', event: { type: 'reboot', atMs } };
}
