/**
 * Helper process of the tunnel benches (started by `Child.spawn` in bench/tunnel-kit.ts, never
 * by hand): either a load generator holding many agent-side tunnels, or a server under test
 * (the hub, or a plain ws/wss server for reference). It answers typed requests over the IPC
 * channel and exits when the parent disconnects.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContext } from 'node:tls';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { Hub } from '../hub/server.js';
import { HUB_TLS_POLICY } from '../hub/tls-policy.js';
import { decodeFrame } from '../src/codec/index.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/tunnel/backoff.js';
import type { DeviceIdentity } from '../src/tunnel/identity.js';
import { serveRpc } from './child-rpc.js';
import { nowNs } from './lib.js';
import {
  agentIdentity,
  closeTunnel,
  dial,
  DialError,
  issueDevices,
  nodeIdentity,
  prebuiltContext,
  sequentialHandshakes,
  sleep,
  type ChildOp,
  type ChildOps,
  type ClientCrypto,
  type FleetDevice,
  type ServerKind,
  type Target,
} from './tunnel-kit.js';

/** Safety bounds of the connect/handshake/close loops (the parent stops them much earlier). */
const LOOP_MAX_SECONDS = 180;
const LOOP_MAX_HANDSHAKES = 200_000;
/** Safety bound of reconnect attempts after one drop (at the 60 s cap, about an hour). */
const MAX_RECONNECT_ATTEMPTS = 60;

// ---------------------------------------------------------------------------------------------
// Fleet: many long-lived tunnels, reconnecting with the agent's backoff when dropped

interface FleetClient {
  device: FleetDevice;
  identity: DeviceIdentity | undefined;
  context: SecureContext | undefined;
  ws: WebSocket | undefined;
  /** Closed by fleet-close: no reconnect. */
  retired: boolean;
  /** The agent's retry counter: reset when HubAuth verifies. */
  attempt: number;
  /** Set by a come-back-later (Redirect) frame: the delay before the next attempt. */
  redirectMs: number | undefined;
  /** HubAuth.reconnect_spread_ms of the last tunnel, and the floor of the current window. */
  announcedSpreadMs: number;
  spreadMs: number;
  downAtMs: number;
  triesSinceDown: number;
  timer: NodeJS.Timeout | undefined;
}

const fleet: FleetClient[] = [];
let fleetTarget: Target | undefined;
let fleetCrypto: ClientCrypto = 'fast';
let fleetReconnect = false;
const storm = {
  dropped: 0,
  /** Tunnels the hub closed with a come-back-later frame. */
  redirected: 0,
  recovered: 0,
  reconnectMs: [] as number[],
  attempts: [] as number[],
  failures: {} as Record<string, number>,
};

function count(into: Record<string, number>, err: unknown): void {
  const reason = err instanceof DialError ? err.reason : 'error';
  into[reason] = (into[reason] ?? 0) + 1;
}

async function openTunnel(c: FleetClient): Promise<void> {
  const target = fleetTarget!;
  c.identity ??=
    fleetCrypto === 'agent' ? agentIdentity(c.device.seed) : nodeIdentity(c.device.seed);
  c.context ??= prebuiltContext(target, c.device);
  const { ws, reconnectSpreadMs } = await dial({
    target,
    device: c.device,
    identity: c.identity,
    crypto: fleetCrypto,
    secureContext: c.context,
  });
  c.ws = ws;
  c.attempt = 0;
  c.announcedSpreadMs = reconnectSpreadMs;
  c.spreadMs = 0;
  ws.on('close', () => onDrop(c, ws));
  // Like TunnelClient: a Redirect with no URL means "come back after retryAfterMs"; the agent
  // closes the tunnel itself and waits that long instead of its backoff delay.
  ws.on('message', (data: Buffer) => {
    let frame;
    try {
      frame = decodeFrame(data);
    } catch {
      return;
    }
    if (frame.type !== 'redirect' || (frame.redirect.url ?? '') !== '') return;
    c.redirectMs = frame.redirect.retryAfterMs ?? 0;
    storm.redirected++;
    ws.close(1000, 'redirected');
  });
}

function onDrop(c: FleetClient, ws: WebSocket): void {
  if (c.ws !== ws) return;
  c.ws = undefined;
  if (c.retired || !fleetReconnect) return;
  storm.dropped++;
  // Like TunnelClient: an open tunnel lost without a come-back-later frame spreads the return
  // over the window the hub announced in HubAuth.
  c.spreadMs = c.announcedSpreadMs;
  c.downAtMs = performance.now();
  c.triesSinceDown = 0;
  scheduleReconnect(c);
}

/**
 * TunnelClient#scheduleReconnect: the come-back-later delay if the hub gave one, otherwise
 * backoffDelay(attempt++), base 1 s, cap 60 s, full jitter, the window at least the spread the
 * hub announced when the tunnel was lost without notice.
 */
function scheduleReconnect(c: FleetClient): void {
  const redirect = c.redirectMs;
  c.redirectMs = undefined;
  const delay = redirect ?? backoffDelay(c.attempt++, DEFAULT_BACKOFF, Math.random, c.spreadMs);
  c.timer = setTimeout(() => {
    c.timer = undefined;
    if (c.retired) return;
    c.triesSinceDown++;
    openTunnel(c).then(
      () => {
        storm.recovered++;
        storm.reconnectMs.push(performance.now() - c.downAtMs);
        storm.attempts.push(c.triesSinceDown);
      },
      (err: unknown) => {
        count(storm.failures, err);
        if (!c.retired && c.triesSinceDown < MAX_RECONNECT_ATTEMPTS) scheduleReconnect(c);
      },
    );
  }, delay);
}

async function fleetConnect(
  r: ChildOps['fleet-connect']['req'],
): Promise<ChildOps['fleet-connect']['res']> {
  if (fleetTarget?.url !== r.target.url || fleetCrypto !== r.crypto) {
    for (const c of fleet) {
      c.identity = undefined;
      c.context = undefined;
    }
  }
  fleetTarget = r.target;
  fleetCrypto = r.crypto;
  fleetReconnect = r.reconnect;
  const start = nowNs();
  const deadline = start + r.maxSeconds * 1e9;
  const queue: Array<{ c: FleetClient; tries: number }> = [];
  for (let i = r.from; i < r.to; i++) {
    const c = fleet[i]!;
    c.retired = false;
    if (!c.ws) queue.push({ c, tries: 0 });
  }
  const failures: Record<string, number> = {};
  let connected = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      if (nowNs() > deadline) {
        failed++;
        continue;
      }
      try {
        await openTunnel(job.c);
        connected++;
      } catch (err) {
        count(failures, err);
        if (++job.tries < 3) queue.push(job);
        else failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: r.concurrency }, worker));
  return { connected, failed, seconds: (nowNs() - start) / 1e9, failures };
}

async function fleetClose(
  r: ChildOps['fleet-close']['req'],
): Promise<ChildOps['fleet-close']['res']> {
  const closing: Array<Promise<void>> = [];
  for (let i = r.from; i < r.to; i++) {
    const c = fleet[i]!;
    c.retired = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    if (c.ws) closing.push(closeTunnel(c.ws));
  }
  await Promise.all(closing);
  return { closed: closing.length };
}

// ---------------------------------------------------------------------------------------------
// Loops: connect -> handshake -> close, repeatedly

const loops = {
  running: false,
  active: 0,
  completed: 0,
  failures: 0,
  latencyMs: [] as number[],
};

async function runLoop(target: Target, device: FleetDevice, crypto: ClientCrypto): Promise<void> {
  const identity = crypto === 'agent' ? agentIdentity(device.seed) : nodeIdentity(device.seed);
  const context = prebuiltContext(target, device);
  const start = nowNs();
  loops.active++;
  try {
    for (let n = 0; n < LOOP_MAX_HANDSHAKES && loops.running; n++) {
      if ((nowNs() - start) / 1e9 > LOOP_MAX_SECONDS) break;
      const t0 = nowNs();
      try {
        const { ws } = await dial({
          target,
          device,
          identity,
          crypto,
          secureContext: context,
          crossCheck: n === 0,
        });
        loops.latencyMs.push((nowNs() - t0) / 1e6);
        loops.completed++;
        await closeTunnel(ws);
      } catch {
        loops.failures++;
        await sleep(50);
      }
    }
  } finally {
    loops.active--;
  }
}

// ---------------------------------------------------------------------------------------------
// Servers under test

let server:
  | { kind: 'hub'; hub: Hub }
  | { kind: 'ws' | 'wss'; http: HttpServer; wss: WebSocketServer; open: Set<WebSocket> }
  | undefined;

async function startServer(
  r: ChildOps['server-start']['req'],
): Promise<ChildOps['server-start']['res']> {
  if (r.kind === 'hub' || r.kind === 'hub-lb') {
    const hub = await Hub.start(
      r.kind === 'hub'
        ? { tls: r.tls, dbPath: r.dbPath }
        : { tlsTerminatedUpstream: true, dbPath: r.dbPath },
    );
    server = { kind: 'hub', hub };
    return { port: hub.port, hubKey: hub.identityPublicKey };
  }
  const kind: Exclude<ServerKind, 'hub' | 'hub-lb'> = r.kind;
  // The reference: a WebSocket server with the hub's transport settings and nothing else.
  const http =
    kind === 'wss'
      ? createHttpsServer({
          cert: r.tls.cert,
          key: r.tls.key,
          ca: r.tls.ca,
          requestCert: true,
          rejectUnauthorized: false,
          ...HUB_TLS_POLICY,
        })
      : createHttpServer();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 256 * 1024,
    perMessageDeflate: false,
  });
  const open = new Set<WebSocket>();
  http.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws);
      ws.on('close', () => open.delete(ws));
      ws.on('error', () => undefined);
    }),
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  server = { kind, http, wss, open };
  return { port: (http.address() as AddressInfo).port, hubKey: null };
}

async function stopServer(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s) return;
  if (s.kind === 'hub') {
    await s.hub.close();
    return;
  }
  for (const ws of s.open) ws.terminate();
  await new Promise<void>((resolve) => s.wss.close(() => resolve()));
  s.http.closeAllConnections();
  await new Promise<void>((resolve) => s.http.close(() => resolve()));
}

async function gcMemory(): Promise<NodeJS.MemoryUsage> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('server-memory needs --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    await sleep(50);
  }
  return process.memoryUsage();
}

// ---------------------------------------------------------------------------------------------
// Dispatch

async function handle(op: ChildOp, req: unknown): Promise<unknown> {
  switch (op) {
    case 'fleet-init': {
      const r = req as ChildOps['fleet-init']['req'];
      const t0 = nowNs();
      const { devices, publicKeys } = await issueDevices(r.ca, r.deviceIds, 16, r.keyType);
      for (const device of devices) {
        fleet.push({
          device,
          identity: undefined,
          context: undefined,
          ws: undefined,
          retired: false,
          attempt: 0,
          redirectMs: undefined,
          announcedSpreadMs: 0,
          spreadMs: 0,
          downAtMs: 0,
          triesSinceDown: 0,
          timer: undefined,
        });
      }
      return { publicKeys, issueMs: (nowNs() - t0) / 1e6 } satisfies ChildOps['fleet-init']['res'];
    }
    case 'fleet-connect':
      return fleetConnect(req as ChildOps['fleet-connect']['req']);
    case 'fleet-report':
      return {
        up: fleet.filter((c) => c.ws !== undefined).length,
        dropped: storm.dropped,
        redirected: storm.redirected,
        recovered: storm.recovered,
        reconnectMs: storm.reconnectMs,
        attempts: storm.attempts,
        failures: storm.failures,
        cpu: process.cpuUsage(),
      } satisfies ChildOps['fleet-report']['res'];
    case 'fleet-close':
      return fleetClose(req as ChildOps['fleet-close']['req']);
    case 'loops-start': {
      const r = req as ChildOps['loops-start']['req'];
      loops.running = true;
      for (const d of r.devices) void runLoop(r.target, d, r.crypto);
      return { loops: r.devices.length } satisfies ChildOps['loops-start']['res'];
    }
    case 'loops-mark': {
      const res = {
        completed: loops.completed,
        failures: loops.failures,
        latencyMs: loops.latencyMs,
        cpu: process.cpuUsage(),
      } satisfies ChildOps['loops-mark']['res'];
      loops.completed = 0;
      loops.failures = 0;
      loops.latencyMs = [];
      return res;
    }
    case 'loops-stop': {
      loops.running = false;
      for (let i = 0; i < 100 && loops.active > 0; i++) await sleep(50);
      return { stopped: loops.active === 0 ? 1 : 0 } satisfies ChildOps['loops-stop']['res'];
    }
    case 'seq-handshakes':
      return sequentialHandshakes(req as ChildOps['seq-handshakes']['req']);
    case 'server-start':
      return startServer(req as ChildOps['server-start']['req']);
    case 'server-count': {
      const s = server;
      const open = !s ? 0 : s.kind === 'hub' ? s.hub.stats().connectedDevices : s.open.size;
      return { open } satisfies ChildOps['server-count']['res'];
    }
    case 'server-memory':
      return { memory: await gcMemory() } satisfies ChildOps['server-memory']['res'];
    case 'server-stop':
      await stopServer();
      return { stopped: true } satisfies ChildOps['server-stop']['res'];
    default:
      throw new Error(`unknown op ${String(op)}`);
  }
}

serveRpc((op, req) => handle(op as ChildOp, req));

process.on('disconnect', () => {
  loops.running = false;
  for (const c of fleet) {
    c.retired = true;
    if (c.timer) clearTimeout(c.timer);
  }
  process.exit(0);
});
