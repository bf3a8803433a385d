/**
 * Network pieces that sit between an agent and a hub, for the security and liveness tests:
 * a recording hand-driven tunnel client, a WebSocket relay (a man in the middle holding the
 * hub's TLS key and a device's TLS certificate), a TLS-terminating "load balancer", and a
 * plain TCP relay that can be switched to a black hole. Loopback only.
 */
import { createServer as createHttpsServer } from 'node:https';
import {
  connect as netConnect,
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeFrame, encodeFrame, type Body, type Frame } from '../src/codec/index.js';
import { AgentHandshake } from '../src/tunnel/handshake.js';
import { ed25519Identity } from '../src/tunnel/identity.js';

/** TLS material for a client connection. */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface Received {
  raw: Buffer;
  frame: Frame;
}

/**
 * A hand-driven tunnel connection that records every message it sends, byte for byte, and
 * every frame it receives with its raw bytes (the handshake signs exact bytes).
 */
export interface TunnelProbe {
  ws: WebSocket;
  /** The TLS session under the WebSocket (what the TLS exporter binds to). */
  socket: TLSSocket | undefined;
  received: Received[];
  /** Exact bytes of every message sent. */
  sent: Uint8Array[];
  closed: Promise<{ code: number; reason: string }>;
  /** The first received frame of `type` not yet taken; throws after `timeoutMs`. */
  next(type: Frame['type'], timeoutMs?: number): Promise<Received>;
  send(seq: number, body: Body): void;
  /** Sends bytes as a binary message, or a string as a text message. */
  sendRaw(data: Uint8Array | string): void;
  /**
   * Waits for Hello and answers it with a DeviceAuth signed by `identity` (a 64-byte tweetnacl
   * secret key); returns the DeviceAuth bytes sent. Does not wait for HubAuth.
   */
  answerHello(
    identity: Uint8Array,
    options?: { terminatedUpstream?: boolean; streamId?: string },
  ): Promise<Uint8Array>;
  /** The whole handshake: answerHello, then HubAuth checked against `hubIdentityKey`. */
  handshake(
    identity: Uint8Array,
    options?: { terminatedUpstream?: boolean; streamId?: string },
  ): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Opens a WebSocket to `url` (wss:// or ws://) as device `deviceId`, recording traffic. */
export async function openProbe(
  url: string,
  tls: ClientTls | undefined,
  deviceId: string,
  hubIdentityKey: Uint8Array,
): Promise<TunnelProbe> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ...(tls
      ? {
          ca: tls.ca,
          ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
          servername: tls.servername ?? 'localhost',
          minVersion: 'TLSv1.3',
        }
      : {}),
  } as WebSocket.ClientOptions);
  const received: Received[] = [];
  const taken = new Set<number>();
  const sent: Uint8Array[] = [];
  const waiters: Array<() => void> = [];
  let socket: TLSSocket | undefined;
  ws.on('upgrade', (res) => {
    if ('encrypted' in res.socket) socket = res.socket as TLSSocket;
  });
  ws.on('message', (data: Buffer) => {
    try {
      received.push({ raw: data, frame: decodeFrame(data) });
    } catch {
      // Not a frame: the tests only ever look for frames.
    }
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)),
    );
  });
  const rawSend = (data: Uint8Array | string): void => {
    sent.push(typeof data === 'string' ? Buffer.from(data) : Uint8Array.from(data));
    ws.send(data);
  };
  const next = async (type: Frame['type'], timeoutMs = 5000): Promise<Received> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = received.findIndex((r, k) => !taken.has(k) && r.frame.type === type);
      if (i >= 0) {
        taken.add(i);
        return received[i]!;
      }
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  let handshake: AgentHandshake | undefined;
  const answerHello: TunnelProbe['answerHello'] = async (identity, options = {}) => {
    handshake = new AgentHandshake({
      deviceId,
      agentVersion: 'probe',
      streamId: options.streamId ?? `probe-${Date.now().toString(36)}`,
      identity: ed25519Identity(identity),
      hubIdentityKey,
      socket,
      terminatedUpstream: options.terminatedUpstream ?? false,
      now: Date.now,
    });
    const hello = await next('hello');
    const deviceAuth = handshake.answerHello(hello.raw);
    rawSend(deviceAuth);
    return deviceAuth;
  };
  return {
    ws,
    get socket() {
      return socket;
    },
    received,
    sent,
    closed,
    next,
    send: (seq, body) => rawSend(encodeFrame({ deviceId, seq, sentAtMs: Date.now() }, body)),
    sendRaw: rawSend,
    answerHello,
    handshake: async (identity, options) => {
      const deviceAuth = await answerHello(identity, options);
      const hubAuth = await next('hubAuth');
      if (hubAuth.frame.type !== 'hubAuth' || !handshake) throw new Error('no HubAuth');
      handshake.verifyHubAuth(hubAuth.raw, hubAuth.frame);
      return deviceAuth;
    },
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
      ws.terminate();
    },
  };
}

/** Close statuses a peer may send (1005, 1006 and 1015 only ever describe what happened). */
function sendableCloseCode(code: number): number {
  return code === 1005 || code === 1006 || code === 1015 ? 1000 : code;
}

export interface WsRelay {
  /** `wss://127.0.0.1:<port>/v1/tunnel` */
  url: string;
  port: number;
  /** Agent connections accepted. */
  connections: number;
  /** Binary messages carried towards the hub and towards the agent. */
  toHub: number;
  toAgent: number;
  /** Close statuses the hub sent on the relayed connections. */
  hubCloses: number[];
  close(): Promise<void>;
}

/**
 * A man in the middle at the WebSocket layer. It serves TLS with the hub's own certificate and
 * key (so a real agent trusts it) and, for each agent connection, opens its own connection to
 * the real hub with a device's client certificate, then copies every message both ways,
 * unchanged. It holds no identity key of either side.
 */
export async function startWsRelay(o: {
  upstreamUrl: string;
  /** The hub's server certificate and key (stolen). */
  server: { certPem: string; keyPem: string };
  /** A device's client certificate and key (stolen), and the CA to trust the hub by. */
  client: ClientTls;
}): Promise<WsRelay> {
  const https = createHttpsServer({
    cert: o.server.certPem,
    key: o.server.keyPem,
    minVersion: 'TLSv1.3',
  });
  const wss = new WebSocketServer({ server: https, perMessageDeflate: false });
  const upstreams = new Set<WebSocket>();
  const relay: WsRelay = {
    url: '',
    port: 0,
    connections: 0,
    toHub: 0,
    toAgent: 0,
    hubCloses: [],
    close: async () => {
      for (const u of upstreams) u.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      https.closeAllConnections();
      await new Promise<void>((r) => https.close(() => r()));
    },
  };
  wss.on('connection', (agent) => {
    relay.connections++;
    const hub = new WebSocket(o.upstreamUrl, {
      ca: o.client.ca,
      cert: o.client.cert,
      key: o.client.key,
      servername: o.client.servername ?? 'localhost',
      perMessageDeflate: false,
    } as WebSocket.ClientOptions);
    upstreams.add(hub);
    const pending: Array<{ data: Buffer; isBinary: boolean }> = [];
    agent.on('message', (data: Buffer, isBinary: boolean) => {
      if (hub.readyState === WebSocket.OPEN) {
        relay.toHub++;
        hub.send(data, { binary: isBinary });
      } else pending.push({ data, isBinary });
    });
    hub.on('open', () => {
      for (const m of pending.splice(0)) {
        relay.toHub++;
        hub.send(m.data, { binary: m.isBinary });
      }
    });
    hub.on('message', (data: Buffer, isBinary: boolean) => {
      relay.toAgent++;
      if (agent.readyState === WebSocket.OPEN) agent.send(data, { binary: isBinary });
    });
    hub.on('close', (code, reason) => {
      upstreams.delete(hub);
      relay.hubCloses.push(code);
      if (agent.readyState === WebSocket.OPEN) agent.close(sendableCloseCode(code), reason);
    });
    agent.on('close', (code, reason) => {
      if (hub.readyState === WebSocket.OPEN) hub.close(sendableCloseCode(code), reason);
      else hub.terminate();
    });
    hub.on('error', () => agent.terminate());
    agent.on('error', () => hub.terminate());
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  relay.port = (https.address() as AddressInfo).port;
  relay.url = `wss://127.0.0.1:${relay.port}/v1/tunnel`;
  return relay;
}

export interface Forwarder {
  port: number;
  host: string;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/**
 * Ties two sockets' lifetimes: when one closes, so does the other - unless `carriesCloses()`
 * says the path is dead, in which case the other side learns nothing (no FIN, no RST).
 */
function pair(
  a: Socket,
  b: Socket,
  sockets: Set<Socket>,
  carriesCloses: () => boolean = () => true,
  orphans?: Set<Socket>,
): void {
  sockets.add(a);
  sockets.add(b);
  const ended = (self: Socket, other: Socket) => (): void => {
    self.destroy();
    sockets.delete(self);
    orphans?.delete(self);
    if (carriesCloses()) {
      other.destroy();
      sockets.delete(other);
    } else if (!other.destroyed) {
      orphans?.add(other);
    }
  };
  a.on('error', ended(a, b)).on('close', ended(a, b));
  b.on('error', ended(b, a)).on('close', ended(b, a));
}

async function listen(server: NetServer, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

function closer(server: NetServer, sockets: Set<Socket>): () => Promise<void> {
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
}

/**
 * A TLS-terminating load balancer: TLS 1.3 with the hub's server certificate (no client
 * certificate asked for), then the decrypted bytes piped as they are to `targetPort`.
 */
export async function startTlsTerminator(o: {
  cert: string;
  key: string;
  targetPort: number;
  targetHost?: string;
}): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const f: Forwarder = { port: 0, host: '127.0.0.1', connections: 0, close: async () => {} };
  const server = createTlsServer(
    { cert: o.cert, key: o.key, minVersion: 'TLSv1.3' },
    (front: TLSSocket) => {
      f.connections++;
      const back = netConnect(o.targetPort, o.targetHost ?? '127.0.0.1');
      pair(front, back, sockets);
      front.pipe(back).pipe(front);
    },
  );
  server.on('tlsClientError', () => undefined);
  f.port = await listen(server, f.host);
  f.close = closer(server, sockets);
  return f;
}

export interface TcpRelay extends Forwarder {
  /**
   * Black hole: while on, bytes in either direction on every connection (open or new) are
   * dropped and no close crosses the relay, as when a NAT mapping or a path silently dies.
   */
  blackhole(on: boolean): void;
}

/** A plain TCP relay to `targetPort`, listening on `host` (any 127/8 address). */
export async function startTcpRelay(o: {
  targetPort: number;
  targetHost?: string;
  host?: string;
}): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  /** Sockets whose partner closed while the path was dead: they learn of it when it heals. */
  const orphans = new Set<Socket>();
  let holed = false;
  const server = createNetServer((front) => {
    relay.connections++;
    const back = netConnect(o.targetPort, o.targetHost ?? '127.0.0.1');
    pair(front, back, sockets, () => !holed, orphans);
    front.on('data', (d: Buffer) => {
      if (!holed) back.write(d);
    });
    back.on('data', (d: Buffer) => {
      if (!holed) front.write(d);
    });
  });
  const relay: TcpRelay = {
    port: 0,
    host: o.host ?? '127.0.0.1',
    connections: 0,
    blackhole: (on) => {
      holed = on;
      if (!on) for (const s of orphans) s.destroy();
    },
    close: closer(server, sockets),
  };
  relay.port = await listen(server, relay.host);
  return relay;
}
