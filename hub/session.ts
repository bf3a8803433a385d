import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import {
  CodecError,
  decodeFrame,
  encodeFrame,
  SUPPORTED_VERSIONS,
  type Body,
  type Frame,
} from '../src/codec/index.js';
import type { HubStore, StreamPosition } from './store.js';

/** WebSocket close statuses (4000-4999 are application-defined; same values as the agent's). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  MALFORMED_FRAME: 4400,
  IDENTITY_MISMATCH: 4403,
  HANDSHAKE_TIMEOUT: 4408,
  REPLACED: 4409,
  UNSUPPORTED_VERSION: 4426,
  INTERNAL: 4500,
} as const;

const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DATA_TYPES = new Set<Frame['type']>(['telemetry', 'alarm', 'gap', 'commandResult']);

export interface SessionOptions {
  ws: WebSocket;
  /** Device identity from the verified client certificate. */
  deviceId: string;
  remote: string;
  hubId: string;
  store: HubStore;
  heartbeatMs: number;
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  now: () => number;
  events: SessionEvents;
}

export interface SessionEvents {
  stored(deviceId: string, frame: Frame, storedAtMs: number, samples: number): void;
  duplicate(deviceId: string, seq: number): void;
  protocolError(deviceId: string, code: string, message: string): void;
  opened(session: DeviceSession): void;
  closed(session: DeviceSession, code: number): void;
}

/**
 * One authenticated device connection: the handshake, then storing data frames, de-duplicating
 * by (device, stream, seq) and acknowledging cumulatively once the store has committed. Any
 * protocol violation gets a ProtocolError frame and a close with a specific status; it never
 * touches other sessions.
 */
export class DeviceSession {
  readonly deviceId: string;
  readonly #o: SessionOptions;
  #phase: 'hello-sent' | 'open' | 'closed' = 'hello-sent';
  #streamId = '';
  #pos: StreamPosition = { acked: 0, above: new Set() };
  #ackScheduled = false;
  #handshakeTimer: NodeJS.Timeout;
  #heartbeat: NodeJS.Timeout | undefined;
  #lastSeen: number;
  #seqOut = 0;

  constructor(options: SessionOptions) {
    this.#o = options;
    this.deviceId = options.deviceId;
    this.#lastSeen = options.now();
    const { ws } = options;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('pong', () => (this.#lastSeen = this.#o.now()));
    ws.on('close', (code: number) => this.#onClose(code));
    ws.on('error', () => undefined); // 'close' follows; errors such as 1009 are reported there
    this.#handshakeTimer = setTimeout(
      () =>
        this.#fail(
          CLOSE.HANDSHAKE_TIMEOUT,
          'OUTPOST_HANDSHAKE_TIMEOUT',
          `handshake not completed within ${options.handshakeTimeoutMs} ms`,
        ),
      options.handshakeTimeoutMs,
    );
    this.#send({
      type: 'hello',
      hello: { versions: [...SUPPORTED_VERSIONS], hubId: options.hubId, nonce: randomBytes(32) },
    });
  }

  get open(): boolean {
    return this.#phase === 'open';
  }

  /** Ends the session from the hub side (replaced by a newer connection, shutdown, revocation). */
  close(code: number, reason: string): void {
    if (this.#phase === 'closed') return;
    this.#o.ws.close(code, reason);
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
    if (frame.deviceId !== this.deviceId) {
      this.#fail(
        CLOSE.IDENTITY_MISMATCH,
        'OUTPOST_IDENTITY_MISMATCH',
        `frame names device "${frame.deviceId}" but the client certificate is for "${this.deviceId}"`,
      );
      return;
    }
    if (this.#phase === 'hello-sent') {
      this.#onDeviceAuth(frame);
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

  #onDeviceAuth(frame: Frame): void {
    if (frame.type !== 'deviceAuth') {
      this.#fail(
        CLOSE.MALFORMED_FRAME,
        'OUTPOST_UNEXPECTED_FRAME',
        `expected DeviceAuth, got ${frame.type}`,
      );
      return;
    }
    const auth = frame.deviceAuth;
    if (auth.deviceId !== this.deviceId) {
      this.#fail(
        CLOSE.IDENTITY_MISMATCH,
        'OUTPOST_IDENTITY_MISMATCH',
        `DeviceAuth names "${auth.deviceId}" but the certificate is for "${this.deviceId}"`,
      );
      return;
    }
    if (!SUPPORTED_VERSIONS.includes(auth.version ?? 0)) {
      this.#fail(
        CLOSE.UNSUPPORTED_VERSION,
        'OUTPOST_UNSUPPORTED_VERSION',
        `protocol version ${auth.version} is not offered`,
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
    this.#streamId = streamId;
    try {
      this.#pos = this.#o.store.openStream(
        this.deviceId,
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
    this.#phase = 'open';
    this.#send({
      type: 'hubAuth',
      hubAuth: {
        ackedSeq: this.#pos.acked,
        heartbeatIntervalMs: this.#o.heartbeatMs,
        maxFrameBytes: this.#o.maxFrameBytes,
      },
    });
    this.#startHeartbeat();
    this.#o.events.opened(this);
  }

  #onData(frame: Frame, bytes: number): void {
    const seq = frame.seq;
    const pos = this.#pos;
    if (seq <= pos.acked || pos.above.has(seq)) {
      this.#o.events.duplicate(this.deviceId, seq);
      this.#scheduleAck();
      return;
    }
    // Where the cumulative ack lands once this frame is stored.
    let acked = pos.acked;
    if (seq === acked + 1) {
      acked = seq;
      while (pos.above.has(acked + 1)) acked++;
    }
    const now = this.#o.now();
    let result;
    try {
      result = this.#o.store.storeFrame(this.deviceId, this.#streamId, frame, bytes, now, acked);
    } catch {
      // Not stored, so not acked: the agent keeps the record and resends it.
      this.#fail(
        CLOSE.INTERNAL,
        'OUTPOST_HUB_STORE_FAILED',
        'the hub could not store a frame; it will be resent',
      );
      return;
    }
    if (result.outcome === 'duplicate') {
      this.#o.events.duplicate(this.deviceId, seq);
    } else {
      if (seq === pos.acked + 1) {
        for (let s = pos.acked + 1; s <= acked; s++) pos.above.delete(s);
        pos.acked = acked;
      } else {
        pos.above.add(seq);
      }
      this.#o.events.stored(this.deviceId, frame, now, result.samples);
    }
    this.#scheduleAck();
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

  #startHeartbeat(): void {
    const beat = (): void => {
      if (this.#phase !== 'open') return;
      if (this.#o.now() - this.#lastSeen > 2 * this.#o.heartbeatMs) {
        this.#o.events.protocolError(
          this.deviceId,
          'OUTPOST_DEAD_PEER',
          'no traffic or pong for two heartbeat intervals',
        );
        this.#o.ws.terminate();
        return;
      }
      this.#o.ws.ping();
      this.#heartbeat = setTimeout(beat, this.#o.heartbeatMs);
    };
    this.#heartbeat = setTimeout(beat, this.#o.heartbeatMs);
  }

  #send(body: Body): void {
    const ws = this.#o.ws;
    if (ws.readyState !== ws.OPEN) return;
    const seq = body.type === 'command' ? ++this.#seqOut : 0;
    ws.send(encodeFrame({ deviceId: this.deviceId, seq, sentAtMs: this.#o.now() }, body));
  }

  #fail(status: number, code: string, message: string): void {
    if (this.#phase === 'closed') return;
    this.#o.events.protocolError(this.deviceId, code, message);
    this.#send({ type: 'error', error: { code, message } });
    // Close reasons are limited to 123 bytes.
    this.#o.ws.close(status, code.slice(0, 120));
    this.#phase = 'closed';
    clearTimeout(this.#handshakeTimer);
  }

  #onClose(code: number): void {
    this.#phase = 'closed';
    clearTimeout(this.#handshakeTimer);
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    this.#o.events.closed(this, code);
  }
}
