import { AdapterError } from '../errors.js';
import type { DeviceEvent } from '../types.js';
import { SerialDeviceError } from './errors.js';

/**
 * The agent's encoder and decoder of the service-port text protocol (docs/adapters.md, "Serial
 * service port"). Written apart from the simulator's, on purpose: a misreading of the protocol
 * must show up as a failing test, not be mirrored on both sides.
 *
 *   request  `COUNTERS #17*hh\r\n`          verb, arguments, `#tag` (echoed by the reply)
 *   reply    `OK COUNTERS #17 name=value …*hh` or `ERR <CODE> [#tag] <text>*hh`
 *   event    `!EVT ERR <code> RAISED|CLEARED <unix-ms>*hh`, `!EVT BOOT [<unix-ms>]*hh`
 */

/** Where a frame may start (for the framer's resync): `OK`, `ERR` or `!EVT`. */
export function isServicePortFrameStart(head: string): boolean {
  return /^(OK|ERR|!EVT)( |$)/.test(head);
}

/** XOR of the payload's bytes. */
export function xorChecksum(payload: string): number {
  let x = 0;
  for (let i = 0; i < payload.length; i++) x ^= payload.charCodeAt(i);
  return x;
}

const TOKEN = /^[\x21-\x29\x2b-\x7e]+$/; // printable, no space, no `*`

/** `VERB args… #tag*HH\r\n` as bytes. Throws RangeError for a token that cannot be sent. */
export function encodeRequest(
  verb: string,
  args: readonly string[] = [],
  tag?: number,
): Uint8Array {
  const tokens = [verb, ...args];
  for (const t of tokens) {
    if (!TOKEN.test(t))
      throw new RangeError(`cannot send ${JSON.stringify(t)} on the service port`);
  }
  if (tag !== undefined) {
    if (!Number.isInteger(tag) || tag < 0 || tag > 99_999)
      throw new RangeError('tag must be 0..99999');
    tokens.push(`#${tag}`);
  }
  const payload = tokens.join(' ');
  const hh = xorChecksum(payload).toString(16).toUpperCase().padStart(2, '0');
  return Buffer.from(`${payload}*${hh}\r\n`, 'latin1');
}

/** A decoded frame. */
export type ServiceMessage =
  | { kind: 'ok'; verb: string; tag: number | undefined; fields: string[] }
  | { kind: 'err'; deviceCode: string; tag: number | undefined; text: string }
  | { kind: 'event'; event: DeviceEvent }
  /** An `!EVT` this agent does not know (newer firmware): ignored. */
  | { kind: 'other-event'; text: string };

const TAG = /^#(\d{1,5})$/;

/**
 * Decodes one frame's payload. `now` stamps events without a time of their own. Throws
 * `ADAPTER_BAD_REPLY` for a line that is neither a reply nor an event.
 */
export function decodeMessage(payload: string, now: () => number): ServiceMessage {
  const tokens = payload.split(' ').filter((t) => t !== '');
  const head = tokens[0];
  if (head === 'OK') {
    const verb = tokens[1];
    if (verb === undefined) throw badReply('an OK without a verb', payload);
    const tag = TAG.exec(tokens[2] ?? '');
    return {
      kind: 'ok',
      verb,
      tag: tag ? Number(tag[1]) : undefined,
      fields: tokens.slice(tag ? 3 : 2),
    };
  }
  if (head === 'ERR') {
    const deviceCode = tokens[1];
    if (deviceCode === undefined) throw badReply('an ERR without a code', payload);
    const tag = TAG.exec(tokens[2] ?? '');
    return {
      kind: 'err',
      deviceCode,
      tag: tag ? Number(tag[1]) : undefined,
      text: tokens.slice(tag ? 3 : 2).join(' '),
    };
  }
  if (head === '!EVT') return decodeEvent(tokens, payload, now);
  throw badReply('a line that is neither a reply nor an event', payload);
}

function decodeEvent(tokens: string[], payload: string, now: () => number): ServiceMessage {
  if (tokens[1] === 'ERR') {
    const code = Number(tokens[2]);
    const state = tokens[3];
    if (!/^\d{1,5}$/.test(tokens[2] ?? '') || code < 1 || code > 0xffff)
      throw badReply('an error event with a bad code', payload);
    if (state !== 'RAISED' && state !== 'CLEARED')
      throw badReply('an error event that is neither RAISED nor CLEARED', payload);
    return {
      kind: 'event',
      event: {
        type: 'error',
        code,
        state: state === 'RAISED' ? 'raised' : 'cleared',
        atMs: stamp(tokens[4], now),
      },
    };
  }
  if (tokens[1] === 'BOOT')
    return { kind: 'event', event: { type: 'reboot', atMs: stamp(tokens[2], now) } };
  return { kind: 'other-event', text: tokens.slice(1).join(' ') };
}

/** Furthest a device's time stamp may be from the agent's clock and still be believed. */
export const MAX_DEVICE_CLOCK_SKEW_MS = 60_000;

/**
 * The device's Unix-ms time stamp if it is one and within a minute of the agent's clock; the
 * agent's time otherwise (a controller RTC that jumped must not date an alarm a day off).
 */
function stamp(text: string | undefined, now: () => number): number {
  const t = now();
  if (text === undefined || !/^\d{1,16}$/.test(text)) return t;
  const device = Number(text);
  return Math.abs(device - t) <= MAX_DEVICE_CLOCK_SKEW_MS ? device : t;
}

/** The error an `ERR` reply stands for. */
export function deviceError(
  verb: string,
  m: { deviceCode: string; text: string },
): SerialDeviceError {
  // The controller saw our request damaged on the way: like a damaged reply, worth a retry.
  const code = m.deviceCode === 'CHK' ? 'SERIAL_BAD_CHECKSUM' : 'SERIAL_DEVICE_ERROR';
  return new SerialDeviceError(
    code,
    `the controller refused ${verb}: ERR ${m.deviceCode} ${m.text}`,
    {
      deviceCode: m.deviceCode,
      deviceText: m.text,
    },
  );
}

export function badReply(what: string, payload: string): AdapterError {
  const shown = payload.length > 60 ? `${payload.slice(0, 60)}…` : payload;
  return new AdapterError('ADAPTER_BAD_REPLY', `the controller sent ${what}: "${shown}"`);
}

/** `name=value` fields as pairs, in order. Throws ADAPTER_BAD_REPLY for a field without `=`. */
export function keyValues(verb: string, fields: readonly string[]): Array<[string, string]> {
  return fields.map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0) throw badReply(`a ${verb} field without name=value`, f);
    return [f.slice(0, eq), f.slice(eq + 1)];
  });
}

/** `OK ERRORS raises=<n> active=<c1,c2,…>`. */
export function parseErrors(fields: readonly string[]): { codes: number[]; raisesTotal?: number } {
  const kv = new Map(keyValues('ERRORS', fields));
  const active = kv.get('active');
  if (active === undefined) throw badReply('an ERRORS reply without active=', fields.join(' '));
  const codes: number[] = [];
  for (const c of active === '' ? [] : active.split(',')) {
    const code = Number(c);
    if (!/^\d{1,5}$/.test(c) || code < 1 || code > 0xffff)
      throw badReply('an ERRORS reply with a bad code', c);
    if (!codes.includes(code)) codes.push(code);
  }
  const raises = kv.get('raises');
  if (raises !== undefined && /^\d{1,10}$/.test(raises))
    return { codes, raisesTotal: Number(raises) };
  return { codes };
}

/** `OK LOGS name:bytes:mtime …`. */
export function parseLogList(
  fields: readonly string[],
): Array<{ name: string; bytes: number; modifiedMs: number }> {
  return fields.map((f) => {
    const m = /^([A-Za-z0-9._-]{1,64}):(\d{1,12}):(\d{1,16})$/.exec(f);
    if (!m) throw badReply('a LOGS entry that is not name:bytes:mtime', f);
    return { name: m[1]!, bytes: Number(m[2]), modifiedMs: Number(m[3]) };
  });
}

/** `OK LOG <name> <offset> <size> [<base64>]`, checked against what was asked. */
export function parseLogChunk(
  fields: readonly string[],
  name: string,
  offset: number,
): { size: number; bytes: Uint8Array } {
  const [gotName, gotOffset, size, data = '', ...rest] = fields;
  if (
    gotName !== name ||
    gotOffset !== String(offset) ||
    rest.length > 0 ||
    !/^\d{1,12}$/.test(size ?? '')
  )
    throw badReply(
      `a LOG reply that does not answer LOG ${name} ${offset}`,
      fields.join(' ').slice(0, 80),
    );
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0)
    throw badReply('a LOG reply whose data is not base64', data.slice(0, 40));
  return { size: Number(size), bytes: new Uint8Array(Buffer.from(data, 'base64')) };
}

/**
 * A decimal as the device printed it, as an integer and a power-of-ten scale, losslessly:
 * `"24.3"` → raw 243, scale 0.1. Undefined if it is not a plain decimal.
 */
export function parseDecimal(
  text: string,
): { raw: number; scale: number; value: number } | undefined {
  const m = /^(-?)(\d{1,15})(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) return undefined;
  const decimals = m[3]?.length ?? 0;
  const raw = Number(`${m[1]}${m[2]}${m[3] ?? ''}`);
  if (!Number.isSafeInteger(raw)) return undefined;
  return {
    raw: raw === 0 ? 0 : raw,
    scale: decimals === 0 ? 1 : Number(`1e-${decimals}`),
    value: Number(text) || 0,
  };
}
