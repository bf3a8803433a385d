import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES, type Frame } from '../src/codec/index.js';
import { deviceIdFromCertificate } from './pki.js';
import { CLOSE, DeviceSession } from './session.js';
import { HubStore } from './store.js';
import { HUB_TLS_POLICY } from './tls-policy.js';

export interface HubOptions {
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port); production uses 443. */
  port?: number;
  tls: {
    /** Hub server certificate and key (PEM). */
    cert: string;
    key: string;
    /** CA bundle that device client certificates must chain to. */
    ca: string | string[];
  };
  /** SQLite file; default in memory. */
  dbPath?: string;
  hubId?: string;
  heartbeatMs?: number;
  handshakeTimeoutMs?: number;
  /** Largest frame accepted from a device. Default 256 KiB. */
  maxFrameBytes?: number;
  now?: () => number;
}

export interface HubEvents {
  /** A data frame was durably stored (not emitted for duplicates). */
  stored: [event: { deviceId: string; frame: Frame; storedAtMs: number; samples: number }];
  duplicate: [event: { deviceId: string; seq: number }];
  'protocol-error': [event: { deviceId: string; code: string; message: string }];
  'tls-error': [event: { code: string; message: string; remote: string | null }];
  connected: [deviceId: string];
  disconnected: [event: { deviceId: string; code: number }];
}

export interface HubStats {
  connectedDevices: number;
  framesStored: number;
  duplicatesDropped: number;
  protocolErrors: number;
  tlsErrors: number;
}

export const TUNNEL_PATH = '/v1/tunnel';

/**
 * The reference hub: an HTTPS server that requires a client certificate from its device CA,
 * a WebSocket tunnel endpoint on {@link TUNNEL_PATH}, and a SQLite store. Devices are
 * identified by their certificate alone; a device that misbehaves is disconnected without
 * disturbing the others.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly store: HubStore;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #sessions = new Map<string, DeviceSession>();
  readonly #all = new Set<DeviceSession>();
  readonly #o: Required<Omit<HubOptions, 'dbPath'>>;
  #stats: HubStats = {
    connectedDevices: 0,
    framesStored: 0,
    duplicatesDropped: 0,
    protocolErrors: 0,
    tlsErrors: 0,
  };

  private constructor(options: HubOptions) {
    super();
    this.#o = {
      host: '127.0.0.1',
      port: 0,
      hubId: 'outpost-hub',
      heartbeatMs: 30_000,
      handshakeTimeoutMs: 10_000,
      maxFrameBytes: MAX_FRAME_BYTES,
      now: Date.now,
      ...options,
    };
    this.store = new HubStore(options.dbPath);
    this.#server = createServer(
      {
        cert: options.tls.cert,
        key: options.tls.key,
        ca: options.tls.ca,
        requestCert: true,
        rejectUnauthorized: true,
        ...HUB_TLS_POLICY,
      },
      (req, res) => {
        if (req.method === 'GET' && req.url === '/healthz') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, connectedDevices: this.#sessions.size }));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found' }));
      },
    );
    this.#server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
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
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.#o.maxFrameBytes,
      perMessageDeflate: false,
    });
    this.#server.on('upgrade', (req, socket, head) => {
      const tls = socket as TLSSocket;
      const remote = `${tls.remoteAddress}:${tls.remotePort}`;
      const refuse = (status: number, reason: string): void => {
        this.store.recordSecurityEvent({
          atMs: this.#o.now(),
          kind: 'upgrade-refused',
          deviceId: null,
          remote,
          detail: reason,
        });
        socket.end(
          `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      };
      if (new URL(req.url ?? '/', 'https://hub').pathname !== TUNNEL_PATH)
        return refuse(404, 'Not Found');
      // rejectUnauthorized already refused unverified peers; this guards a misconfiguration.
      if (!tls.authorized) return refuse(401, 'Unauthorized');
      const deviceId = deviceIdFromCertificate(tls.getPeerCertificate());
      if (!deviceId) return refuse(403, 'Forbidden');
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#attach(ws, deviceId, remote));
    });
  }

  static async start(options: HubOptions): Promise<Hub> {
    const hub = new Hub(options);
    await new Promise<void>((resolve, reject) => {
      hub.#server.once('error', reject);
      hub.#server.listen(hub.#o.port, hub.#o.host, () => {
        hub.#server.off('error', reject);
        resolve();
      });
    });
    return hub;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The URL agents dial. */
  get url(): string {
    const host = this.#o.host.includes(':') ? `[${this.#o.host}]` : this.#o.host;
    return `wss://${host}:${this.port}${TUNNEL_PATH}`;
  }

  stats(): HubStats {
    return { ...this.#stats, connectedDevices: this.#sessions.size };
  }

  isConnected(deviceId: string): boolean {
    return this.#sessions.get(deviceId)?.open ?? false;
  }

  async close(): Promise<void> {
    for (const s of this.#all) s.close(CLOSE.GOING_AWAY, 'hub shutting down');
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.store.close();
  }

  #attach(ws: WebSocket, deviceId: string, remote: string): void {
    const session = new DeviceSession({
      ws,
      deviceId,
      remote,
      hubId: this.#o.hubId,
      store: this.store,
      heartbeatMs: this.#o.heartbeatMs,
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
      maxFrameBytes: this.#o.maxFrameBytes,
      now: this.#o.now,
      events: {
        stored: (id, frame, storedAtMs, samples) => {
          this.#stats.framesStored++;
          this.emit('stored', { deviceId: id, frame, storedAtMs, samples });
        },
        duplicate: (id, seq) => {
          this.#stats.duplicatesDropped++;
          this.emit('duplicate', { deviceId: id, seq });
        },
        protocolError: (id, code, message) => {
          this.#stats.protocolErrors++;
          this.store.recordSecurityEvent({
            atMs: this.#o.now(),
            kind: 'protocol-error',
            deviceId: id,
            remote,
            detail: `${code}: ${message}`,
          });
          this.emit('protocol-error', { deviceId: id, code, message });
        },
        opened: (s) => {
          const previous = this.#sessions.get(id(s));
          if (previous && previous !== s)
            previous.close(CLOSE.REPLACED, 'replaced by a newer connection');
          this.#sessions.set(id(s), s);
          this.emit('connected', s.deviceId);
        },
        closed: (s, code) => {
          this.#all.delete(s);
          if (this.#sessions.get(s.deviceId) === s) {
            this.#sessions.delete(s.deviceId);
            this.emit('disconnected', { deviceId: s.deviceId, code });
          }
        },
      },
    });
    this.#all.add(session);
  }
}

function id(s: DeviceSession): string {
  return s.deviceId;
}

export function startHub(options: HubOptions): Promise<Hub> {
  return Hub.start(options);
}
