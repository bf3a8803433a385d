import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import {
  MAX_FRAME_BYTES,
  TERMINATED_UPSTREAM_MARKER,
  tlsExporter,
  type Body,
  type Frame,
} from '../src/codec/index.js';
import { ed25519PublicKey, HubIdentity } from './identity.js';
import { deviceIdFromCertificate } from './pki.js';
import { CLOSE, DeviceSession, type SessionEvents } from './session.js';
import { CommitQueue } from './commit-queue.js';
import { HubStore, type DataMode } from './store.js';
import { HUB_TLS12_POLICY, HUB_TLS_POLICY } from './tls-policy.js';

export interface HubOptions {
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port); production uses 443. */
  port?: number;
  /** Required unless `tlsTerminatedUpstream`. */
  tls?: {
    /** Hub server certificate and key (PEM). */
    cert: string;
    key: string;
    /** CA bundle that device client certificates must chain to. */
    ca: string | string[];
  };
  /**
   * A load balancer terminates TLS in front of this node: serve plain HTTP/WebSocket (bind it
   * to an address only the balancer reaches) and authenticate devices by the inner handshake
   * alone, bound to the terminated-upstream marker.
   */
  tlsTerminatedUpstream?: boolean;
  /** Also accept TLS 1.2 (ECDHE + AES-256-GCM/ChaCha20 only). Default: TLS 1.3 only. */
  allowTls12?: boolean;
  /**
   * The hub's Ed25519 identity (PKCS#8 PEM). Default: the one kept in the database, generated on
   * first start. Every node behind one address must share it.
   */
  identityKeyPem?: string;
  /** SQLite file; default in memory. */
  dbPath?: string;
  /**
   * What the hub keeps of each data frame (hub/README.md, "Storage modes"). `rows` (default):
   * the frame and its derived rows (alarms, samples, events, ...). `seqs-only`: no data rows,
   * only each stream's received seqs (and reported gaps): frames are decoded, de-duplicated and
   * acknowledged after that state commits, and reach nothing but the `stored` event.
   */
  dataMode?: DataMode;
  hubId?: string;
  heartbeatMs?: number;
  handshakeTimeoutMs?: number;
  /** A TLS handshake that has not finished after this long is dropped. Default 10 s. */
  tlsHandshakeTimeoutMs?: number;
  /** Largest frame accepted from a device. Default 256 KiB. */
  maxFrameBytes?: number;
  /**
   * Records per RecordBatch frame the hub accepts, offered to agents in HubAuth (each frame
   * still at most `maxFrameBytes`). Default 256; 0: agents send one record per frame.
   */
  maxBatchRecords?: number;
  /**
   * After the hub closes a tunnel (replaced, revoked, protocol error, redirect), how long the
   * agent may take to answer the close before the hub cuts the connection. Without it a dead
   * path keeps its session for ws's default of 30 s. Default 2000.
   */
  closeTimeoutMs?: number;
  /**
   * Admission control: while this many connections are not yet authenticated tunnels (TLS or
   * inner handshake in progress, or a plain HTTP request), a new connection is reset at once,
   * before any TLS work, and the agent retries after its backoff. Under a reconnect storm this
   * keeps the hub working on handshakes that can still finish in time instead of queueing
   * thousands that their agents abandon at their deadline. Default 256; 0 disables it.
   */
  maxPendingHandshakes?: number;
  /**
   * On close(), every connected agent is told to come back after a random delay (the
   * come-back-later frame), spread so that the fleet returns at about this many agents per
   * second rather than all within the first backoff window. Default 200: below what one node
   * sustains (225–295 full handshakes/s per core measured, docs/benchmarks.md), so the returning
   * fleet never queues behind itself; at 250/s, 10 000 agents arrived faster than a node on a
   * shared core served them and the last came back 24 s after the spread ended. Arrivals above
   * what it can serve are shed by `maxPendingHandshakes` and retry after their backoff. 0 closes
   * without it.
   */
  restartSpreadPerSecond?: number;
  /** Upper bound of that spread, ms. Default 120 000. */
  restartSpreadMaxMs?: number;
  /**
   * The window each agent is told (HubAuth.reconnect_spread_ms) to spread its first reconnect
   * over when its tunnel is lost without notice, as when this node crashes. Default: the
   * fleet (devices with an active identity key, or the tunnels open if more) divided by
   * `restartSpreadPerSecond`, at most `restartSpreadMaxMs`: the same pace as a planned
   * restart, announced in advance because a crashed node cannot announce it. 0: agents use
   * their own backoff alone.
   */
  reconnectSpreadMs?: number;
  now?: () => number;
  /**
   * Called after each durable commit of data frames, once per stream in it, before the ack is
   * sent. A test seam (the fault suite kills the hub here); keep it cheap.
   */
  onCommitted?: (deviceId: string, ackedUpTo: number) => void;
}

export interface HubEvents {
  /**
   * A data frame was durably stored (not emitted for duplicates). With `dataMode: 'seqs-only'`:
   * accepted (its seq committed), and this event is the only place the frame goes.
   */
  stored: [event: { deviceId: string; frame: Frame; storedAtMs: number; samples: number }];
  duplicate: [event: { deviceId: string; seq: number }];
  'protocol-error': [event: { deviceId: string; code: string; message: string }];
  'tls-error': [event: { code: string; message: string; remote: string | null }];
  'upgrade-refused': [event: { status: number; reason: string; remote: string }];
  /** A device asked for a new certificate over its tunnel (see hub/credentials.ts). */
  renew: [
    session: DeviceSession,
    request: Extract<Frame, { type: 'renewCredential' }>['renewCredential'],
  ];
  connected: [deviceId: string];
  disconnected: [event: { deviceId: string; code: number }];
}

export interface HubStats {
  connectedDevices: number;
  framesStored: number;
  duplicatesDropped: number;
  protocolErrors: number;
  tlsErrors: number;
  upgradesRefused: number;
  /** Durable group commits of data frames, and the frames (and gaps) they held. */
  commits: number;
  committedItems: number;
  /** Connections reset by admission control (see `maxPendingHandshakes`). */
  connectionsShed: number;
}

export const TUNNEL_PATH = '/v1/tunnel';

/** How often the fleet behind the reconnect spread is recounted in the store. */
const FLEET_RECOUNT_MS = 10_000;

type DeviceKeyEntry = { key: KeyObject; status: 'active' | 'revoked' };

/** Extra HTTP routes (enrolment); return false to fall through to 404. */
export type HttpRoute = (
  req: IncomingMessage,
  res: ServerResponse,
  socket: TLSSocket | Socket,
) => boolean;

/**
 * The reference hub node: HTTPS (TLS 1.3) asking for a client certificate from its device CA,
 * a WebSocket tunnel endpoint on {@link TUNNEL_PATH}, and a SQLite store. A device gets in only
 * with a verified certificate naming it AND a handshake signed by its registered identity key
 * (bound to this TLS session); behind a TLS-terminating load balancer, by the handshake alone.
 * A device that misbehaves is disconnected without disturbing the others.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly store: HubStore;
  readonly identity: HubIdentity;
  readonly #server: HttpServer;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<string, DeviceSession>();
  readonly #all = new Set<DeviceSession>();
  readonly #keys = new Map<string, { key: KeyObject; status: 'active' | 'revoked' }>();
  readonly #routes: HttpRoute[] = [];
  readonly #sockets = new Set<Socket>();
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #o: Required<
    Omit<HubOptions, 'dbPath' | 'tls' | 'identityKeyPem' | 'onCommitted' | 'reconnectSpreadMs'>
  > &
    Pick<HubOptions, 'tls' | 'reconnectSpreadMs'>;
  readonly #commits: CommitQueue;
  #stats: HubStats = {
    connectedDevices: 0,
    framesStored: 0,
    duplicatesDropped: 0,
    protocolErrors: 0,
    tlsErrors: 0,
    upgradesRefused: 0,
    commits: 0,
    committedItems: 0,
    connectionsShed: 0,
  };
  /** Raw sockets reset by admission control, so their TLS hang-up is not logged as a refusal. */
  readonly #shed = new WeakSet<Socket>();
  #shedLogged = 0;
  #shedTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;

  /** Cached size of the fleet for the reconnect spread, and when it was counted. */
  #fleet = { devices: 0, countedMs: Number.NEGATIVE_INFINITY };

  private constructor(options: HubOptions) {
    super();
    this.#o = {
      host: '127.0.0.1',
      port: 0,
      hubId: 'outpost-hub',
      heartbeatMs: 30_000,
      handshakeTimeoutMs: 10_000,
      tlsHandshakeTimeoutMs: 10_000,
      maxFrameBytes: MAX_FRAME_BYTES,
      maxBatchRecords: 256,
      dataMode: 'rows',
      closeTimeoutMs: 2000,
      maxPendingHandshakes: 256,
      restartSpreadPerSecond: 200,
      restartSpreadMaxMs: 120_000,
      now: Date.now,
      tlsTerminatedUpstream: false,
      allowTls12: false,
      ...options,
    };
    this.store = new HubStore(options.dbPath, { data: this.#o.dataMode });
    this.#commits = new CommitQueue(this.store, { onCommitted: options.onCommitted });
    this.identity = loadIdentity(this.store, options.identityKeyPem);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void =>
      this.#onRequest(req, res);
    if (this.#o.tlsTerminatedUpstream) {
      this.#server = createHttpServer(onRequest);
    } else {
      const tls = options.tls;
      if (!tls)
        throw new TypeError(
          'hub: `tls` (cert, key, device CA) is required unless tlsTerminatedUpstream',
        );
      this.#server = createHttpsServer(
        {
          cert: tls.cert,
          key: tls.key,
          ca: tls.ca,
          // Ask every client for a certificate but let TLS finish without one: enrolment (a
          // device with no certificate yet) uses this listener too. The tunnel refuses any
          // connection whose certificate did not verify.
          requestCert: true,
          rejectUnauthorized: false,
          handshakeTimeout: this.#o.tlsHandshakeTimeoutMs,
          ...(this.#o.allowTls12 ? HUB_TLS12_POLICY : HUB_TLS_POLICY),
        },
        onRequest,
      );
      this.#server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
        if (this.#closed) return;
        // `_parent` (undocumented) is the raw socket a server TLSSocket wraps; without it a shed
        // connection is merely logged as a hang-up.
        const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
        if (raw && this.#shed.has(raw)) return;
        this.#stats.tlsErrors++;
        const remote = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : null;
        const code = err.code ?? 'TLS_ERROR';
        this.store.recordSecurityEvent({
          atMs: this.#o.now(),
          kind: 'tls-refused',
          deviceId: null,
          remote,
          detail: `${code}: ${err.message}`,
        });
        this.emit('tls-error', { code, message: err.message, remote });
      });
    }
    this.#server.on('connection', (socket: Socket) => {
      const limit = this.#o.maxPendingHandshakes;
      // Connections that are not (yet) authenticated tunnels: TLS or inner handshake under way.
      if (limit > 0 && this.#sockets.size - this.#sessions.size >= limit) {
        this.#shedConnection(socket);
        return;
      }
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // `closeTimeout` (ws 8.23) is not in @types/ws yet: ws destroys the socket of a tunnel
    // it closed once this long has passed without the peer's close frame.
    const wsOptions: ServerOptions & { closeTimeout: number } = {
      noServer: true,
      maxPayload: this.#o.maxFrameBytes,
      perMessageDeflate: false,
      closeTimeout: this.#o.closeTimeoutMs,
    };
    this.#wss = new WebSocketServer(wsOptions);
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
  }

  static async start(options: HubOptions): Promise<Hub> {
    const hub = new Hub(options);
    await new Promise<void>((resolve, reject) => {
      hub.#server.once('error', reject);
      // A deep accept queue: after a restart a fleet's connections arrive faster than they are
      // accepted, and a SYN dropped by a full queue costs its agent a 1 s+ kernel retransmit.
      hub.#server.listen({ port: hub.#o.port, host: hub.#o.host, backlog: 4096 }, () => {
        hub.#server.off('error', reject);
        resolve();
      });
    });
    hub.#startHeartbeat();
    return hub;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The URL agents dial (behind a load balancer, agents dial the balancer instead). */
  get url(): string {
    const host = this.#o.host.includes(':') ? `[${this.#o.host}]` : this.#o.host;
    return `${this.#o.tlsTerminatedUpstream ? 'ws' : 'wss'}://${host}:${this.port}${TUNNEL_PATH}`;
  }

  /** The hub's Ed25519 public key, for agents to pin. */
  get identityPublicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  stats(): HubStats {
    const c = this.#commits.stats;
    return {
      ...this.#stats,
      connectedDevices: this.#sessions.size,
      commits: c.commits,
      committedItems: c.items,
    };
  }

  isConnected(deviceId: string): boolean {
    return this.#sessions.get(deviceId)?.open ?? false;
  }

  /** The open session of a device, if connected. */
  session(deviceId: string): DeviceSession | undefined {
    const s = this.#sessions.get(deviceId);
    return s?.open ? s : undefined;
  }

  /**
   * The reconnect spread announced in HubAuth (see `HubOptions.reconnectSpreadMs`). The fleet
   * is counted in the store at most every 10 s; the open tunnels are counted live.
   */
  reconnectSpreadMs(): number {
    if (this.#o.reconnectSpreadMs !== undefined) return this.#o.reconnectSpreadMs;
    const rate = this.#o.restartSpreadPerSecond;
    if (rate <= 0) return 0;
    const now = performance.now();
    if (now - this.#fleet.countedMs >= FLEET_RECOUNT_MS) {
      try {
        this.#fleet = { devices: this.store.activeDeviceCount(), countedMs: now };
      } catch {
        // A store that cannot count (it failed and stopped) keeps the last count.
        this.#fleet.countedMs = now;
      }
    }
    const fleet = Math.max(this.#fleet.devices, this.#sessions.size);
    return Math.round(Math.min(this.#o.restartSpreadMaxMs, (1000 * fleet) / rate));
  }

  /** Registers a device's Ed25519 identity key (factory provisioning or enrolment). */
  registerDevice(deviceId: string, identityPublicKey: Uint8Array): void {
    const key = ed25519PublicKey(identityPublicKey);
    this.store.registerDeviceKey(deviceId, identityPublicKey, this.#o.now());
    this.#keys.set(deviceId, { key, status: 'active' });
    this.#fleet.countedMs = Number.NEGATIVE_INFINITY;
    this.store.recordSecurityEvent({
      atMs: this.#o.now(),
      kind: 'device-registered',
      deviceId,
      remote: null,
      detail: 'identity key registered',
    });
  }

  /**
   * Revokes a device: its live tunnel is closed at once and every later handshake is refused.
   * Returns false if the device was never registered.
   */
  revokeDevice(deviceId: string, reason = 'revoked by an operator'): boolean {
    const known = this.store.revokeDevice(deviceId, this.#o.now());
    this.#keys.delete(deviceId);
    this.#fleet.countedMs = Number.NEGATIVE_INFINITY;
    this.store.recordSecurityEvent({
      atMs: this.#o.now(),
      kind: 'device-revoked',
      deviceId,
      remote: null,
      detail: reason,
    });
    for (const s of this.#all)
      if (s.deviceId === deviceId) s.close(CLOSE.REVOKED, 'OUTPOST_DEVICE_REVOKED');
    return known;
  }

  /** Asks a connected device to reconnect to `url` (or here, when empty) after `retryAfterMs`. */
  redirect(
    deviceId: string,
    url: string,
    retryAfterMs: number,
    reason = 'load balancing',
  ): boolean {
    return this.session(deviceId)?.redirect(url, retryAfterMs, reason) ?? false;
  }

  /** Sends a command to a connected device. */
  sendCommand(
    deviceId: string,
    command: {
      commandId: string;
      name: string;
      args?: Record<string, string>;
      expiresAtMs: number;
    },
  ): boolean {
    return this.session(deviceId)?.sendCommand(command) ?? false;
  }

  /** Sends a control body (e.g. RotateNow) to a connected device. */
  sendControl(deviceId: string, body: Body): boolean {
    return this.session(deviceId)?.sendControl(body) ?? false;
  }

  /** Adds an HTTP route (tried in order before the 404). */
  route(handler: HttpRoute): void {
    this.#routes.push(handler);
  }

  /**
   * Shuts the node down. Connected agents are first told to come back later, each after its own
   * random delay (see `restartSpreadPerSecond`), so that a restarted hub sees its fleet return
   * at a rate it can serve; they close their tunnels on receipt. Whatever is still open after
   * `graceMs` (default 1 s) is cut. `comeBackLater: false` cuts every tunnel at once, as a crash
   * would, and agents fall back on their own backoff.
   */
  close(options: { comeBackLater?: boolean; graceMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.comeBackLater ?? true, options.graceMs ?? 1000);
    return this.#closing;
  }

  async #close(comeBackLater: boolean, graceMs: number): Promise<void> {
    this.#closed = true;
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    if (this.#shedTimer) clearTimeout(this.#shedTimer);
    // Stop listening at once: a replacement node can bind the port while agents leave.
    const listening = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const open = [...this.#sessions.values()].filter((s) => s.open);
    const rate = this.#o.restartSpreadPerSecond;
    if (comeBackLater && rate > 0 && open.length > 0) {
      const spreadMs = Math.min(this.#o.restartSpreadMaxMs, (1000 * open.length) / rate);
      for (const s of open)
        s.redirect('', Math.floor(Math.random() * spreadMs), 'hub restarting', false);
      const deadline = Date.now() + graceMs;
      while (this.#sessions.size > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
    }
    // Every connection, tunnels and sockets still in the TLS handshake alike (the latter are not
    // reached by closeAllConnections()). No close frame can follow on a destroyed socket, so
    // none is built: that was about a third of close()'s CPU with 2 000 tunnels.
    for (const socket of this.#sockets) socket.destroy();
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await listening;
    this.#commits.close(); // what arrived is stored (not acked: the agents resend, it de-duplicates)
    await this.#commits.drain(); // and durable (its WAL fsync ends) before the store closes
    this.store.close();
  }

  /** Resets a connection before any TLS work; audited as one summary event per second. */
  #shedConnection(socket: Socket): void {
    this.#stats.connectionsShed++;
    this.#shed.add(socket);
    socket.resetAndDestroy();
    this.#shedTimer ??= setTimeout(() => {
      this.#shedTimer = undefined;
      const n = this.#stats.connectionsShed - this.#shedLogged;
      this.#shedLogged = this.#stats.connectionsShed;
      this.store.recordSecurityEvent({
        atMs: this.#o.now(),
        kind: 'load-shed',
        deviceId: null,
        remote: null,
        detail: `${n} connection(s) reset before TLS: ${this.#o.maxPendingHandshakes} handshakes already in progress`,
      });
    }, 1000).unref();
  }

  /**
   * One heartbeat sweep for every tunnel (not a timer per session): four times per interval,
   * each open session that has not been pinged for an interval is pinged, and one silent for
   * two intervals is cut as a dead peer.
   */
  #startHeartbeat(): void {
    const every = Math.max(1, Math.floor(this.#o.heartbeatMs / 4));
    this.#heartbeatTimer = setInterval(() => {
      const now = this.#o.now();
      for (const s of this.#sessions.values()) s.heartbeat(now);
    }, every);
    this.#heartbeatTimer.unref();
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, connectedDevices: this.#sessions.size }));
      return;
    }
    for (const r of this.#routes) if (r(req, res, req.socket as TLSSocket | Socket)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const refuse = (status: number, reason: string, detail: string): void => {
      this.#stats.upgradesRefused++;
      this.store.recordSecurityEvent({
        atMs: this.#o.now(),
        kind: 'upgrade-refused',
        deviceId: null,
        remote,
        detail: `${status}: ${detail}`,
      });
      this.emit('upgrade-refused', { status, reason: detail, remote });
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (new URL(req.url ?? '/', 'https://hub').pathname !== TUNNEL_PATH)
      return refuse(404, 'Not Found', `no tunnel at ${req.url ?? ''}`);
    if (this.#o.tlsTerminatedUpstream) {
      this.#wss.handleUpgrade(req, socket, head, (ws) =>
        this.#attach(ws, undefined, TERMINATED_UPSTREAM_MARKER, 2, remote),
      );
      return;
    }
    const tls = socket as TLSSocket;
    // getPeerCertificate(), not getPeerX509Certificate(): the latter copies the certificate,
    // and with OpenSSL 3.0 decoding its public key again costs about 0.15 ms per connection
    // (0.27 against 0.12 ms on a fresh socket here; docs/benchmarks.md).
    const peer = tls.getPeerCertificate();
    if (!tls.authorized) {
      const why = peer?.subject ? String(tls.authorizationError) : 'no client certificate';
      return refuse(401, 'Unauthorized', `client certificate refused: ${why}`);
    }
    const deviceId = deviceIdFromCertificate(peer);
    if (!deviceId) return refuse(403, 'Forbidden', 'client certificate names no valid device id');
    const acceptUntil = this.store.certificateAcceptUntil(peer.fingerprint256);
    if (acceptUntil !== undefined && acceptUntil < this.#o.now()) {
      return refuse(
        401,
        'Unauthorized',
        `client certificate of ${deviceId} was superseded by a rotation and its overlap window has ended`,
      );
    }
    const binding = tlsExporter(tls);
    // The 101 response and the Hello leave in one write (one TLS record, one syscall).
    socket.cork();
    this.#wss.handleUpgrade(req, socket, head, (ws) =>
      this.#attach(ws, deviceId, binding, 1, remote),
    );
    process.nextTick(() => socket.uncork());
  }

  #deviceKey(deviceId: string): DeviceKeyEntry | undefined {
    const cached = this.#keys.get(deviceId);
    if (cached) return cached;
    const row = this.store.deviceKey(deviceId);
    if (!row) return undefined;
    if (row.status === 'revoked')
      return { key: ed25519PublicKey(row.publicKey), status: 'revoked' };
    const entry = { key: ed25519PublicKey(row.publicKey), status: row.status };
    this.#keys.set(deviceId, entry);
    return entry;
  }

  readonly #deviceKeyOf = (id: string): DeviceKeyEntry | undefined => this.#deviceKey(id);
  readonly #reconnectSpreadOf = (): number => this.reconnectSpreadMs();

  /** One set of session callbacks shared by every session (nothing per tunnel). */
  readonly #events: SessionEvents = {
    stored: (id, frame, storedAtMs, samples) => {
      this.#stats.framesStored++;
      this.emit('stored', { deviceId: id, frame, storedAtMs, samples });
    },
    duplicate: (id, seq) => {
      this.#stats.duplicatesDropped++;
      this.emit('duplicate', { deviceId: id, seq });
    },
    protocolError: (s, code, message) => {
      this.#stats.protocolErrors++;
      this.store.recordSecurityEvent({
        atMs: this.#o.now(),
        kind: 'protocol-error',
        deviceId: s.deviceId || null,
        remote: s.remote,
        detail: `${code}: ${message}`,
      });
      this.emit('protocol-error', { deviceId: s.deviceId, code, message });
    },
    renew: (s, request) => this.emit('renew', s, request),
    opened: (s) => {
      const previous = this.#sessions.get(s.deviceId);
      if (previous && previous !== s)
        previous.close(CLOSE.REPLACED, 'replaced by a newer connection');
      this.#sessions.set(s.deviceId, s);
      this.emit('connected', s.deviceId);
    },
    closed: (s, code) => {
      this.#all.delete(s);
      if (this.#sessions.get(s.deviceId) === s) {
        this.#sessions.delete(s.deviceId);
        this.emit('disconnected', { deviceId: s.deviceId, code });
      }
    },
  };

  #attach(
    ws: WebSocket,
    certDeviceId: string | undefined,
    binding: Uint8Array,
    bindingKind: 1 | 2,
    remote: string,
  ): void {
    const session = new DeviceSession({
      ws,
      certDeviceId,
      binding,
      bindingKind,
      identity: this.identity,
      deviceKey: this.#deviceKeyOf,
      remote,
      hubId: this.#o.hubId,
      store: this.store,
      commits: this.#commits,
      heartbeatMs: this.#o.heartbeatMs,
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
      maxFrameBytes: this.#o.maxFrameBytes,
      reconnectSpreadMs: this.#reconnectSpreadOf,
      maxBatchRecords: this.#o.maxBatchRecords,
      now: this.#o.now,
      events: this.#events,
    });
    this.#all.add(session);
  }
}

function loadIdentity(store: HubStore, pem: string | undefined): HubIdentity {
  if (pem) return HubIdentity.fromPem(pem);
  const kept = store.setting('hub_identity_pem');
  if (kept) return HubIdentity.fromPem(kept);
  const fresh = HubIdentity.generate();
  store.setSetting('hub_identity_pem', fresh.toPem());
  return fresh;
}

export function startHub(options: HubOptions): Promise<Hub> {
  return Hub.start(options);
}
