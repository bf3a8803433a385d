import { createHash } from 'node:crypto';
import protobuf from 'protobufjs/minimal.js';
import { CodecError } from './errors.js';

/**
 * What each side of the inner handshake signs (see docs/protocol.md, "Handshake").
 *
 * Signatures cover exact bytes as sent, never a re-encoding: the device signs its DeviceAuth
 * body as encoded without the signature field and appends the signature as the last field;
 * the hub strips that field from the bytes it received to get the same input back. Unknown
 * fields from a newer peer are therefore covered too.
 */
export const DEVICE_LABEL = 'outpost/v1 device';
export const HUB_LABEL = 'outpost/v1 hub';
/** RFC 5705 exporter label; both ends of one TLS session derive the same 32 bytes. */
export const EXPORTER_LABEL = 'EXPORTER-outpost-v1-channel-binding';
export const EXPORTER_BYTES = 32;
/** RFC 5705 exporter context (both sides pass the same). */
export const EXPORTER_CONTEXT: Uint8Array = Buffer.from('outpost/v1', 'utf8');

/** The channel binding of a TLS session: 32 bytes of exported keying material. */
export function tlsExporter(socket: {
  exportKeyingMaterial(length: number, label: string, context: Buffer): Buffer;
}): Uint8Array {
  return socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.from(EXPORTER_CONTEXT));
}
/**
 * Stands in for the exporter when a load balancer terminates TLS, so the two modes can never
 * produce the same signing input.
 */
export const TERMINATED_UPSTREAM_MARKER: Uint8Array = createHash('sha256')
  .update('outpost/v1 tls terminated upstream')
  .digest();

/** Field number of `signature` in DeviceAuth and in HubAuth. */
export const DEVICE_AUTH_SIGNATURE_FIELD = 4;
export const HUB_AUTH_SIGNATURE_FIELD = 1;

/** Appends a length-delimited field to an encoded message. */
export function appendBytesField(
  message: Uint8Array,
  field: number,
  value: Uint8Array,
): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((field << 3) | 2).bytes(value);
  const tail = w.finish();
  const out = new Uint8Array(message.length + tail.length);
  out.set(message, 0);
  out.set(tail, message.length);
  return out;
}

/** The raw bytes of every occurrence of `field` removed, everything else kept in order. */
export function withoutField(message: Uint8Array, field: number): Uint8Array {
  const r = protobuf.Reader.create(message);
  const keep: Uint8Array[] = [];
  try {
    while (r.pos < r.len) {
      const start = r.pos;
      const tag = r.uint32();
      r.skipType(tag & 7);
      if (tag >>> 3 !== field) keep.push(message.subarray(start, r.pos));
    }
  } catch (cause) {
    throw new CodecError('OUTPOST_MALFORMED_FRAME', 'handshake message is not valid protobuf', {
      cause,
    });
  }
  const out = new Uint8Array(keep.reduce((n, k) => n + k.length, 0));
  let at = 0;
  for (const k of keep) {
    out.set(k, at);
    at += k.length;
  }
  return out;
}

/** The raw bytes of a length-delimited field of an encoded message (the last one wins). */
export function rawField(message: Uint8Array, field: number): Uint8Array | undefined {
  const r = protobuf.Reader.create(message);
  let found: Uint8Array | undefined;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === field && (tag & 7) === 2) found = r.bytes();
      else r.skipType(tag & 7);
    }
  } catch (cause) {
    throw new CodecError('OUTPOST_MALFORMED_FRAME', 'frame is not valid protobuf', { cause });
  }
  return found;
}

function transcriptHash(parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(p.length);
    h.update(len).update(p);
  }
  return h.digest();
}

function signingInput(label: string, hash: Buffer, binding: Uint8Array): Uint8Array {
  if (binding.length !== EXPORTER_BYTES) {
    throw new CodecError(
      'OUTPOST_MALFORMED_FRAME',
      `channel binding must be ${EXPORTER_BYTES} bytes`,
    );
  }
  return Buffer.concat([Buffer.from(label + '\0', 'utf8'), hash, binding]);
}

/**
 * Step 2: what the device signs. `helloFrame` is the Hello envelope exactly as received;
 * `deviceAuthBody` the DeviceAuth message encoded without its signature.
 */
export function deviceSigningInput(
  helloFrame: Uint8Array,
  deviceAuthBody: Uint8Array,
  binding: Uint8Array,
): Uint8Array {
  return signingInput(DEVICE_LABEL, transcriptHash([helloFrame, deviceAuthBody]), binding);
}

/**
 * Step 3: what the hub signs - the whole transcript including the device's signature
 * (`deviceAuthFrame` exactly as received) and its own HubAuth encoded without its signature.
 */
export function hubSigningInput(
  helloFrame: Uint8Array,
  deviceAuthFrame: Uint8Array,
  hubAuthBody: Uint8Array,
  binding: Uint8Array,
): Uint8Array {
  return signingInput(
    HUB_LABEL,
    transcriptHash([helloFrame, deviceAuthFrame, hubAuthBody]),
    binding,
  );
}
