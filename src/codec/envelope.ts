import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type protobuf from 'protobufjs/minimal.js';
import { outpost } from './gen/outpost.js';
import { CodecError } from './errors.js';
import { reader } from './number-reader.js';

const pb = outpost.v1;

/** The protocol version this codec speaks. */
export const PROTOCOL_VERSION = 1;
/** Versions this codec can decode. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];
/**
 * Hard ceiling for any frame on the tunnel (bulk chunks included). Telemetry and alarm
 * messages have the much smaller {@link MESSAGE_BUDGET_BYTES}.
 */
export const MAX_FRAME_BYTES = 256 * 1024;

export type Hello = outpost.v1.Hello;
export type DeviceAuth = outpost.v1.DeviceAuth;
export type HubAuth = outpost.v1.HubAuth;
export type TelemetryBatch = outpost.v1.TelemetryBatch;
export type Alarm = outpost.v1.Alarm;
export type Gap = outpost.v1.Gap;
export type Ack = outpost.v1.Ack;
export type Command = outpost.v1.Command;
export type CommandResult = outpost.v1.CommandResult;
export type ProtocolErrorBody = outpost.v1.ProtocolError;

/** What a frame carries, as a discriminated union on `type`. */
export type Body =
  | { type: 'hello'; hello: outpost.v1.Hello.$Properties }
  | { type: 'deviceAuth'; deviceAuth: outpost.v1.DeviceAuth.$Properties }
  | { type: 'hubAuth'; hubAuth: outpost.v1.HubAuth.$Properties }
  | { type: 'telemetry'; telemetry: outpost.v1.TelemetryBatch.$Properties }
  | { type: 'alarm'; alarm: outpost.v1.Alarm.$Properties }
  | { type: 'gap'; gap: outpost.v1.Gap.$Properties }
  | { type: 'commandResult'; commandResult: outpost.v1.CommandResult.$Properties }
  | { type: 'ack'; ack: outpost.v1.Ack.$Properties }
  | { type: 'command'; command: outpost.v1.Command.$Properties }
  | { type: 'error'; error: outpost.v1.ProtocolError.$Properties }
  | { type: 'redirect'; redirect: outpost.v1.Redirect.$Properties }
  | { type: 'renewCredential'; renewCredential: outpost.v1.RenewCredential.$Properties }
  | { type: 'credentialIssued'; credentialIssued: outpost.v1.CredentialIssued.$Properties }
  | { type: 'rotateNow'; rotateNow: outpost.v1.RotateNow.$Properties }
  /** A TelemetryBatch, DEFLATE-compressed; decodeFrame returns it as `telemetry`. */
  | { type: 'telemetryDeflate'; telemetryDeflate: Uint8Array }
  /**
   * Several records in one frame: each entry a complete data envelope as it would be sent on
   * its own (see {@link encodeBatchFrame}). decodeFrame leaves the entries encoded.
   */
  | { type: 'batch'; batch: { records: Uint8Array[] } };

export type BodyType = Body['type'];

/** Envelope fields common to every frame. */
export interface EnvelopeHeader {
  deviceId: string;
  /** Per-direction sequence number; 0 for unsequenced control frames. */
  seq: number;
  sentAtMs: number;
  protocolVersion?: number;
}

export type Frame = Required<EnvelopeHeader> & Body;

/** Field numbers of Envelope.body, as in protocols/outpost/v1/outpost.proto. */
export const BODY_FIELD: Readonly<Record<BodyType, number>> = {
  hello: 10,
  deviceAuth: 11,
  hubAuth: 12,
  telemetry: 13,
  alarm: 14,
  gap: 15,
  commandResult: 16,
  ack: 17,
  command: 18,
  error: 19,
  redirect: 20,
  renewCredential: 21,
  credentialIssued: 22,
  rotateNow: 23,
  telemetryDeflate: 24,
  batch: 25,
};

/** Field number of RecordBatch.records. */
const BATCH_RECORDS_FIELD = 1;

/** Below this a telemetry body is never compressed: the gain would not pay for the work. */
const COMPRESS_FROM_BYTES = 256;

/**
 * An encoded TelemetryBatch as the agent queues it: compressed (`telemetryDeflate`) when raw
 * DEFLATE makes it at least 10 % smaller, else as it is (`telemetry`). The hub's
 * {@link decodeFrame} gives back the same TelemetryBatch either way.
 */
export function packTelemetryBody(body: Uint8Array): {
  type: 'telemetry' | 'telemetryDeflate';
  body: Uint8Array;
} {
  if (body.length >= COMPRESS_FROM_BYTES) {
    const deflated = deflateRawSync(body);
    if (deflated.length <= body.length * 0.9) return { type: 'telemetryDeflate', body: deflated };
  }
  return { type: 'telemetry', body };
}

/** Inflates a `telemetryDeflate` body, refusing one that would inflate past `maxBytes`. */
function inflateTelemetry(data: Uint8Array, maxBytes: number): outpost.v1.TelemetryBatch {
  let raw: Buffer;
  try {
    raw = inflateRawSync(data, { maxOutputLength: maxBytes });
  } catch (cause) {
    const tooLarge = (cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new CodecError(
      tooLarge ? 'OUTPOST_FRAME_TOO_LARGE' : 'OUTPOST_MALFORMED_FRAME',
      tooLarge
        ? `compressed telemetry inflates past the ${maxBytes}-byte limit`
        : `compressed telemetry is not valid DEFLATE data (${cause instanceof Error ? cause.message : String(cause)})`,
      { cause },
    );
  }
  try {
    return pb.TelemetryBatch.decode(reader(raw));
  } catch (cause) {
    throw new CodecError(
      'OUTPOST_MALFORMED_FRAME',
      `compressed telemetry does not hold a valid TelemetryBatch (${cause instanceof Error ? cause.message : String(cause)})`,
      { cause },
    );
  }
}

/** Encodes one frame. */
export function encodeFrame(header: EnvelopeHeader, body: Body): Uint8Array {
  const { type, ...rest } = body;
  const props: outpost.v1.Envelope.$Properties = {
    protocolVersion: header.protocolVersion ?? PROTOCOL_VERSION,
    deviceId: header.deviceId,
    seq: header.seq,
    sentAtMs: header.sentAtMs,
    ...rest,
  };
  void type;
  return pb.Envelope.encode(props).finish();
}

/**
 * Encodes a frame whose body is already encoded (the queue stores bodies, and the header -
 * seq, send time - is added when the frame goes on the wire). Protobuf allows fields in any
 * order, so the body is appended as its length-delimited field.
 */
export function encodeFrameWithBody(
  header: EnvelopeHeader,
  type: BodyType,
  body: Uint8Array,
): Uint8Array {
  const seq = header.seq;
  const sentAtMs = header.sentAtMs;
  if (!isVarintNumber(seq) || !isVarintNumber(sentAtMs)) {
    // Not a plain non-negative integer: let the generated encoder apply protobuf's rules.
    const w = pb.Envelope.encode({
      protocolVersion: header.protocolVersion ?? PROTOCOL_VERSION,
      deviceId: header.deviceId,
      seq,
      sentAtMs,
    });
    w.uint32((BODY_FIELD[type] << 3) | 2).bytes(body);
    return w.finish();
  }
  const prefix = envelopePrefix(header.protocolVersion ?? PROTOCOL_VERSION, header.deviceId);
  const tag = (BODY_FIELD[type] << 3) | 2;
  const length =
    prefix.length +
    (seq === 0 ? 0 : 1 + uint64Length(seq)) +
    (sentAtMs === 0 ? 0 : 1 + uint64Length(sentAtMs)) +
    varintLength(tag) +
    varintLength(body.length) +
    body.length;
  const out = Buffer.allocUnsafe(length);
  out.set(prefix, 0);
  let at = prefix.length;
  at = writeHeaderTail(out, at, seq, sentAtMs);
  at = writeUint64(out, at, tag);
  at = writeUint64(out, at, body.length);
  out.set(body, at);
  return out;
}

/**
 * The encoded protocol_version and device_id fields (fields 1 and 2, as the generated encoder
 * writes them), for the last header seen: an agent writes the same two in every frame.
 */
let prefixCache: { protocolVersion: number; deviceId: string; bytes: Uint8Array } = {
  protocolVersion: -1,
  deviceId: '',
  bytes: new Uint8Array(0),
};

function envelopePrefix(protocolVersion: number, deviceId: string): Uint8Array {
  const c = prefixCache;
  if (c.protocolVersion === protocolVersion && c.deviceId === deviceId) return c.bytes;
  const bytes = pb.Envelope.encode({ protocolVersion, deviceId }).finish();
  prefixCache = { protocolVersion, deviceId, bytes };
  return bytes;
}

/** A number the hand-written varint writer encodes as protobuf's uint64 does. */
function isVarintNumber(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Fields 3 (seq) and 4 (sent_at_ms) as the generated encoder writes them (zero: omitted). */
function writeHeaderTail(out: Uint8Array, at: number, seq: number, sentAtMs: number): number {
  if (seq !== 0) {
    out[at++] = (3 << 3) | 0;
    at = writeUint64(out, at, seq);
  }
  if (sentAtMs !== 0) {
    out[at++] = (4 << 3) | 0;
    at = writeUint64(out, at, sentAtMs);
  }
  return at;
}

/** Bytes of `n` (a non-negative safe integer) as a varint. */
function uint64Length(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Writes `n` (a non-negative safe integer) as a varint at `at`; returns the next offset. */
function writeUint64(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Encodes just a body message (what the queue stores). */
export function encodeBody(body: Body): Uint8Array {
  switch (body.type) {
    case 'telemetry':
      return pb.TelemetryBatch.encode(body.telemetry).finish();
    case 'telemetryDeflate':
      return body.telemetryDeflate; // a bytes field: its body is the bytes themselves
    case 'alarm':
      return pb.Alarm.encode(body.alarm).finish();
    case 'gap':
      return pb.Gap.encode(body.gap).finish();
    case 'commandResult':
      return pb.CommandResult.encode(body.commandResult).finish();
    case 'hello':
      return pb.Hello.encode(body.hello).finish();
    case 'deviceAuth':
      return pb.DeviceAuth.encode(body.deviceAuth).finish();
    case 'hubAuth':
      return pb.HubAuth.encode(body.hubAuth).finish();
    case 'ack':
      return pb.Ack.encode(body.ack).finish();
    case 'command':
      return pb.Command.encode(body.command).finish();
    case 'error':
      return pb.ProtocolError.encode(body.error).finish();
    case 'redirect':
      return pb.Redirect.encode(body.redirect).finish();
    case 'renewCredential':
      return pb.RenewCredential.encode(body.renewCredential).finish();
    case 'credentialIssued':
      return pb.CredentialIssued.encode(body.credentialIssued).finish();
    case 'rotateNow':
      return pb.RotateNow.encode(body.rotateNow).finish();
    case 'batch':
      return pb.RecordBatch.encode(body.batch).finish();
  }
}

/**
 * Encodes a RecordBatch frame around `records`, each an encoded data envelope (what
 * {@link encodeFrameWithBody} returns for one record): the batch's own header (seq 0), then the
 * records copied in order, each as one length-delimited entry. The caller keeps the frame
 * within the hub's limits (HubAuth.max_frame_bytes, max_batch_records); {@link batchFrameLength}
 * gives its size in advance.
 */
export function encodeBatchFrame(
  header: Omit<EnvelopeHeader, 'seq'>,
  records: readonly Uint8Array[],
): Uint8Array {
  let inner = 0;
  for (const r of records) inner += 1 + varintLength(r.length) + r.length;
  const sentAtMs = header.sentAtMs;
  let head: Uint8Array;
  if (isVarintNumber(sentAtMs)) {
    const prefix = envelopePrefix(header.protocolVersion ?? PROTOCOL_VERSION, header.deviceId);
    head = Buffer.allocUnsafe(prefix.length + 11 + 2 + 5);
    head.set(prefix, 0);
    let at = writeHeaderTail(head, prefix.length, 0, sentAtMs);
    at = writeUint64(head, at, (BODY_FIELD.batch << 3) | 2);
    at = writeUint64(head, at, inner);
    head = head.subarray(0, at);
  } else {
    const w = pb.Envelope.encode({
      protocolVersion: header.protocolVersion ?? PROTOCOL_VERSION,
      deviceId: header.deviceId,
      seq: 0,
      sentAtMs,
    });
    w.uint32((BODY_FIELD.batch << 3) | 2).uint32(inner);
    head = w.finish();
  }
  const out = Buffer.allocUnsafe(head.length + inner);
  out.set(head, 0);
  let at = head.length;
  const tag = (BATCH_RECORDS_FIELD << 3) | 2;
  for (const r of records) {
    out[at++] = tag;
    at = writeUint64(out, at, r.length);
    out.set(r, at);
    at += r.length;
  }
  return out;
}

/**
 * The encoded size of a batch frame for `deviceId` holding records of `recordBytes` bytes in
 * total over `records` entries (an upper bound: the header is counted at its largest).
 */
export function batchFrameLength(deviceId: string, records: number, recordBytes: number): number {
  // Each entry: its tag (1 byte) and a length varint of at most 3 bytes (records < 2 MiB).
  const inner = recordBytes + records * 4;
  return envelopeOverhead(deviceId, inner) + inner;
}

/** Body field number -> its name in the generated Envelope and the decoder of its message. */
/** Decoders of the body fields, by field number (the generated message decoders). */
const BODY_DECODERS: Array<((r: protobuf.Reader, len: number) => unknown) | undefined> = [];
{
  const decoders: Record<BodyType, (r: protobuf.Reader, len: number) => unknown> = {
    hello: (r, n) => pb.Hello.decode(r, n),
    deviceAuth: (r, n) => pb.DeviceAuth.decode(r, n),
    hubAuth: (r, n) => pb.HubAuth.decode(r, n),
    telemetry: (r, n) => pb.TelemetryBatch.decode(r, n),
    alarm: (r, n) => pb.Alarm.decode(r, n),
    gap: (r, n) => pb.Gap.decode(r, n),
    commandResult: (r, n) => pb.CommandResult.decode(r, n),
    ack: (r, n) => pb.Ack.decode(r, n),
    command: (r, n) => pb.Command.decode(r, n),
    error: (r, n) => pb.ProtocolError.decode(r, n),
    redirect: (r, n) => pb.Redirect.decode(r, n),
    renewCredential: (r, n) => pb.RenewCredential.decode(r, n),
    credentialIssued: (r, n) => pb.CredentialIssued.decode(r, n),
    rotateNow: (r, n) => pb.RotateNow.decode(r, n),
    telemetryDeflate: (r, n) => {
      const start = r.pos;
      r.skip(n);
      return r.buf.subarray(start, start + n);
    },
    batch: (r, n) => pb.RecordBatch.decode(r, n),
  };
  for (const [name, field] of Object.entries(BODY_FIELD) as Array<[BodyType, number]>) {
    BODY_DECODERS[field] = decoders[name];
  }
}

/**
 * The last device id read, as bytes and as a string. A hub node reads the same id in every
 * frame of a tunnel (and in every record of a batch): reusing the string spares a UTF-8 decode
 * and gives the session's identity check one flat string to compare, not a new one each time.
 */
let lastIdBytes: Uint8Array = new Uint8Array(0);
let lastId = '';

function readDeviceId(r: protobuf.Reader): string {
  const at = r.pos;
  const length = r.size();
  const start = r.pos;
  const cached = lastIdBytes;
  if (length === cached.length && start + length <= r.len) {
    const buf = r.buf;
    let i = 0;
    while (i < length && buf[start + i] === cached[i]) i++;
    if (i === length) {
      r.pos = start + length;
      return lastId;
    }
  }
  r.pos = at;
  const id = r.stringVerify();
  if (id.length <= 128) {
    lastIdBytes = r.buf.slice(start, r.pos);
    lastId = id;
  }
  return id;
}

/**
 * An Envelope as read off the wire: the header fields and the last body field (its number and
 * its decoded message). One object shape for every frame.
 */
interface RawEnvelope {
  protocolVersion: number;
  deviceId: string;
  seq: number;
  sentAtMs: number;
  /** Field number of the body (0: none). */
  bodyField: number;
  body: unknown;
}

/**
 * Reads an Envelope the way the generated `Envelope.decode` would, without its oneof
 * bookkeeping (each body it sets deletes the 15 other members from the message, which was a
 * fifth of the hub's decode time for a 2 KB alarm) and without building objects whose shape
 * depends on the body. Same wire rules: fields in any order, unknown fields skipped, the last
 * body field wins (a sender never repeats one).
 */
function readEnvelope(bytes: Uint8Array): RawEnvelope {
  const r = reader(bytes);
  let protocolVersion = 0;
  let deviceId = '';
  let seq = 0;
  let sentAtMs = 0;
  let bodyField = 0;
  let body: unknown = undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (wireType === 0 && field >= 1 && field <= 4 && field !== 2) {
      if (field === 1) protocolVersion = r.uint32();
      else if (field === 3)
        seq = r.uint64() as unknown as number; // NumberReader: a number
      else sentAtMs = r.uint64() as unknown as number;
      continue;
    }
    if (wireType === 2 && field === 2) {
      deviceId = readDeviceId(r);
      continue;
    }
    const decode = BODY_DECODERS[field];
    if (wireType === 2 && decode) {
      body = decode(r, r.uint32());
      bodyField = field;
      continue;
    }
    r.skipType(wireType, 0, field);
  }
  return { protocolVersion, deviceId, seq, sentAtMs, bodyField, body };
}

export interface DecodeOptions {
  /** Frames longer than this are refused before parsing. Default {@link MAX_FRAME_BYTES}. */
  maxBytes?: number;
}

/**
 * Decodes and validates one frame. Never returns a partly parsed frame: anything that is not
 * a well-formed envelope of a supported version with exactly one body throws a
 * {@link CodecError}.
 */
export function decodeFrame(bytes: Uint8Array, options: DecodeOptions = {}): Frame {
  const maxBytes = options.maxBytes ?? MAX_FRAME_BYTES;
  if (bytes.length > maxBytes) {
    throw new CodecError(
      'OUTPOST_FRAME_TOO_LARGE',
      `frame of ${bytes.length} bytes exceeds the ${maxBytes}-byte limit`,
    );
  }
  let env: RawEnvelope;
  try {
    env = readEnvelope(bytes);
  } catch (cause) {
    throw new CodecError(
      'OUTPOST_MALFORMED_FRAME',
      `frame is not a valid protobuf envelope (${cause instanceof Error ? cause.message : String(cause)})`,
      { cause },
    );
  }
  const { protocolVersion, deviceId, seq, sentAtMs, body } = env;
  if (!SUPPORTED_VERSIONS.includes(protocolVersion)) {
    throw new CodecError(
      'OUTPOST_UNSUPPORTED_VERSION',
      `protocol version ${protocolVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new CodecError('OUTPOST_MALFORMED_FRAME', `sequence number ${seq} is out of range`);
  }
  // One object literal per body type, header fields first: each site builds its frames with one
  // fixed shape (spreading a header and then adding fields made V8 migrate every frame's map).
  const v = protocolVersion;
  switch (env.bodyField) {
    case BODY_FIELD.hello:
      return { protocolVersion: v, deviceId, seq, sentAtMs, type: 'hello', hello: body as Hello };
    case BODY_FIELD.deviceAuth:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'deviceAuth',
        deviceAuth: body as DeviceAuth,
      };
    case BODY_FIELD.hubAuth:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'hubAuth',
        hubAuth: body as HubAuth,
      };
    case BODY_FIELD.telemetry:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'telemetry',
        telemetry: body as TelemetryBatch,
      };
    case BODY_FIELD.alarm:
      return { protocolVersion: v, deviceId, seq, sentAtMs, type: 'alarm', alarm: body as Alarm };
    case BODY_FIELD.gap:
      return { protocolVersion: v, deviceId, seq, sentAtMs, type: 'gap', gap: body as Gap };
    case BODY_FIELD.commandResult:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'commandResult',
        commandResult: body as CommandResult,
      };
    case BODY_FIELD.ack:
      return { protocolVersion: v, deviceId, seq, sentAtMs, type: 'ack', ack: body as Ack };
    case BODY_FIELD.command:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'command',
        command: body as Command,
      };
    case BODY_FIELD.error:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'error',
        error: body as ProtocolErrorBody,
      };
    case BODY_FIELD.redirect:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'redirect',
        redirect: body as outpost.v1.Redirect,
      };
    case BODY_FIELD.renewCredential:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'renewCredential',
        renewCredential: body as outpost.v1.RenewCredential,
      };
    case BODY_FIELD.credentialIssued:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'credentialIssued',
        credentialIssued: body as outpost.v1.CredentialIssued,
      };
    case BODY_FIELD.rotateNow:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'rotateNow',
        rotateNow: body as outpost.v1.RotateNow,
      };
    case BODY_FIELD.telemetryDeflate:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'telemetry',
        telemetry: inflateTelemetry(body as Uint8Array, maxBytes),
      };
    case BODY_FIELD.batch:
      return {
        protocolVersion: v,
        deviceId,
        seq,
        sentAtMs,
        type: 'batch',
        batch: { records: (body as outpost.v1.RecordBatch).records ?? [] },
      };
    default:
      throw new CodecError('OUTPOST_MISSING_BODY', 'frame carries no known body');
  }
}

/** Worst-case encoded size of an envelope header for this device id, plus the body's tag and length. */
export function envelopeOverhead(deviceId: string, bodyBytes = MAX_FRAME_BYTES): number {
  const header = pb.Envelope.encode({
    protocolVersion: PROTOCOL_VERSION,
    deviceId,
    seq: Number.MAX_SAFE_INTEGER,
    sentAtMs: Number.MAX_SAFE_INTEGER,
  }).len;
  return header + 1 + varintLength(bodyBytes);
}

function varintLength(n: number): number {
  let len = 1;
  for (let v = n >>> 7; v > 0; v >>>= 7) len++;
  return len;
}
