import { EventEmitter } from 'node:events';
import type { Agent as HttpAgent } from 'node:http';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import {
  CodecError,
  batchFrameLength,
  decodeFrame,
  encodeBatchFrame,
  encodeFrame,
  encodeFrameWithBody,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  type Frame,
} from '../codec/index.js';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import {
  LANES,
  type Lane,
  type OutboundQueue,
  type QueueGap,
  type QueuedRecord,
} from '../spool/queue.js';
import { ByteRateLimiter } from './rate-limit.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { AgentHandshake } from './handshake.js';
import { describeProxyFailure } from './proxy.js';
import type { DeviceIdentity } from './identity.js';
import { CLOSE, TunnelError } from './errors.js';
import { pinnedServerIdentity, tlsPolicy } from './tls-policy.js';

export interface TunnelTlsOptions {
  /** The CA bundle the hub's certificate must chain to. Replaces the system store. */
  ca: string | Buffer | Array<string | Buffer>;
  /** This device's client certificate and key (PEM). */
  cert: string | Buffer;
  key: string | Buffer;
  /** Name to check the hub's certificate against, when it differs from the URL's host. */
  servername?: string;
  /** Also allow TLS 1.2 (ECDHE + AES-256-GCM/ChaCha20 only). Default: TLS 1.3 only. */
  allowTls12?: boolean;
  /** SPKI pins of the hub (base64 SHA-256), at least two: current and backup. */
  spkiPins?: string[];
}

export interface TunnelOptions {
  /** `wss://host[:port]/path` of the hub. Plain `ws://` is refused. */
  url: string;
  tls: TunnelTlsOptions;
  deviceId: string;
  agentVersion: string;
  /** Signs the inner handshake (Ed25519). */
  identity: DeviceIdentity;
  /** The hub's pinned Ed25519 public key (32 bytes); HubAuth must be signed by it. */
  hubIdentityKey: Uint8Array;
  /**
   * A load balancer terminates TLS in front of the hub: bind the handshake to the documented
   * marker instead of the TLS exporter. Identity then rests on the inner handshake alone.
   */
  terminatedUpstream?: boolean;
  queue: OutboundQueue;
  clock: Clock;
  logger: Logger;
  /** Records in flight without an ack. Default 64. */
  window?: number;
  /**
   * Most records sent together in one RecordBatch frame when several are ready at once, if the
   * hub offers batches (HubAuth.max_batch_records; the smaller of the two applies). Default 64;
   * 1: one record per frame. Nothing waits to fill a batch: it holds what is ready now.
   */
  maxBatchRecords?: number;
  /**
   * Most bytes of records in one batch. Default 16 KiB. A batch is handled by the hub only once
   * all of it has arrived, so on a slow uplink its size is latency (16 KiB: 0.13 s at 1 Mbit/s)
   * for the records at its front, alarms among them.
   */
  maxBatchBytes?: number;
  /** Deadline for the inner handshake after the TLS+WebSocket connection opens. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Ping interval when the hub does not set one. Default 30 s. The peer is dead after 2. */
  heartbeatMs?: number;
  backoff?: BackoffPolicy;
  /** Largest frame accepted from the hub. Default 256 KiB. */
  maxFrameBytes?: number;
  /** HTTP agent for proxies (CONNECT). */
  agent?: HttpAgent;
  random?: () => number;
  /** How many recent command ids to remember for replay protection. Default 1024. */
  commandMemory?: number;
  /**
   * Bandwidth cap for the bulk lane (logs, files), bytes per second; 0 or unset: none. Alarms
   * and telemetry are never held back by it.
   */
  bulkBytesPerSecond?: number;
}

/** Why a command from the hub was not handed to the runtime. */
export type CommandRefusal = 'wrong-device' | 'expired' | 'replayed';

export type TunnelState = 'idle' | 'connecting' | 'handshaking' | 'open' | 'waiting' | 'closed';

export interface TunnelStats {
  connects: number;
  /** Records sent (each its own frame, or an entry of a batch). */
  framesSent: number;
  /** RecordBatch frames sent, and the records they carried (part of `framesSent`). */
  batchesSent: number;
  batchedRecords: number;
  bytesSent: number;
  framesResent: number;
  acked: number;
  inFlight: number;
  /** Gap frames sent (a gap is sent again on each connection until the hub acks past it). */
  gapsSent: number;
}

export interface TunnelEvents {
  state: [state: TunnelState];
  /** The tunnel went down for a reason other than close(); a reconnect follows. */
  down: [error: TunnelError];
  sent: [record: QueuedRecord, frameBytes: number];
  acked: [records: QueuedRecord[]];
  /** The queue reported records it accepted and then dropped; a Gap frame tells the hub. */
  gap: [gap: QueueGap];
  frame: [frame: Frame];
  /** A command that passed the device, expiry and replay checks. */
  command: [command: Extract<Frame, { type: 'command' }>['command']];
  'command-refused': [
    command: Extract<Frame, { type: 'command' }>['command'],
    reason: CommandRefusal,
  ];
  /** Frames for the credential service (rotation). */
  credential: [frame: Extract<Frame, { type: 'credentialIssued' | 'rotateNow' }>];
}

/**
 * The agent's one outbound connection to the hub: TLS 1.3 with a client certificate, a
 * WebSocket on top, the version handshake, then a sliding window of sequenced frames drawn
 * from the queue. Records leave the queue only when the hub acknowledges them; on reconnect,
 * unacknowledged records are sent again with their original sequence numbers.
 */
export class TunnelClient extends EventEmitter<TunnelEvents> {
  readonly #o: Required<Omit<TunnelOptions, 'agent'>> & Pick<TunnelOptions, 'agent'>;
  readonly #homeUrl: string;
  #deadPeer: TunnelError | undefined;
  #tls: TunnelTlsOptions;
  /**
   * Built once per credential and reused by every (re)connect: building it (parsing the CA,
   * certificate and key) was about a third of the TCP + TLS set-up time.
   */
  #secureContext: SecureContext | undefined;
  #url: string;
  #redirectDelayMs: number | undefined;
  /** HubAuth.reconnect_spread_ms of the tunnel that is (or was last) open. */
  #announcedSpreadMs = 0;
  /** Lower bound of the backoff window while reconnecting after an open tunnel was lost. */
  #spreadMs = 0;
  #handshake: AgentHandshake | undefined;
  #lastHubSeq = 0;
  readonly #commandIds = new Map<string, number>();
  #state: TunnelState = 'idle';
  #ws: WebSocket | undefined;
  #attempt = 0;
  #timer: TimerHandle | undefined;
  #handshakeTimer: TimerHandle | undefined;
  #heartbeatTimer: TimerHandle | undefined;
  #lastPong = 0;
  #heartbeatMs: number;
  /** Batch limits on this connection (ours and the hub's, HubAuth): records, bytes per frame. */
  #batchRecords = 1;
  #frameLimit = MAX_FRAME_BYTES;
  #inFlight = new Set<number>();
  /** Per lane, the highest seq sent on this connection: `next()` starts above it. */
  #sentUpTo: Partial<Record<Lane, number>> = {};
  #everSent = new Set<number>();
  /** Gaps taken from the queue that the hub has not acked past; `sent` on this connection. */
  #gaps: Array<{ gap: QueueGap; sent: boolean }> = [];
  /** Lanes held back (telemetry outside a transmit window). */
  readonly #held = new Set<Lane>();
  readonly #bulkLimit: ByteRateLimiter;
  #bulkTimer: TimerHandle | undefined;
  #stats: TunnelStats = {
    connects: 0,
    framesSent: 0,
    batchesSent: 0,
    batchedRecords: 0,
    bytesSent: 0,
    framesResent: 0,
    acked: 0,
    inFlight: 0,
    gapsSent: 0,
  };

  constructor(options: TunnelOptions) {
    super();
    checkTunnelConfig(options.url, options.tls);
    this.#o = {
      window: 64,
      handshakeTimeoutMs: 10_000,
      heartbeatMs: 30_000,
      backoff: DEFAULT_BACKOFF,
      maxFrameBytes: 256 * 1024,
      random: Math.random,
      terminatedUpstream: false,
      commandMemory: 1024,
      bulkBytesPerSecond: 0,
      maxBatchRecords: 64,
      maxBatchBytes: 16 * 1024,
      ...options,
    };
    this.#heartbeatMs = this.#o.heartbeatMs;
    this.#bulkLimit = new ByteRateLimiter({
      bytesPerSecond: this.#o.bulkBytesPerSecond,
      clock: options.clock,
    });
    this.#homeUrl = this.#url = options.url;
    this.#tls = { ...options.tls };
  }

  get state(): TunnelState {
    return this.#state;
  }

  stats(): TunnelStats {
    return { ...this.#stats, inFlight: this.#inFlight.size };
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /**
   * Uses a new client certificate and key from the next connection on (rotation). The open
   * tunnel, authenticated with the old one, stays up.
   */
  updateCredential(cert: string | Buffer, key: string | Buffer): void {
    this.#tls = { ...this.#tls, cert, key };
    this.#secureContext = undefined;
  }

  /** Sends an unsequenced control frame on the open tunnel; false when it is not open. */
  sendControl(body: Parameters<typeof encodeFrame>[1]): boolean {
    const ws = this.#ws;
    if (!ws || this.#state !== 'open') return false;
    this.#send(ws, body);
    return true;
  }

  /**
   * Holds a lane back (true) or lets it go again (false): the agent holds telemetry outside
   * its transmit windows. Held records stay in the queue; the oldest unacked record still goes
   * when the window is full of records waiting for it (or the cumulative ack would stall).
   */
  holdLane(lane: Lane, held: boolean): void {
    if (held) this.#held.add(lane);
    else if (this.#held.delete(lane)) this.notify();
  }

  /** New records are waiting in the queue. */
  notify(): void {
    if (this.#state === 'open') this.#pump();
    else if (this.#state === 'waiting' && this.#spreadMs > 0 && this.#alarmWaiting()) {
      // An alarm does not wait out the fleet's reconnect window: retry on the backoff alone.
      this.#spreadMs = 0;
      if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#attempt = Math.max(0, this.#attempt - 1); // the wait cut short made no attempt
      this.#scheduleReconnect();
    }
  }

  #alarmWaiting(): boolean {
    return this.#o.queue.stats().byLane.alarm > 0;
  }

  /** Closes for good. Not a failure: no reconnect follows. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const done = (): void => resolve();
        ws.once('close', done);
        const t = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000);
        t.unref();
        ws.close(CLOSE.NORMAL, 'agent shutting down');
      });
    }
  }

  #setState(state: TunnelState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  #connect(): void {
    this.#setState('connecting');
    this.#stats.connects++;
    const tls = this.#tls;
    if (!this.#secureContext) {
      try {
        this.#secureContext = createSecureContext({
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          ...tlsPolicy(tls.allowTls12),
        });
      } catch {
        // Unusable credentials: tls.connect below fails on them the same way and reports it
        // as a failed connection (then the backoff), as it always has.
      }
    }
    // ws hands these to tls.connect; `servername` and `secureContext` are honoured there though
    // its typings omit them. tls.connect uses the prebuilt context and ignores ca/cert/key.
    const options: WebSocket.ClientOptions & {
      servername?: string;
      secureContext?: SecureContext;
    } = {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      ...(this.#secureContext ? { secureContext: this.#secureContext } : {}),
      servername: tls.servername,
      rejectUnauthorized: true,
      ...tlsPolicy(tls.allowTls12),
      maxPayload: this.#o.maxFrameBytes,
      perMessageDeflate: false,
      handshakeTimeout: this.#o.handshakeTimeoutMs,
      followRedirects: false,
      agent: this.#o.agent,
    };
    if (tls.spkiPins) {
      // ws passes this through to tls.connect, which expects (host, cert) => Error | undefined;
      // ws's own typings describe a different signature, hence the assignment around them.
      Object.assign(options, { checkServerIdentity: pinnedServerIdentity(tls.spkiPins) });
    }
    const ws = new WebSocket(this.#url, options);
    ws.binaryType = 'nodebuffer';
    this.#ws = ws;
    this.#handshake = undefined;
    this.#lastHubSeq = 0;
    let failure: TunnelError | undefined;
    this.#deadPeer = undefined;
    let socket: TLSSocket | undefined;
    let opened = false;

    ws.on('upgrade', (res) => {
      socket = res.socket as TLSSocket;
    });
    ws.on('open', () => {
      this.#setState('handshaking');
      try {
        this.#handshake = new AgentHandshake({
          deviceId: this.#o.deviceId,
          agentVersion: this.#o.agentVersion,
          streamId: this.#o.queue.streamId,
          identity: this.#o.identity,
          hubIdentityKey: this.#o.hubIdentityKey,
          socket,
          terminatedUpstream: this.#o.terminatedUpstream,
          now: () => this.#o.clock.now(),
        });
      } catch (err) {
        failure =
          err instanceof TunnelError ? err : new TunnelError('TUNNEL_PROTOCOL_ERROR', String(err));
        closeSoon(ws, CLOSE.AUTH_FAILED, failure.code);
        return;
      }
      this.#handshakeTimer = this.#o.clock.setTimeout(() => {
        failure = new TunnelError(
          'TUNNEL_HANDSHAKE_TIMEOUT',
          `hub did not complete the handshake within ${this.#o.handshakeTimeoutMs} ms`,
        );
        // The hub is not answering: it may not answer a close either (a black-holed path),
        // so do not wait for ws's 30 s closing handshake.
        ws.terminate();
      }, this.#o.handshakeTimeoutMs);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.#ws !== ws) return;
      const problem = this.#onMessage(ws, data, isBinary);
      if (this.#state === 'open') opened = true;
      if (problem) {
        failure = problem;
        if (problem.code === 'TUNNEL_REDIRECTED') {
          closeSoon(ws, CLOSE.NORMAL, 'redirected');
        } else if (problem.code === 'TUNNEL_HUB_AUTH_FAILED') {
          closeSoon(ws, CLOSE.AUTH_FAILED, problem.code);
        } else {
          this.#sendError(ws, 'OUTPOST_MALFORMED_FRAME', problem.message);
          closeSoon(ws, CLOSE.MALFORMED_FRAME, problem.code);
        }
      }
    });
    ws.on('pong', () => {
      this.#lastPong = this.#o.clock.now();
    });
    ws.on('unexpected-response', (_req, res) => {
      failure = new TunnelError(
        'TUNNEL_CONNECT_FAILED',
        `hub answered the WebSocket upgrade with HTTP ${res.statusCode}`,
      );
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      failure ??= classifySocketError(err);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#clearTimers();
      this.#inFlight.clear();
      this.#sentUpTo = {};
      if (this.#state === 'closed') return;
      const error =
        failure ??
        this.#deadPeer ??
        new TunnelError(
          'TUNNEL_CLOSED_BY_HUB',
          `hub closed the tunnel (${code}${reason.length ? `: ${reason.toString()}` : ''})`,
          {
            closeCode: code,
          },
        );
      this.#o.logger.warn('tunnel down', {
        code: error.code,
        closeCode: error.closeCode ?? code,
        reason: error.message,
      });
      this.emit('down', error);
      // A redirected node that never let us in: go home on the next attempt.
      if (!opened && error.code !== 'TUNNEL_REDIRECTED') this.#url = this.#homeUrl;
      // An open tunnel lost without a come-back-later frame (the hub crashed, the path broke,
      // the heartbeat gave up): spread the return over the window the hub announced, as
      // every device of that node does the same now.
      // A device with an alarm to deliver does not wait: few do at any moment.
      if (opened) this.#spreadMs = this.#alarmWaiting() ? 0 : this.#announcedSpreadMs;
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    const redirect = this.#redirectDelayMs;
    this.#redirectDelayMs = undefined;
    const delay =
      redirect ?? backoffDelay(this.#attempt++, this.#o.backoff, this.#o.random, this.#spreadMs);
    this.#setState('waiting');
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === 'waiting') this.#connect();
    }, delay);
  }

  /** Handles one frame from the hub; returns an error when the frame breaks the protocol. */
  #onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): TunnelError | undefined {
    if (!isBinary)
      return new TunnelError(
        'TUNNEL_PROTOCOL_ERROR',
        'hub sent a text frame; the protocol is binary',
      );
    let frame: Frame;
    try {
      frame = decodeFrame(data, { maxBytes: this.#o.maxFrameBytes });
    } catch (err) {
      const code = err instanceof CodecError ? err.code : 'OUTPOST_MALFORMED_FRAME';
      return new TunnelError(
        'TUNNEL_PROTOCOL_ERROR',
        `hub sent a frame the agent cannot decode (${code})`,
        { cause: err },
      );
    }
    this.emit('frame', frame);
    switch (frame.type) {
      case 'hello': {
        if (this.#state !== 'handshaking')
          return new TunnelError('TUNNEL_PROTOCOL_ERROR', 'unexpected Hello after the handshake');
        const versions = frame.hello.versions ?? [];
        if (!versions.includes(PROTOCOL_VERSION)) {
          closeSoon(ws, CLOSE.UNSUPPORTED_VERSION, 'no common protocol version');
          return new TunnelError(
            'TUNNEL_VERSION_MISMATCH',
            `hub speaks protocol versions [${versions.join(', ')}], agent speaks ${PROTOCOL_VERSION}`,
          );
        }
        if (!this.#handshake)
          return new TunnelError('TUNNEL_PROTOCOL_ERROR', 'Hello before the connection opened');
        ws.send(this.#handshake.answerHello(data));
        return undefined;
      }
      case 'hubAuth': {
        if (this.#state !== 'handshaking')
          return new TunnelError('TUNNEL_PROTOCOL_ERROR', 'unexpected HubAuth');
        try {
          if (!this.#handshake)
            throw new TunnelError('TUNNEL_PROTOCOL_ERROR', 'HubAuth before Hello');
          this.#handshake.verifyHubAuth(data, frame);
        } catch (err) {
          return err instanceof TunnelError
            ? err
            : new TunnelError('TUNNEL_PROTOCOL_ERROR', String(err));
        }
        if (this.#handshakeTimer !== undefined) this.#o.clock.clearTimeout(this.#handshakeTimer);
        this.#handshakeTimer = undefined;
        const acked = frame.hubAuth.ackedSeq ?? 0;
        if (acked > 0) this.#acked(acked);
        this.#reportHubStateBehind(acked);
        if (frame.hubAuth.heartbeatIntervalMs)
          this.#heartbeatMs = frame.hubAuth.heartbeatIntervalMs;
        this.#announcedSpreadMs = Math.min(
          frame.hubAuth.reconnectSpreadMs ?? 0,
          MAX_RECONNECT_SPREAD_MS,
        );
        this.#spreadMs = 0;
        // A hub that predates batches offers 0: one record per frame, as before.
        this.#batchRecords = Math.max(
          1,
          Math.min(this.#o.maxBatchRecords, frame.hubAuth.maxBatchRecords ?? 0),
        );
        this.#frameLimit = Math.min(
          this.#o.maxBatchBytes,
          frame.hubAuth.maxFrameBytes || MAX_FRAME_BYTES,
        );
        this.#attempt = 0;
        for (const g of this.#gaps) g.sent = false; // unacked gaps go again on this connection
        this.#setState('open');
        this.#startHeartbeat(ws);
        this.#pump();
        return undefined;
      }
      case 'ack':
        if (this.#state !== 'open')
          return new TunnelError('TUNNEL_PROTOCOL_ERROR', 'Ack before the handshake completed');
        this.#acked(frame.ack.upTo ?? 0);
        this.#pump();
        return undefined;
      case 'error':
        this.#o.logger.warn('hub reported a protocol error', {
          code: frame.error.code,
          message: frame.error.message,
        });
        return undefined;
      default:
        return this.#onControl(frame);
    }
  }

  /** Frames allowed only on an open tunnel. Sequenced hub frames must strictly increase. */
  #onControl(frame: Frame): TunnelError | undefined {
    if (this.#state !== 'open') {
      return new TunnelError(
        'TUNNEL_PROTOCOL_ERROR',
        `unexpected ${frame.type} before the handshake completed`,
      );
    }
    if (frame.seq > 0) {
      if (frame.seq <= this.#lastHubSeq) {
        return new TunnelError(
          'TUNNEL_PROTOCOL_ERROR',
          `hub frame seq ${frame.seq} replayed (last ${this.#lastHubSeq})`,
        );
      }
      this.#lastHubSeq = frame.seq;
    }
    switch (frame.type) {
      case 'redirect': {
        const url = frame.redirect.url ?? '';
        if (url !== '') {
          let ok = false;
          try {
            ok = new URL(url).protocol === 'wss:';
          } catch {
            ok = false;
          }
          if (!ok) {
            this.#o.logger.warn('ignoring a redirect to a URL that is not wss://', {
              reason: frame.redirect.reason,
            });
            return undefined;
          }
          this.#url = url;
        }
        this.#redirectDelayMs = frame.redirect.retryAfterMs ?? 0;
        this.#o.logger.info('hub redirected the tunnel', {
          to: url === '' ? 'same hub' : url,
          retryAfterMs: this.#redirectDelayMs,
          reason: frame.redirect.reason,
        });
        return new TunnelError(
          'TUNNEL_REDIRECTED',
          `hub asked to reconnect${url ? ` to ${url}` : ''} after ${this.#redirectDelayMs} ms`,
        );
      }
      case 'command':
        this.#onCommand(frame.command);
        return undefined;
      case 'credentialIssued':
      case 'rotateNow':
        this.emit('credential', frame);
        return undefined;
      default:
        return new TunnelError(
          'TUNNEL_PROTOCOL_ERROR',
          `a ${frame.type} frame is not valid from the hub`,
        );
    }
  }

  #onCommand(command: Extract<Frame, { type: 'command' }>['command']): void {
    const now = this.#o.clock.now();
    for (const [id, expires] of this.#commandIds) if (expires < now) this.#commandIds.delete(id);
    const id = command.commandId ?? '';
    let refusal: CommandRefusal | undefined;
    if (command.deviceId !== this.#o.deviceId) refusal = 'wrong-device';
    else if (!command.expiresAtMs || command.expiresAtMs <= now) refusal = 'expired';
    else if (id === '' || this.#commandIds.has(id)) refusal = 'replayed';
    if (refusal) {
      this.#o.logger.warn('refused a command', {
        commandId: id,
        name: command.name,
        reason: refusal,
      });
      this.emit('command-refused', command, refusal);
      return;
    }
    this.#commandIds.set(id, command.expiresAtMs ?? now);
    while (this.#commandIds.size > this.#o.commandMemory) {
      const oldest = this.#commandIds.keys().next().value as string;
      this.#commandIds.delete(oldest);
    }
    this.emit('command', command);
  }

  #acked(upTo: number): void {
    const removed = this.#o.queue.ack(upTo);
    for (const r of removed) {
      this.#inFlight.delete(r.seq);
      this.#everSent.delete(r.seq);
    }
    // Anything at or below upTo is done even if this connection never sent it, or if the queue
    // no longer had it to hand back (dropped by the quota or quarantined after it was sent).
    for (const seq of this.#inFlight) if (seq <= upTo) this.#inFlight.delete(seq);
    for (const seq of this.#everSent) if (seq <= upTo) this.#everSent.delete(seq);
    this.#stats.acked += removed.length;
    if (this.#gaps.length > 0) this.#gaps = this.#gaps.filter((g) => g.gap.toSeq > upTo);
    if (removed.length > 0) this.emit('acked', removed);
  }

  #pump(): void {
    const ws = this.#ws;
    if (!ws || this.#state !== 'open') return;
    this.#sendGaps(ws);
    const room = this.#o.window - this.#inFlight.size;
    if (room > 0) {
      const lanes = this.#held.size === 0 ? LANES : LANES.filter((l) => !this.#held.has(l));
      const filter = { lanes, after: this.#sentUpTo };
      const batch =
        this.#batchRecords > 1
          ? new RecordBatcher(
              { records: this.#batchRecords, bytes: this.#frameLimit, deviceId: this.#o.deviceId },
              (records, frames) => this.#sendPrepared(ws, records, frames),
            )
          : undefined;
      for (const record of this.#o.queue.next(room, (seq) => this.#inFlight.has(seq), filter)) {
        if (record.lane === 'bulk' && !this.#bulkMayGo(record)) break;
        if (batch) batch.add(record, this.#prepare(record));
        else this.#sendRecord(ws, record);
      }
      batch?.flush();
    }
    // The cumulative ack moves only when the oldest record arrives. Alarms overtake telemetry,
    // so a window full of newer records could wait for an ack that never comes: the oldest
    // record goes, even past the window — and, if its lane is held or capped, only when
    // records are in flight that wait for it.
    const oldest = this.#o.queue.oldest?.();
    if (oldest && !this.#inFlight.has(oldest.seq)) {
      const free = !this.#held.has(oldest.lane) && oldest.lane !== 'bulk';
      if (free || this.#inFlight.size >= this.#o.window) this.#sendRecord(ws, oldest);
    }
  }

  /** The bulk cap: true if `record` may go now; otherwise a pump is scheduled for when it may. */
  #bulkMayGo(record: QueuedRecord): boolean {
    if (!this.#bulkLimit.limited) return true;
    const bytes = record.body.length + 64; // the envelope header, roughly
    const wait = this.#bulkLimit.delayFor(bytes);
    if (wait <= 0) {
      this.#bulkLimit.consume(bytes);
      return true;
    }
    this.#bulkTimer ??= this.#o.clock.setTimeout(() => {
      this.#bulkTimer = undefined;
      this.#pump();
    }, wait);
    return false;
  }

  /** Gaps the queue has dropped since the last call join those waiting for the hub's ack. */
  #collectGaps(): void {
    for (const gap of this.#o.queue.takeGaps?.() ?? []) {
      this.#gaps.push({ gap, sent: false });
      this.#o.logger.warn('records were dropped from the queue; reporting the gap to the hub', {
        fromSeq: gap.fromSeq,
        toSeq: gap.toSeq,
        records: gap.records,
        reason: gap.reason,
      });
      this.emit('gap', gap);
    }
  }

  /**
   * Everything below the oldest record still queued was acked by a hub (or went as a gap) and
   * is gone from the device. A hub that says it has less (`ackedSeq` from HubAuth) lost its
   * state: left alone, its cumulative ack would wait forever for those seqs and the window
   * would stall. The range it lacks, less gaps still to be acked, goes to it as gaps.
   */
  #reportHubStateBehind(hubAcked: number): void {
    const q = this.#o.queue;
    if (!q.oldest) return;
    this.#collectGaps(); // the queue's own gaps are no loss of the hub's
    const floor = (q.oldest()?.seq ?? q.stats().lastSeq + 1) - 1;
    if (floor <= hubAcked) return;
    let from = hubAcked + 1;
    const pending = this.#gaps
      .map((g) => g.gap)
      .filter((g) => g.toSeq >= from && g.fromSeq <= floor)
      .sort((a, b) => a.fromSeq - b.fromSeq);
    const missing: QueueGap[] = [];
    for (const g of [...pending, { fromSeq: floor + 1, toSeq: floor + 1 }]) {
      const to = Math.min(g.fromSeq - 1, floor);
      if (to >= from)
        missing.push({
          fromSeq: from,
          toSeq: to,
          records: to - from + 1,
          reason: 'hub-state-behind',
        });
      from = Math.max(from, g.toSeq + 1);
    }
    for (const gap of missing) {
      this.#gaps.push({ gap, sent: false });
      this.#o.logger.warn(
        'the hub has no record of seqs it acked before (its state was restored or lost); reporting them as a gap',
        { fromSeq: gap.fromSeq, toSeq: gap.toSeq, hubAcked },
      );
      this.emit('gap', gap);
    }
  }

  /**
   * Reports records the queue dropped (quota, corruption) so the hub's cumulative ack can move
   * past them. A Gap carries no seq of its own; it is sent on every connection until acked past.
   */
  #sendGaps(ws: WebSocket): void {
    this.#collectGaps();
    for (const g of this.#gaps) {
      if (g.sent) continue;
      g.sent = true;
      this.#stats.gapsSent++;
      this.#send(ws, {
        type: 'gap',
        gap: {
          fromSeq: g.gap.fromSeq,
          toSeq: g.gap.toSeq,
          records: g.gap.records,
          reason: GAP_REASONS[g.gap.reason],
        },
      });
    }
  }

  #sendRecord(ws: WebSocket, record: QueuedRecord): void {
    const frame = this.#prepare(record);
    this.#stats.bytesSent += frame.length;
    ws.send(frame);
    this.emit('sent', record, frame.length);
  }

  /** Encodes a record's frame and counts it in flight; the caller sends it (alone or batched). */
  #prepare(record: QueuedRecord): Uint8Array {
    const frame = encodeFrameWithBody(
      { deviceId: this.#o.deviceId, seq: record.seq, sentAtMs: this.#o.clock.now() },
      record.type,
      record.body,
    );
    this.#inFlight.add(record.seq);
    // Within a lane records go in ascending seq, and anything below the oldest is acked.
    if (record.seq > (this.#sentUpTo[record.lane] ?? 0)) this.#sentUpTo[record.lane] = record.seq;
    if (this.#everSent.has(record.seq)) this.#stats.framesResent++;
    this.#everSent.add(record.seq);
    this.#stats.framesSent++;
    return frame;
  }

  /** Sends prepared records: alone when there is one, else as one RecordBatch frame. */
  #sendPrepared(ws: WebSocket, records: QueuedRecord[], frames: Uint8Array[]): void {
    if (frames.length === 1) {
      this.#stats.bytesSent += frames[0]!.length;
      ws.send(frames[0]!);
    } else {
      const frame = encodeBatchFrame(
        { deviceId: this.#o.deviceId, sentAtMs: this.#o.clock.now() },
        frames,
      );
      this.#stats.batchesSent++;
      this.#stats.batchedRecords += frames.length;
      this.#stats.bytesSent += frame.length;
      ws.send(frame);
    }
    for (let i = 0; i < records.length; i++) this.emit('sent', records[i]!, frames[i]!.length);
  }

  #send(ws: WebSocket, body: Parameters<typeof encodeFrame>[1]): void {
    ws.send(
      encodeFrame({ deviceId: this.#o.deviceId, seq: 0, sentAtMs: this.#o.clock.now() }, body),
    );
  }

  #sendError(ws: WebSocket, code: string, message: string): void {
    if (ws.readyState === WebSocket.OPEN)
      this.#send(ws, { type: 'error', error: { code, message } });
  }

  #startHeartbeat(ws: WebSocket): void {
    this.#lastPong = this.#o.clock.now();
    const beat = (): void => {
      if (this.#ws !== ws) return;
      if (this.#o.clock.now() - this.#lastPong > 2 * this.#heartbeatMs) {
        this.#o.logger.warn('hub stopped answering heartbeats; reconnecting', {
          heartbeatMs: this.#heartbeatMs,
        });
        // Reported once, by the close handler, as the reason the tunnel went down.
        this.#deadPeer = new TunnelError(
          'TUNNEL_DEAD_PEER',
          `no pong for ${2 * this.#heartbeatMs} ms`,
        );
        ws.terminate();
        return;
      }
      ws.ping();
      this.#heartbeatTimer = this.#o.clock.setTimeout(beat, this.#heartbeatMs);
    };
    this.#heartbeatTimer = this.#o.clock.setTimeout(beat, this.#heartbeatMs);
  }

  #clearTimers(): void {
    for (const t of [this.#timer, this.#handshakeTimer, this.#heartbeatTimer, this.#bulkTimer]) {
      if (t !== undefined) this.#o.clock.clearTimeout(t);
    }
    this.#timer = this.#handshakeTimer = this.#heartbeatTimer = this.#bulkTimer = undefined;
  }
}

/**
 * Gathers the records one pump sends into RecordBatch frames: up to the connection's record
 * and byte limits (a record too large to share a frame goes alone), and one lane per batch, so
 * that alarms (first in the queue's order) go in a frame of their own ahead of telemetry.
 */
class RecordBatcher {
  readonly #limits: { records: number; bytes: number; deviceId: string };
  readonly #send: (records: QueuedRecord[], frames: Uint8Array[]) => void;
  #records: QueuedRecord[] = [];
  #frames: Uint8Array[] = [];
  #bytes = 0;

  constructor(
    limits: { records: number; bytes: number; deviceId: string },
    send: (records: QueuedRecord[], frames: Uint8Array[]) => void,
  ) {
    this.#limits = limits;
    this.#send = send;
  }

  add(record: QueuedRecord, frame: Uint8Array): void {
    const n = this.#frames.length;
    if (
      n > 0 &&
      (n >= this.#limits.records ||
        record.lane !== this.#records[0]!.lane ||
        batchFrameLength(this.#limits.deviceId, n + 1, this.#bytes + frame.length) >
          this.#limits.bytes)
    ) {
      this.flush();
    }
    this.#records.push(record);
    this.#frames.push(frame);
    this.#bytes += frame.length;
  }

  flush(): void {
    if (this.#frames.length === 0) return;
    this.#send(this.#records, this.#frames);
    this.#records = [];
    this.#frames = [];
    this.#bytes = 0;
  }
}

/**
 * Fails fast on a configuration the tunnel could never use: a hub URL that is not `wss://`,
 * fewer than two SPKI pins.
 *
 * @throws TunnelError `TUNNEL_BAD_CONFIG`
 */
export function checkTunnelConfig(hubUrl: string, tls: Pick<TunnelTlsOptions, 'spkiPins'>): void {
  const url = new URL(hubUrl);
  if (url.protocol !== 'wss:') {
    throw new TunnelError(
      'TUNNEL_BAD_CONFIG',
      `hub URL must use wss:// (got ${url.protocol}//); the agent never sends data unencrypted`,
    );
  }
  if (tls.spkiPins) pinnedServerIdentity(tls.spkiPins); // fails fast on < 2 pins
}

/**
 * Starts a WebSocket close and makes sure it ends: ws waits up to 30 s for the peer's close
 * frame, and a peer behind a black-holed path never sends one. The reconnect waits on 'close'.
 */
const CLOSE_GRACE_MS = 1000;
/** GapReason on the wire. */
const GAP_REASONS: Record<QueueGap['reason'], number> = {
  quota: 1,
  corrupt: 2,
  'hub-state-behind': 3,
};
/** A hub cannot make its agents wait longer than this for their first reconnect. */
const MAX_RECONNECT_SPREAD_MS = 10 * 60_000;
function closeSoon(ws: WebSocket, code: number, reason: string): void {
  ws.close(code, reason);
  const t = setTimeout(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }, CLOSE_GRACE_MS);
  t.unref();
  ws.once('close', () => clearTimeout(t));
}

function classifySocketError(err: Error & { code?: string }): TunnelError {
  const proxy = describeProxyFailure(err);
  if (proxy) return new TunnelError('TUNNEL_CONNECT_FAILED', proxy.message, { cause: proxy });
  const code = err.code ?? '';
  if (code === 'ERR_OUTPOST_SPKI_PIN_MISMATCH') {
    return new TunnelError(
      'TUNNEL_TLS_REJECTED',
      `${err.message}; the hub's key changed or this is not the hub`,
      { cause: err },
    );
  }
  if (/opening handshake has timed out/i.test(err.message)) {
    return new TunnelError(
      'TUNNEL_CONNECT_FAILED',
      'the hub did not answer the connection in time (network, proxy or hub down)',
      {
        cause: err,
      },
    );
  }
  const tlsLike =
    /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|HOSTNAME/i.test(code) ||
    /certificate|alert|handshake/i.test(err.message);
  if (tlsLike) {
    return new TunnelError(
      'TUNNEL_TLS_REJECTED',
      `TLS with the hub failed (${code || err.message}); check the CA bundle, the device certificate and its validity dates`,
      { cause: err },
    );
  }
  return new TunnelError(
    'TUNNEL_CONNECT_FAILED',
    `cannot connect to the hub (${code || err.message})`,
    { cause: err },
  );
}
