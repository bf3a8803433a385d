/**
 * What a Modbus master saw of a reply that never completed. modbus-serial reports every
 * unfinished transaction as a timeout; the clients keep a copy of the bytes that arrived during
 * the transaction (a "tap") and these pure functions tell the three cases apart, so the adapter
 * can report MODBUS_TIMEOUT (nothing came), MODBUS_SHORT_REPLY (the start of our reply came, cut
 * short) or ADAPTER_BAD_REPLY (bytes came that are no reply to us: line noise, a desynchronised
 * stream).
 */

/** `none`: no bytes; `partial`: the start of a plausible reply; `garbage`: anything else. */
export type Leftover = 'none' | 'partial' | 'garbage';

/** Length of the normal RTU reply to a read: unit, function, byte count, data, CRC. */
export function rtuReplyLength(functionCode: number, count: number): number {
  return 5 + (functionCode <= 2 ? Math.ceil(count / 8) : 2 * count);
}

/** RTU exception replies are unit, function | 0x80, code, CRC. */
const RTU_EXCEPTION_LENGTH = 5;

/**
 * Classifies the bytes an RTU master received during one read that did not complete.
 * `functionCode` and `count` are the request's.
 */
export function classifyRtuLeftover(
  bytes: Uint8Array,
  unitId: number,
  functionCode: number,
  count: number,
): Leftover {
  if (bytes.length === 0) return 'none';
  if (bytes[0] !== unitId) return 'garbage';
  if (bytes.length === 1) return 'partial';
  const code = bytes[1];
  if (code === (functionCode | 0x80))
    return bytes.length < RTU_EXCEPTION_LENGTH ? 'partial' : 'garbage';
  if (code !== functionCode) return 'garbage';
  const full = rtuReplyLength(functionCode, count);
  if (bytes.length >= 3 && bytes[2] !== full - 5) return 'garbage';
  return bytes.length < full ? 'partial' : 'garbage';
}

/** Largest MBAP length field a Modbus TCP ADU can carry (unit id + 253-byte PDU). */
const MAX_MBAP_LENGTH = 254;

/**
 * Classifies the bytes a Modbus TCP master received during one read that did not complete.
 * Complete, well-formed ADUs in `bytes` were handed to the master's parser (answered or
 * ignored as stale), so they are skipped; what follows the last of them decides. A header with
 * a protocol id other than 0, an impossible length or another unit id is garbage: the stream
 * has lost its framing.
 */
export function classifyTcpLeftover(bytes: Uint8Array, unitId: number): Leftover {
  let at = 0;
  while (bytes.length - at >= 6) {
    const protocol = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const length = (bytes[at + 4]! << 8) | bytes[at + 5]!;
    if (protocol !== 0 || length < 2 || length > MAX_MBAP_LENGTH) return 'garbage';
    if (bytes.length - at > 6 && bytes[at + 6] !== unitId) return 'garbage';
    if (bytes.length - at < 6 + length) return 'partial';
    at += 6 + length;
  }
  const rest = bytes.length - at;
  if (rest === 0) return 'none';
  // A header cut short: plausible while the protocol id bytes seen so far are 0.
  for (let i = at + 2; i < bytes.length; i++) if (bytes[i] !== 0) return 'garbage';
  return 'partial';
}
