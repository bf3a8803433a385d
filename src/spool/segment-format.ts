// The pure-JavaScript build: the package root on Node also loads msgpackr-extract, a native
// addon (about 6 MiB of RSS) that only speeds up decoding long strings, which these records
// do not have.
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { BODY_FIELD, type BodyType } from '../codec/index.js';
import { crc32c } from './crc32c.js';
import { LANES, type Lane, type QueuedRecord } from './queue.js';

/**
 * The spool's on-disk framing, version 1 (pure codec, no I/O).
 *
 * A segment file is a sequence of frames:
 *
 * | offset | size | field                                                        |
 * | ------ | ---- | ------------------------------------------------------------ |
 * | 0      | 4    | magic `OPSR` (what the scanner resyncs on)                   |
 * | 4      | 4    | payload length n, u32 little-endian, at most 16 MiB          |
 * | 8      | 4    | CRC-32C over bytes 0–7 and the payload, u32 little-endian    |
 * | 12     | n    | payload: MessagePack                                         |
 *
 * Payloads are one of:
 * - a record: `{seq, lane, type, body, samples, acceptedAtMs}`;
 * - a segment header (first frame of every segment): `{k: 'segment', v: 1, stream, segment,
 *   firstSeq}` — every record in this and later segments has `seq >= firstSeq`, every record
 *   in earlier segments has `seq < firstSeq`;
 * - a seal (last frame of a segment that was filled): `{k: 'seal', lastSeq}` — no record in
 *   the segment has a higher seq, and the segment is complete, so a bad frame in it is
 *   corruption, never a torn write.
 *
 * The state file uses the same framing with the magic `OPSS`.
 */
export const FRAME = {
  recordMagic: Uint8Array.of(0x4f, 0x50, 0x53, 0x52), // "OPSR"
  stateMagic: Uint8Array.of(0x4f, 0x50, 0x53, 0x53), // "OPSS"
  headerBytes: 12,
  maxPayloadBytes: 16 * 1024 * 1024,
} as const;

export interface SegmentHeader {
  stream: string;
  segment: number;
  firstSeq: number;
}

export interface SegmentSeal {
  lastSeq: number;
}

/** One item found by {@link scanSegment}, in file order. `offset`/`size` cover the whole frame. */
export type ScanItem =
  | { kind: 'record'; offset: number; size: number; record: QueuedRecord }
  | { kind: 'header'; offset: number; size: number; header: SegmentHeader }
  | { kind: 'seal'; offset: number; size: number; seal: SegmentSeal }
  /** Bytes that are not a verified frame (torn write, corruption, garbage): never parsed. */
  | { kind: 'bad'; offset: number; size: number };

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false });

const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Frames `payload` (magic, length, CRC-32C). */
export function encodeFrame(
  payload: Uint8Array,
  magic: Uint8Array = FRAME.recordMagic,
): Uint8Array {
  if (payload.length > FRAME.maxPayloadBytes) {
    throw new RangeError(`payload of ${payload.length} bytes exceeds the frame limit`);
  }
  const out = new Uint8Array(FRAME.headerBytes + payload.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(magic, 0);
  view.setUint32(4, payload.length, true);
  out.set(payload, FRAME.headerBytes);
  view.setUint32(8, frameCrc(out, 0, payload.length), true);
  return out;
}

/** CRC-32C over the frame's first 8 bytes and its payload (the CRC field itself excluded). */
function frameCrc(bytes: Uint8Array, at: number, length: number): number {
  const head = crc32c(bytes, at, at + 8);
  const start = at + FRAME.headerBytes;
  return crc32c(bytes, start, start + length, head);
}

/** Encodes one record frame. */
export function encodeRecord(r: QueuedRecord): Uint8Array {
  return encodeRecordDirect(r) ?? encodeRecordPacked(r);
}

/** {@link encodeRecord} through msgpackr (the reference, and the fallback for unusual values). */
export function encodeRecordPacked(r: QueuedRecord): Uint8Array {
  return encodeFrame(
    packr.pack({
      seq: r.seq,
      lane: r.lane,
      type: r.type,
      body: r.body,
      samples: r.samples,
      acceptedAtMs: r.acceptedAtMs,
    }),
  );
}

/** The record map's keys, MessagePack fixstr-encoded, in the order written. */
const KEY = Object.fromEntries(
  ['seq', 'lane', 'type', 'body', 'samples', 'acceptedAtMs'].map((k) => [
    k,
    Uint8Array.from([0xa0 | k.length, ...Array.from(k, (ch) => ch.charCodeAt(0))]),
  ]),
) as Record<'seq' | 'lane' | 'type' | 'body' | 'samples' | 'acceptedAtMs', Uint8Array>;

const KEY_BYTES = Object.values(KEY).reduce((n, k) => n + k.length, 0);

/** Bytes a non-negative safe integer takes: fixint, uint8/16/32, or float64 above 32 bits. */
function uintBytes(n: number): number {
  return n < 0x80 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

function writeUint(view: DataView, out: Uint8Array, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  if (n <= 0xff) {
    out[at] = 0xcc;
    out[at + 1] = n;
    return at + 2;
  }
  if (n <= 0xffff) {
    out[at] = 0xcd;
    view.setUint16(at + 1, n);
    return at + 3;
  }
  if (n <= 0xffffffff) {
    out[at] = 0xce;
    view.setUint32(at + 1, n);
    return at + 5;
  }
  out[at] = 0xcb; // float64: exact for every safe integer, and read back as a number
  view.setFloat64(at + 1, n);
  return at + 9;
}

/** A short ASCII string as a fixstr, or undefined. */
function fixstrBytes(s: string): number | undefined {
  if (s.length > 31) return undefined;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return undefined;
  return 1 + s.length;
}

function writeFixstr(out: Uint8Array, at: number, s: string): number {
  out[at++] = 0xa0 | s.length;
  for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
  return at;
}

function writeKey(out: Uint8Array, at: number, key: Uint8Array): number {
  out.set(key, at);
  return at + key.length;
}

/**
 * The same frame {@link encodeRecordPacked} writes, byte for byte, with the MessagePack written
 * straight into the frame: one allocation and one copy of the body. Undefined (use the reference) for values
 * outside what the spool writes: a seq, sample count or time that is not a non-negative safe
 * integer, a lane or type name that is not short ASCII.
 */
function encodeRecordDirect(r: QueuedRecord): Uint8Array | undefined {
  const { seq, samples, acceptedAtMs, body } = r;
  if (!isSeq(seq) || !isSeq(samples) || !isSeq(acceptedAtMs)) return undefined;
  const lane = fixstrBytes(r.lane);
  const type = fixstrBytes(r.type);
  if (lane === undefined || type === undefined) return undefined;
  const n = body.length;
  const binHead = n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
  const payload =
    3 +
    KEY_BYTES +
    uintBytes(seq) +
    lane +
    type +
    binHead +
    n +
    uintBytes(samples) +
    uintBytes(acceptedAtMs);
  if (payload > FRAME.maxPayloadBytes) return undefined;
  const out = new Uint8Array(FRAME.headerBytes + payload);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out.set(FRAME.recordMagic, 0);
  view.setUint32(4, payload, true);
  let at: number = FRAME.headerBytes;
  out[at++] = 0xde; // map16 of 6 entries, as msgpackr writes a map
  out[at++] = 0;
  out[at++] = 6;
  at = writeUint(view, out, writeKey(out, at, KEY.seq), seq);
  at = writeFixstr(out, writeKey(out, at, KEY.lane), r.lane);
  at = writeFixstr(out, writeKey(out, at, KEY.type), r.type);
  at = writeKey(out, at, KEY.body);
  if (n <= 0xff) {
    out[at] = 0xc4;
    out[at + 1] = n;
  } else if (n <= 0xffff) {
    out[at] = 0xc5;
    view.setUint16(at + 1, n);
  } else {
    out[at] = 0xc6;
    view.setUint32(at + 1, n);
  }
  at += binHead;
  out.set(body, at);
  at += n;
  at = writeUint(view, out, writeKey(out, at, KEY.samples), samples);
  writeUint(view, out, writeKey(out, at, KEY.acceptedAtMs), acceptedAtMs);
  view.setUint32(8, frameCrc(out, 0, payload), true);
  return out;
}

export function encodeSegmentHeader(h: SegmentHeader): Uint8Array {
  return encodeFrame(
    packr.pack({ k: 'segment', v: 1, stream: h.stream, segment: h.segment, firstSeq: h.firstSeq }),
  );
}

export function encodeSeal(s: SegmentSeal): Uint8Array {
  return encodeFrame(packr.pack({ k: 'seal', lastSeq: s.lastSeq }));
}

/** MessagePack with the spool's settings (for the state file). */
export function packPayload(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Checks the frame at `at`: `length` of the payload when magic, length bound and CRC all
 * verify and the frame is complete; otherwise undefined. Never throws.
 */
export function verifyFrameAt(
  bytes: Uint8Array,
  at: number,
  magic: Uint8Array = FRAME.recordMagic,
): number | undefined {
  if (at < 0 || bytes.length - at < FRAME.headerBytes) return undefined;
  for (let i = 0; i < 4; i++) if (bytes[at + i] !== magic[i]) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(at + 4, true);
  if (length > FRAME.maxPayloadBytes || at + FRAME.headerBytes + length > bytes.length) {
    return undefined;
  }
  return view.getUint32(at + 8, true) === frameCrc(bytes, at, length) ? length : undefined;
}

/** Decodes a verified payload into a plain value, or undefined if it is not MessagePack. */
export function unpackPayload(bytes: Uint8Array, start: number, end: number): unknown {
  try {
    return unpackr.unpack(bytes.subarray(start, end));
  } catch {
    return undefined; // A verified CRC over bytes we did not write: treated as a bad frame.
  }
}

type Decoded =
  | { kind: 'record'; record: QueuedRecord }
  | { kind: 'header'; header: SegmentHeader }
  | { kind: 'seal'; seal: SegmentSeal };

/** Validates a decoded payload's shape; undefined when it is not one this version writes. */
function classify(value: unknown): Decoded | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (o.k === 'segment') {
    if (o.v !== 1 || typeof o.stream !== 'string' || !isSeq(o.segment) || !isSeq(o.firstSeq)) {
      return undefined;
    }
    return {
      kind: 'header',
      header: { stream: o.stream, segment: o.segment, firstSeq: o.firstSeq },
    };
  }
  if (o.k === 'seal')
    return isSeq(o.lastSeq) ? { kind: 'seal', seal: { lastSeq: o.lastSeq } } : undefined;
  if (o.k !== undefined) return undefined;
  const { seq, lane, type, body, samples, acceptedAtMs } = o;
  if (!isSeq(seq) || seq === 0) return undefined;
  if (typeof lane !== 'string' || !(LANES as readonly string[]).includes(lane)) return undefined;
  if (typeof type !== 'string' || !Object.hasOwn(BODY_FIELD, type)) return undefined;
  if (!(body instanceof Uint8Array) || !isSeq(samples)) return undefined;
  if (typeof acceptedAtMs !== 'number' || !Number.isFinite(acceptedAtMs)) return undefined;
  return {
    kind: 'record',
    record: {
      seq,
      lane: lane as Lane,
      type: type as BodyType,
      // A copy: the decoder's buffer may be the whole segment.
      body: Uint8Array.prototype.slice.call(body),
      samples,
      acceptedAtMs,
    },
  };
}

/** Decodes the verified frame at `at` (see {@link verifyFrameAt}); undefined if its payload is not valid. */
export function decodeFrameAt(bytes: Uint8Array, at: number): Decoded | undefined {
  const length = verifyFrameAt(bytes, at);
  if (length === undefined) return undefined;
  const start = at + FRAME.headerBytes;
  return classify(unpackPayload(bytes, start, start + length));
}

/**
 * How much CRC work a resync may do, as a multiple of the segment length, before the rest of
 * the segment is declared bad. Bounds the scan of adversarial bytes (a payload full of magics).
 */
const RESYNC_WORK_FACTOR = 8;

/**
 * Scans a segment's bytes into frames and bad regions, in file order. A bad frame (torn,
 * CRC-bad, bad length, invalid payload) is never parsed as data: the scanner resyncs on the
 * next magic whose frame verifies. Adjacent bad bytes form one bad region. Never throws.
 */
export function scanSegment(bytes: Uint8Array): ScanItem[] {
  const items: ScanItem[] = [];
  let budget = RESYNC_WORK_FACTOR * bytes.length + 1024 * 1024;
  let pos = 0;
  let badStart = -1;
  const closeBad = (end: number): void => {
    if (badStart >= 0) items.push({ kind: 'bad', offset: badStart, size: end - badStart });
    badStart = -1;
  };
  while (pos < bytes.length) {
    const decoded = badStart >= 0 && budget <= 0 ? undefined : tryDecode(bytes, pos);
    if (decoded) {
      closeBad(pos);
      items.push({ ...decoded.item, offset: pos, size: decoded.size } as ScanItem);
      pos += decoded.size;
      continue;
    }
    if (badStart < 0) badStart = pos;
    if (budget <= 0) {
      pos = bytes.length;
      break;
    }
    // Resync: the next magic after pos (the loop head verifies it).
    const next = indexOfMagic(bytes, pos + 1);
    if (next < 0) {
      pos = bytes.length;
      break;
    }
    budget -=
      bytes.length - next > FRAME.maxPayloadBytes ? FRAME.maxPayloadBytes : bytes.length - next;
    pos = next;
  }
  closeBad(bytes.length);
  return items;
}

function tryDecode(bytes: Uint8Array, at: number): { item: Decoded; size: number } | undefined {
  const length = verifyFrameAt(bytes, at);
  if (length === undefined) return undefined;
  const start = at + FRAME.headerBytes;
  const item = classify(unpackPayload(bytes, start, start + length));
  return item ? { item, size: FRAME.headerBytes + length } : undefined;
}

function indexOfMagic(bytes: Uint8Array, from: number): number {
  const m = FRAME.recordMagic;
  let i = bytes.indexOf(m[0]!, from);
  while (i >= 0 && i + 4 <= bytes.length) {
    if (bytes[i + 1] === m[1] && bytes[i + 2] === m[2] && bytes[i + 3] === m[3]) return i;
    i = bytes.indexOf(m[0]!, i + 1);
  }
  return -1;
}
