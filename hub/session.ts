import { randomBytes, type KeyObject } from 'node:crypto';
import type WebSocket from 'ws';
import {
  appendBytesField,
  BODY_FIELD,
  CodecError,
  decodeFrame,
  DEVICE_AUTH_SIGNATURE_FIELD,
  deviceSigningInput,
  encodeBody,
  encodeFrame,
  encodeFrameWithBody,
  HUB_AUTH_SIGNATURE_FIELD,
  hubSigningInput,
  rawField,
  SUPPORTED_VERSIONS,
  withoutField,
  type Body,
  type Frame,
} from '../src/codec/index.js';
import type { CommitItem, CommitOwner, CommitQueue } from './commit-queue.js';
import { verifyEd25519, type HubIdentity } from './identity.js';
import { ReceivedSeqs } from './received-seqs.js';
import type { HubStore, StoreResult, StreamPosition } from './store.js';

/** WebSocket close statuses (4000-4999 are application-defined; same values as the agent's). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  MALFORMED_FRAME: 4400,
  AUTH_FAILED: 4401,
  IDENTITY_MISMATCH: 4403,
  HANDSHAKE_TIMEOUT: 4408,
  REPLACED: 4409,
  REVOKED: 4410,
  UNSUPPORTED_VERSION: 4426,
  INTERNAL: 4500,
} as const;

const EMPTY = new Uint8Array(0);
const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DATA_TYPES = new Set<Frame['type']>(['telemetry', 'alarm', 'gap', 'commandResult']);
/** What a RecordBatch may hold: sequenced records (no Gap, no batch). */
const RECORD_TYPES = new Set<Frame['type']>(['telemetry', 'alarm', 'commandResult']);

export interface SessionOptions {
  ws: WebSocket;
  /** Device id from the verified client certificate; undefined when TLS ends at a load balancer. */
  certDeviceId: string | undefined;
  /** Channel binding: the TLS exporter, or the terminated-upstream marker. */
  binding: Uint8Array;
  /** ChannelBinding the device must declare: 1 TLS exporter, 2 terminated upstream. */
  bindingKind: 1 | 2;
  identity: HubIdentity;
  /** The registered identity key of a device, if any. */
  deviceKey: (deviceId: string) => { key: KeyObject; status: 'active' | 'revoked' } | undefined;
  remote: string;
  hubId: string;
  store: HubStore;
  /** Where data frames wait for the hub's next durable (group) commit. */
  commits: CommitQueue;
  heartbeatMs: number;
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  /** HubAuth.reconnect_spread_ms for this tunnel (see HubOptions.reconnectSpreadMs). */
  reconnectSpreadMs: () => number;
  /** Records per RecordBatch frame the hub accepts (offered in HubAuth); 0: no batches. */
  maxBatchRecords: number;
  now: () => number;
  events: SessionEvents;
}

export interface SessionEvents {
  stored(deviceId: string, frame: Frame, storedAtMs: number, samples: number): void;
  duplicate(deviceId: string, seq: number): void;
  protocolError(session: DeviceSession, code: string, message: string): void;
  /** The device asked for a new client certificate (rotation). */
  renew(
    session: DeviceSession,
    request: Extract<Frame, { type: 'renewCredential' }>['renewCredential'],
  ): void;
  opened(session: DeviceSession): void;
  closed(session: DeviceSession, code: number): void;
}

/**
 * One device connection: the signed handshake, then storing data frames, de-duplicating by
 * (device, stream, seq) and acknowledging cumulatively once the store has committed. Any
 * protocol violation gets a ProtocolError frame and a close with a specific status; it never
 * touches other sessions.
 */
export class DeviceSession implements CommitOwner {
  readonly #o: SessionOptions;
  /** The Hello as sent, byte for byte (both signatures cover it); released once open. */
  #helloFrame: Uint8Array;
  #deviceId: string;
  #phase: 'hello-sent' | 'open' | 'closed' = 'hello-sent';
  #streamId = '';
  #pos: StreamPosition = { acked: 0, above: new ReceivedSeqs() };
  /** Seqs handed to the commit queue and not yet committed (a resend of one is a duplicate). */
  readonly #committing = new Set<number>();
  /**
   * Where the stream stands counting batches committed but not yet durable (their fsync runs):
   * the next batch's projected ack builds on it. It gets every batch `#pos` gets, earlier.
   */
  #projected: StreamPosition = { acked: 0, above: new ReceivedSeqs() };
  #ackScheduled = false;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #lastSeen: number;
  #lastPing = 0;
  #seqOut = 0;

  constructor(options: SessionOptions) {
    this.#o = options;
    this.#deviceId = options.certDeviceId ?? '';
    this.#lastSeen = options.now();
    const { ws } = options;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('pong', () => (this.#lastSeen = this.#o.now()));
    ws.on('close', (code: number) => this.#onClose(code));
    // ws reports protocol violations it catches itself (oversized frame: 1009, bad opcode,
    // invalid UTF-8) here, then closes; record them like our own.
    ws.on('error', (err: Error & { code?: string }) => {
      if (this.#phase === 'closed') return;
      this.#o.events.protocolError(this, err.code ?? 'OUTPOST_WS_ERROR', err.message);
    });
    this.#handshakeTimer = setTimeout(
      () =>
        this.#fail(
          CLOSE.HANDSHAKE_TIMEOUT,
          'OUTPOST_HANDSHAKE_TIMEOUT',
          `handshake not completed within ${options.handshakeTimeoutMs} ms`,
        ),
      options.handshakeTimeoutMs,
    );
    // Kept byte for byte: both signatures cover it.
    this.#helloFrame = encodeFrame(
      { deviceId: this.#deviceId, seq: 0, sentAtMs: options.now() },
      {
        type: 'hello',
        hello: { versions: [...SUPPORTED_VERSIONS], hubId: options.hubId, nonce: randomBytes(32) },
      },
    );
    ws.send(this.#helloFrame);
  }

  /** The authenticated device (before the handshake: the certificate's id, or ''). */
  get deviceId(): string {
    return this.#deviceId;
  }

  get open(): boolean {
    return this.#phase === 'open';
  }

  /** The peer address, `host:port`. */
  get remote(): string {
    return this.#o.remote;
  }

  /** Ends the session from the hub side (replaced by a newer connection, shutdown, revocation). */
  close(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#o.ws.close(code, reason);
  }

  /**
   * Tells the agent to reconnect elsewhere (`url`) or later (`retryAfterMs`); it closes itself.
   * Unless `closeLater` is false (the caller closes), the hub closes the tunnel after 2 s if the
   * agent has not.
   */
  redirect(url: string, retryAfterMs: number, reason: string, closeLater = true): boolean {
    if (this.#phase !== 'open') return false;
    if (url !== '' && !url.startsWith('wss://')) return false; // agents ignore anything else
    this.#sendSequenced({ type: 'redirect', redirect: { url, retryAfterMs, reason } });
    // The agent closes on receipt; close from here too if it does not.
    if (closeLater) setTimeout(() => this.close(CLOSE.GOING_AWAY, 'redirected'), 2000).unref();
    return true;
  }

  /**
   * Called by the hub's shared heartbeat sweep: cuts a peer silent for two intervals, and pings
   * one that has not been pinged for an interval.
   */
  heartbeat(now: number): void {
    if (this.#phase !== 'open') return;
    const interval = this.#o.heartbeatMs;
    if (now - this.#lastSeen > 2 * interval) {
      this.#o.events.protocolError(
        this,
        'OUTPOST_DEAD_PEER',
        'no traffic or pong for two heartbeat intervals',
      );
      this.#phase = 'closed';
      this.#o.ws.terminate();
      return;
    }
    if (now - this.#lastPing >= interval) {
      this.#lastPing = now;
      this.#o.ws.ping();
    }
  }

  /** Sends a command bound to this device, with an expiry; false if the tunnel is not open. */
  sendCommand(command: {
    commandId: string;
    name: string;
    args?: Record<string, string>;
    expiresAtMs: number;
  }): boolean {
    if (this.#phase !== 'open') return false;
    this.#sendSequenced({ type: 'command', command: { ...command, deviceId: this.#deviceId } });
    return true;
  }

  /** Sends a hub -> agent control body (sequenced, so it cannot be replayed). */
  sendControl(body: Body): boolean {
    if (this.#phase !== 'open') return false;
    this.#sendSequenced(body);
    return true;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#phase === 'closed') return;
    this.#lastSeen = this.#o.now();
    if (!isBinary) {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_MALFORMED_FRAME',
        'text frames are not part of the protocol',
      );
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(data, { maxBytes: this.#o.maxFrameBytes });
    } catch (err) {
      const code = err instanceof CodecError ? err.code : 'OUTPOST_MALFORMED_FRAME';
      const status =
        code === 'OUTPOST_UNSUPPORTED_VERSION' ? CLOSE.UNSUPPORTED_VERSION : CLOSE.MALFORMED_FRAME;
      this.#fail(status, code, err instanceof Error ? err.message : String(err));
      return;
    }
    if (this.#phase === 'hello-sent') {
      this.#onDeviceAuth(frame, data);
      return;
    }
    if (frame.deviceId !== this.#deviceId) {
      this.#fail(
        CLOSE.IDENTITY_MISMATCH,
        'OUTPOST_IDENTITY_MISMATCH',
        `frame names device "${frame.deviceId}" but the tunnel is authenticated as "${this.#deviceId}"`,
      );
      return;
    }
    if (frame.type === 'renewCredential') {
      this.#o.events.renew(this, frame.renewCredential);
      return;
    }
    if (frame.type === 'batch') {
      this.#onBatch(frame.batch.records);
      return;
    }
    if (!DATA_TYPES.has(frame.type)) {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_UNEXPECTED_FRAME',
        `a ${frame.type} frame is not valid from a device after the handshake`,
      );
      return;
    }
    if (frame.type === 'gap') {
      this.#onGap(frame, data.length);
      return;
    }
    if (frame.seq < 1) {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_MALFORMED_FRAME',
        'data frames need a sequence number of 1 or more',
      );
      return;
    }
    this.#onData(frame, data.length);
  }

  #onDeviceAuth(frame: Frame, raw: Uint8Array): void {
    if (frame.type !== 'deviceAuth') {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_UNEXPECTED_FRAME',
        `expected DeviceAuth, got ${frame.type}`,
      );
      return;
    }
    const auth = frame.deviceAuth;
    const claimed = auth.deviceId ?? '';
    if (claimed === '' || frame.deviceId !== claimed) {
      this.#fail(
        CLOSE.IDENTITY_MISMATCH,
        'OUTPOST_IDENTITY_MISMATCH',
        'DeviceAuth and its envelope must name the same, non-empty device id',
      );
      return;
    }
    if (this.#o.certDeviceId !== undefined && claimed !== this.#o.certDeviceId) {
      this.#fail(
        CLOSE.IDENTITY_MISMATCH,
        'OUTPOST_IDENTITY_MISMATCH',
        `DeviceAuth names "${claimed}" but the client certificate is for "${this.#o.certDeviceId}"`,
      );
      return;
    }
    this.#deviceId = claimed;
    if (!SUPPORTED_VERSIONS.includes(auth.version ?? 0)) {
      this.#fail(
        CLOSE.UNSUPPORTED_VERSION,
        'OUTPOST_UNSUPPORTED_VERSION',
        `protocol version ${auth.version} is not offered`,
      );
      return;
    }
    if ((auth.binding ?? 0) !== this.#o.bindingKind) {
      this.#fail(
        CLOSE.AUTH_FAILED,
        'OUTPOST_CHANNEL_BINDING_MISMATCH',
        this.#o.bindingKind === 1
          ? 'this hub terminates TLS itself: the handshake must be bound to the TLS exporter'
          : 'this hub sits behind a TLS-terminating load balancer: the handshake must use the terminated-upstream binding',
      );
      return;
    }
    const registered = this.#o.deviceKey(claimed);
    if (!registered) {
      this.#fail(
        CLOSE.IDENTITY_MISMATCH,
        'OUTPOST_DEVICE_NOT_ENROLLED',
        `device "${claimed}" has no registered identity key; enrol it first`,
      );
      return;
    }
    if (registered.status === 'revoked') {
      this.#fail(CLOSE.REVOKED, 'OUTPOST_DEVICE_REVOKED', `device "${claimed}" is revoked`);
      return;
    }
    const body = rawField(raw, BODY_FIELD.deviceAuth);
    const input =
      body &&
      deviceSigningInput(
        this.#helloFrame,
        withoutField(body, DEVICE_AUTH_SIGNATURE_FIELD),
        this.#o.binding,
      );
    if (!input || !verifyEd25519(input, auth.signature ?? new Uint8Array(), registered.key)) {
      this.#fail(
        CLOSE.AUTH_FAILED,
        'OUTPOST_HANDSHAKE_AUTH_FAILED',
        'the DeviceAuth signature does not verify for this session (wrong identity key, or a replayed or relayed handshake)',
      );
      return;
    }
    const streamId = auth.streamId ?? '';
    if (!STREAM_ID.test(streamId)) {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_MALFORMED_FRAME',
        'DeviceAuth needs a stream id of 1-64 characters [A-Za-z0-9_-]',
      );
      return;
    }
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#streamId = streamId;
    try {
      this.#pos = this.#o.store.openStream(
        claimed,
        streamId,
        auth.agentVersion ?? '',
        this.#o.now(),
      );
    } catch {
      this.#fail(
        CLOSE.INTERNAL,
        'OUTPOST_HUB_STORE_FAILED',
        'the hub could not open the device stream; retry later',
      );
      return;
    }
    this.#projected = { acked: this.#pos.acked, above: this.#pos.above.clone() };
    this.#phase = 'open';
    const unsigned = encodeBody({
      type: 'hubAuth',
      hubAuth: {
        ackedSeq: this.#pos.acked,
        heartbeatIntervalMs: this.#o.heartbeatMs,
        maxFrameBytes: this.#o.maxFrameBytes,
        reconnectSpreadMs: this.#o.reconnectSpreadMs(),
        maxBatchRecords: this.#o.maxBatchRecords,
      },
    });
    const signature = this.#o.identity.sign(
      hubSigningInput(this.#helloFrame, raw, unsigned, this.#o.binding),
    );
    this.#helloFrame = EMPTY; // the transcript is complete: nothing signs over it again
    this.#o.ws.send(
      encodeFrameWithBody(
        { deviceId: claimed, seq: 0, sentAtMs: this.#o.now() },
        'hubAuth',
        appendBytesField(unsigned, HUB_AUTH_SIGNATURE_FIELD, signature),
      ),
    );
    this.#lastPing = this.#o.now();
    this.#o.events.opened(this);
  }

  /**
   * A RecordBatch: every record is decoded and checked first (a bad one fails the whole frame,
   * none of it is stored), then each is handled as if it had come in a frame of its own.
   */
  #onBatch(records: readonly Uint8Array[]): void {
    const max = this.#o.maxBatchRecords;
    if (max === 0 || records.length === 0 || records.length > max) {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        max === 0 ? 'OUTPOST_UNEXPECTED_FRAME' : 'OUTPOST_MALFORMED_FRAME',
        max === 0
          ? 'this hub does not accept record batches'
          : `a batch must hold 1 to ${max} records (got ${records.length})`,
      );
      return;
    }
    const frames = new Array<Frame>(records.length);
    for (let i = 0; i < records.length; i++) {
      let frame: Frame;
      try {
        frame = decodeFrame(records[i]!, { maxBytes: this.#o.maxFrameBytes });
      } catch (err) {
        const code = err instanceof CodecError ? err.code : 'OUTPOST_MALFORMED_FRAME';
        const status =
          code === 'OUTPOST_UNSUPPORTED_VERSION'
            ? CLOSE.UNSUPPORTED_VERSION
            : CLOSE.MALFORMED_FRAME;
        this.#fail(
          status,
          code,
          `batch record ${i}: ${err instanceof Error ? err.message : String(err)}`,
        );
        return;
      }
      if (frame.deviceId !== this.#deviceId) {
        this.#fail(
          CLOSE.IDENTITY_MISMATCH,
          'OUTPOST_IDENTITY_MISMATCH',
          `batch record ${i} names device "${frame.deviceId}" but the tunnel is authenticated as "${this.#deviceId}"`,
        );
        return;
      }
      if (!RECORD_TYPES.has(frame.type) || frame.seq < 1) {
        this.#fail(
          CLOSE.MALFORMED_FRAME,
          'OUTPOST_MALFORMED_FRAME',
          `batch record ${i}: a batch holds only data records with a sequence number of 1 or more (got ${frame.type}, seq ${frame.seq})`,
        );
        return;
      }
      frames[i] = frame;
    }
    for (let i = 0; i < frames.length; i++) this.#onData(frames[i]!, records[i]!.length);
  }

  #onData(frame: Frame, bytes: number): void {
    const seq = frame.seq;
    if (seq <= this.#pos.acked || this.#pos.above.has(seq) || this.#committing.has(seq)) {
      this.#o.events.duplicate(this.#deviceId, seq);
      this.#scheduleAck();
      return;
    }
    this.#committing.add(seq);
    this.#push(frame, bytes);
  }

  /**
   * A Gap: records the device accepted and then had to drop (quota, corruption). Stored like
   * data, and its range then counts as received, so the cumulative ack can move past it.
   */
  #onGap(frame: Extract<Frame, { type: 'gap' }>, bytes: number): void {
    const from = Number(frame.gap.fromSeq ?? 0);
    const to = Number(frame.gap.toSeq ?? 0);
    if (!(from >= 1 && to >= from && Number.isSafeInteger(to))) {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_MALFORMED_FRAME',
        `a gap must name a range of sequence numbers 1 <= from <= to (got ${from}..${to})`,
      );
      return;
    }
    this.#push(frame, bytes);
  }

  #push(frame: Frame, bytes: number): void {
    this.#o.commits.push({
      owner: this,
      deviceId: this.#deviceId,
      streamId: this.#streamId,
      frame,
      bytes,
      receivedAtMs: this.#o.now(),
    });
  }

  /** {@link CommitOwner}: where the cumulative ack lands once `items` are stored. */
  project(items: readonly CommitItem[]): { deviceId: string; streamId: string; acked: number } {
    const next = this.#projected.above.clone();
    for (const { frame } of items) next.add(...range(frame));
    return {
      deviceId: this.#deviceId,
      streamId: this.#streamId,
      acked: next.advance(this.#projected.acked),
    };
  }

  /** {@link CommitOwner}: `items` are committed (maybe not durable yet); nothing is acked yet. */
  stored(items: readonly CommitItem[]): void {
    const p = this.#projected;
    for (const { frame } of items) p.above.add(...range(frame));
    p.acked = p.above.advance(p.acked);
  }

  /** {@link CommitOwner}: the batch holding `items` is durable; account for them and ack. */
  committed(items: readonly CommitItem[], results: readonly StoreResult[]): void {
    const pos = this.#pos;
    items.forEach(({ frame, receivedAtMs }, i) => {
      const r = results[i]!;
      this.#committing.delete(frame.seq);
      pos.above.add(...range(frame));
      if (r.outcome === 'duplicate') this.#o.events.duplicate(this.#deviceId, frame.seq);
      else this.#o.events.stored(this.#deviceId, frame, receivedAtMs, r.samples);
    });
    pos.acked = pos.above.advance(pos.acked);
    // A commit already gathers many frames: its ack goes now, not after the rest of this turn's
    // reads, so the agent's window keeps moving while a long burst is being read.
    if (this.#phase === 'open') this.#send({ type: 'ack', ack: { upTo: pos.acked } });
  }

  /** {@link CommitOwner}: not stored, so not acked: the agent keeps the records and resends them. */
  failed(items: readonly CommitItem[]): void {
    for (const { frame } of items) this.#committing.delete(frame.seq);
    this.#fail(
      CLOSE.INTERNAL,
      'OUTPOST_HUB_STORE_FAILED',
      'the hub could not store a frame; it will be resent',
    );
  }

  /** One cumulative ack per burst of frames rather than one per frame. */
  #scheduleAck(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      if (this.#phase === 'open') this.#send({ type: 'ack', ack: { upTo: this.#pos.acked } });
    });
  }

  #send(body: Body, seq = 0): void {
    const ws = this.#o.ws;
    if (ws.readyState !== ws.OPEN) return;
    ws.send(encodeFrame({ deviceId: this.#deviceId, seq, sentAtMs: this.#o.now() }, body));
  }

  /** Hub -> agent frames that must not be replayed carry a strictly increasing seq. */
  #sendSequenced(body: Body): void {
    this.#send(body, ++this.#seqOut);
  }

  #fail(status: number, code: string, message: string): void {
    if (this.#phase === 'closed') return;
    this.#o.events.protocolError(this, code, message);
    this.#send({ type: 'error', error: { code, message } });
    // Close reasons are limited to 123 bytes.
    this.#o.ws.close(status, code.slice(0, 120));
    this.#phase = 'closed';
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
  }

  #onClose(code: number): void {
    this.#phase = 'closed';
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#o.events.closed(this, code);
  }
}

/** The seqs a stored frame accounts for: its own, or a Gap's range. */
function range(frame: Frame): [number, number] {
  if (frame.type === 'gap') return [Number(frame.gap.fromSeq ?? 0), Number(frame.gap.toSeq ?? 0)];
  return [frame.seq, frame.seq];
}
