/**
 * Shared parts of the tunnel benches (handshake, handshake-rate, reconnect-storm, idle-memory):
 * a throwaway PKI and device fleet, the agent's client-side connection set-up (ws with the
 * TLS options TunnelClient uses, then the signed inner handshake through AgentHandshake), and
 * typed request/response messaging with child processes (bench/tunnel-child.ts), so load
 * generators and the hub under test do not share an event loop.
 *
 * Two client crypto modes:
 * - `agent`: exactly the agent's code: DeviceAuth signed by `ed25519Identity` and HubAuth
 *   checked by `AgentHandshake.verifyHubAuth` (node:crypto since session 3; tweetnacl before).
 * - `fast`: the same bytes on the wire, cheaper for a load generator. `AgentHandshake` still
 *   builds DeviceAuth, but signs through a node:crypto `DeviceIdentity` (Ed25519 is
 *   deterministic: the signature is bit-for-bit the one tweetnacl makes), and HubAuth is
 *   verified with node:crypto over the transcript built by the same codec functions the agent
 *   uses. The hub cannot tell the two apart; only the client's CPU differs.
 */
import { fork } from 'node:child_process';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CpuInfo } from 'node:os';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import {
  issueDeviceCertificateForKey,
  type CertificateAuthority,
  type DeviceKeyType,
} from '../hub/pki.js';
import { HubStore } from '../hub/store.js';
import { RpcChild } from './child-rpc.js';
import {
  BODY_FIELD,
  decodeFrame,
  HUB_AUTH_SIGNATURE_FIELD,
  hubSigningInput,
  rawField,
  TERMINATED_UPSTREAM_MARKER,
  tlsExporter,
  withoutField,
} from '../src/codec/index.js';
import { AgentHandshake } from '../src/tunnel/handshake.js';
import { ed25519Identity, type DeviceIdentity } from '../src/tunnel/identity.js';
import { tlsPolicy } from '../src/tunnel/tls-policy.js';
import { nowNs, quantile, round } from './lib.js';

export type ClientCrypto = 'agent' | 'fast';

/** One simulated device: its client certificate, TLS key and Ed25519 identity seed. */
export interface FleetDevice {
  deviceId: string;
  certPem: string;
  keyPem: string;
  /** Ed25519 seed (32 bytes); the public key is registered at the hub. */
  seed: Uint8Array;
  /** The agent keeps one stream id per spool; one per device here. */
  streamId: string;
}

/** Where and how clients dial. `hubKey: null` = a plain ws/wss server, no inner handshake. */
export interface Target {
  url: string;
  caPem: string;
  servername: string;
  hubKey: Uint8Array | null;
}

export interface SecretPem {
  name: string;
  certPem: string;
  keyPem: string;
}

// ---------------------------------------------------------------------------------------------
// Keys, certificates, registration

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A fresh Ed25519 key (node:crypto keygen; tweetnacl's is ~100x slower). */
export function newEd25519(): { seed: Uint8Array; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    seed: new Uint8Array(pkcs8.subarray(ED25519_PKCS8_PREFIX.length)),
    publicKey: new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length)),
  };
}

export function ed25519PublicKeyOf(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length));
}

/** The device identity the agent uses (secret key = seed || public key). */
export function agentIdentity(seed: Uint8Array): DeviceIdentity {
  const secret = new Uint8Array(64);
  secret.set(seed, 0);
  secret.set(ed25519PublicKeyOf(seed), 32);
  return ed25519Identity(secret);
}

/** The same identity signing through node:crypto (identical signatures, far less CPU). */
export function nodeIdentity(seed: Uint8Array): DeviceIdentity {
  const key = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = ed25519PublicKeyOf(seed);
  return { publicKey, sign: (message) => new Uint8Array(nodeSign(null, message, key)) };
}

export function nodePublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
}

/**
 * Issues device certificates (CN = device id, the real issuer of hub/pki.ts) for TLS keys of
 * `keyType` (Ed25519 by default, as agents generate them). To keep 10 000 certificates
 * affordable, all devices of one call share one TLS key pair: the hub takes the identity from
 * the certificate's CN and the registered Ed25519 key, and the TLS work per handshake does not
 * depend on whether keys are shared.
 */
export async function issueDevices(
  ca: CertificateAuthority,
  deviceIds: readonly string[],
  concurrency = 16,
  keyType: DeviceKeyType = 'ed25519',
): Promise<{ devices: FleetDevice[]; publicKeys: Uint8Array[] }> {
  const { privateKey, publicKey } =
    keyType === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const spkiDer = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const devices: FleetDevice[] = new Array<FleetDevice>(deviceIds.length);
  const publicKeys: Uint8Array[] = new Array<Uint8Array>(deviceIds.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < deviceIds.length) {
      const i = next++;
      const deviceId = deviceIds[i]!;
      const certPem = await issueDeviceCertificateForKey(ca, { deviceId, spkiDer });
      const id = newEd25519();
      devices[i] = { deviceId, certPem, keyPem, seed: id.seed, streamId: `s-${deviceId}` };
      publicKeys[i] = id.publicKey;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, deviceIds.length) }, worker));
  return { devices, publicKeys };
}

/**
 * Registers identity keys straight into the hub's SQLite file in one transaction, before the
 * hub starts (the hub reads keys it has not cached from the store). `Hub.registerDevice` does
 * the same insert plus a security-event row, as two separately committed (fsync'd) statements:
 * about 2.3 ms per device here, 23 s for 10 000.
 */
export function registerKeysInDb(
  dbPath: string,
  entries: ReadonlyArray<{ deviceId: string; publicKey: Uint8Array }>,
): void {
  new HubStore(dbPath).close(); // creates the schema
  const db = new Database(dbPath);
  try {
    const insert = db.prepare(
      `INSERT INTO device_keys (device_id, public_key, status, registered_ms) VALUES (?, ?, 'active', ?)`,
    );
    const now = Date.now();
    db.transaction(() => {
      for (const e of entries) insert.run(e.deviceId, Buffer.from(e.publicKey), now);
    })();
  } finally {
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The client side of one connection

/** The ws options TunnelClient#connect builds (TLS 1.3 only, client certificate, no deflate). */
export function agentWsOptions(
  target: Target,
  device: Pick<FleetDevice, 'certPem' | 'keyPem'>,
  secureContext?: SecureContext,
): WebSocket.ClientOptions & { servername?: string; secureContext?: SecureContext } {
  return {
    ca: target.caPem,
    cert: device.certPem,
    key: device.keyPem,
    servername: target.servername,
    rejectUnauthorized: true,
    ...tlsPolicy(false),
    maxPayload: 256 * 1024,
    perMessageDeflate: false,
    handshakeTimeout: 10_000,
    followRedirects: false,
    ...(secureContext ? { secureContext } : {}),
  };
}

/** One client TLS context built ahead of time, for `secureContext` in the ws/tls options. */
export function prebuiltContext(
  target: Target,
  device: Pick<FleetDevice, 'certPem' | 'keyPem'>,
): SecureContext {
  return tls.createSecureContext({
    ca: target.caPem,
    cert: device.certPem,
    key: device.keyPem,
    ...tlsPolicy(false),
  });
}

/** Milliseconds spent in each step of one connection set-up (client clock). */
export interface Phases {
  /** new WebSocket() to TCP connected (includes building the TLS context when not reused). */
  tcp: number;
  /** TCP connected to TLS finished (client certificate sent, hub certificate verified). */
  tls: number;
  /** TLS finished to the 101 Switching Protocols response. */
  upgrade: number;
  /** WebSocket open to the hub's Hello arriving. */
  hello: number;
  /** AgentHandshake.answerHello: build and sign DeviceAuth. */
  sign: number;
  /** DeviceAuth sent to HubAuth arriving (hub verifies, opens the stream, signs). */
  hubAuth: number;
  /** Checking the hub's signature on HubAuth. */
  verify: number;
  /** new WebSocket() to HubAuth verified. */
  total: number;
}

export interface DialOptions {
  target: Target;
  device: FleetDevice;
  identity: DeviceIdentity;
  crypto: ClientCrypto;
  secureContext?: SecureContext;
  /** Inner-handshake deadline after the WebSocket opens (TunnelClient: 10 s). */
  handshakeTimeoutMs?: number;
  /** Run both HubAuth checks (agent and node:crypto) and fail if they disagree. */
  crossCheck?: boolean;
}

export class DialError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

let hubKeyCache: { raw: Uint8Array; key: KeyObject } | undefined;

/**
 * Opens one tunnel the way the agent does and resolves once HubAuth is verified (or, for a
 * plain server, once the WebSocket is open). On failure the socket is destroyed.
 */
export function dial(
  o: DialOptions,
): Promise<{ ws: WebSocket; phases: Phases; reconnectSpreadMs: number }> {
  const t0 = nowNs();
  let tTcp = 0;
  let tTls = 0;
  let tUpgrade = 0;
  let tOpen = 0;
  let tHello = 0;
  let tSent = 0;
  let signNs = 0;
  const options = agentWsOptions(o.target, o.device, o.secureContext);
  // ws:// = a hub behind a TLS-terminating balancer: the handshake binds to the marker.
  const upstream = o.target.url.startsWith('ws:');
  if (o.target.url.startsWith('wss:')) {
    // ws's own tlsConnect, plus two timestamps.
    const connect = (opts: tls.ConnectionOptions & { path?: string }): TLSSocket => {
      const socket = tls.connect({ ...opts, path: undefined });
      socket.once('connect', () => (tTcp = nowNs()));
      socket.once('secureConnect', () => (tTls = nowNs()));
      return socket;
    };
    options.createConnection = connect as unknown as WebSocket.ClientOptions['createConnection'];
  }
  const ws = new WebSocket(o.target.url, options);
  ws.binaryType = 'nodebuffer';
  let socket: TLSSocket | undefined;
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const fail = (reason: string, message: string): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.on('error', () => undefined);
      ws.terminate();
      reject(new DialError(reason, message));
    };
    const done = (): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.removeAllListeners('close');
      ws.removeAllListeners('error');
      ws.on('error', () => undefined);
      const tDone = nowNs();
      const ms = (a: number, b: number): number => (a > 0 && b > 0 ? (b - a) / 1e6 : Number.NaN);
      resolve({
        ws,
        reconnectSpreadMs,
        phases: {
          tcp: ms(t0, tTcp),
          tls: ms(tTcp, tTls),
          upgrade: ms(tTls, tUpgrade),
          hello: ms(tOpen, tHello),
          sign: signNs / 1e6,
          hubAuth: ms(tSent, tHubAuth),
          verify: ms(tHubAuth, tDone),
          total: ms(t0, tDone),
        },
      });
    };
    let tHubAuth = 0;
    let reconnectSpreadMs = 0;
    let handshake: AgentHandshake | undefined;
    let helloBytes: Uint8Array | undefined;
    let deviceAuthBytes: Uint8Array | undefined;
    ws.on('upgrade', (res) => {
      socket = res.socket as TLSSocket;
      tUpgrade = nowNs();
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      fail('http', `upgrade answered with HTTP ${res.statusCode}`);
    });
    ws.on('error', (err: Error & { code?: string }) =>
      fail(classify(err), err.code ?? err.message),
    );
    ws.on('close', (code: number) => fail(`closed-${code}`, `closed with ${code}`));
    ws.on('open', () => {
      tOpen = nowNs();
      if (o.target.hubKey === null) {
        done();
        return;
      }
      try {
        handshake = new AgentHandshake({
          deviceId: o.device.deviceId,
          agentVersion: 'bench',
          streamId: o.device.streamId,
          identity: o.identity,
          hubIdentityKey: o.target.hubKey,
          socket,
          terminatedUpstream: upstream,
          now: Date.now,
        });
      } catch (err) {
        fail('protocol', String(err));
        return;
      }
      timer = setTimeout(
        () => fail('handshake-timeout', 'inner handshake timed out'),
        o.handshakeTimeoutMs ?? 10_000,
      );
    });
    ws.on('message', (data: Buffer) => {
      if (!handshake || o.target.hubKey === null) return;
      let frame;
      try {
        frame = decodeFrame(data);
      } catch (err) {
        fail('protocol', String(err));
        return;
      }
      if (frame.type === 'hello') {
        tHello = nowNs();
        helloBytes = Uint8Array.from(data);
        const s0 = nowNs();
        deviceAuthBytes = handshake.answerHello(data);
        signNs = nowNs() - s0;
        ws.send(deviceAuthBytes);
        tSent = nowNs();
      } else if (frame.type === 'hubAuth') {
        tHubAuth = nowNs();
        reconnectSpreadMs = frame.hubAuth.reconnectSpreadMs ?? 0;
        const hubKey = o.target.hubKey;
        let agentOk: boolean | undefined;
        let fastOk: boolean | undefined;
        if (o.crypto === 'agent' || o.crossCheck) {
          try {
            handshake.verifyHubAuth(data, frame);
            agentOk = true;
          } catch {
            agentOk = false;
          }
        }
        if (o.crypto === 'fast' || o.crossCheck) {
          if (!hubKeyCache || hubKeyCache.raw !== hubKey)
            hubKeyCache = { raw: hubKey, key: nodePublicKey(hubKey) };
          const body = rawField(data, BODY_FIELD.hubAuth);
          const signature = frame.hubAuth.signature ?? new Uint8Array();
          fastOk =
            body !== undefined &&
            helloBytes !== undefined &&
            deviceAuthBytes !== undefined &&
            (upstream || socket !== undefined) &&
            signature.length === 64 &&
            nodeVerify(
              null,
              hubSigningInput(
                helloBytes,
                deviceAuthBytes,
                withoutField(body, HUB_AUTH_SIGNATURE_FIELD),
                upstream ? TERMINATED_UPSTREAM_MARKER : tlsExporter(socket!),
              ),
              hubKeyCache.key,
              signature,
            );
        }
        if (o.crossCheck && agentOk !== fastOk) {
          fail('cross-check', `HubAuth checks disagree: agent ${agentOk}, node:crypto ${fastOk}`);
          return;
        }
        if ((o.crypto === 'agent' ? agentOk : fastOk) !== true) {
          fail('hub-auth', 'HubAuth signature did not verify');
          return;
        }
        done();
      } else if (frame.type === 'error') {
        fail('hub-error', `${frame.error.code}: ${frame.error.message}`);
      }
    });
  });
}

function classify(err: Error & { code?: string }): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE') return code;
  if (/timed out|timeout/i.test(err.message)) return 'open-timeout';
  if (/socket hang up/i.test(err.message)) return 'hang-up';
  return code || 'error';
}

/** Closes a tunnel from the client side and waits (at most `waitMs`) for the close. */
export function closeTunnel(ws: WebSocket, waitMs = 2000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      ws.terminate();
      resolve();
    }, waitMs);
    ws.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    ws.close(1000, 'bench');
  });
}

// ---------------------------------------------------------------------------------------------
// Sequential handshakes (the handshake bench runs this in-process and in a child)

export type ContextMode = 'fresh' | 'reused';

export interface SequentialResult {
  /** Completed handshakes per mode, each with its phases. */
  phases: Record<ContextMode, Phases[]>;
  failures: number;
  seconds: number;
}

/**
 * `perMode` handshakes per context mode, alternating fresh/reused so both see the same machine
 * conditions, after `warmup` unrecorded ones; stops early after `maxSeconds`.
 */
export async function sequentialHandshakes(o: {
  target: Target;
  device: FleetDevice;
  perMode: number;
  warmup: number;
  maxSeconds: number;
}): Promise<SequentialResult> {
  const identity = agentIdentity(o.device.seed);
  const context = prebuiltContext(o.target, o.device);
  const phases: Record<ContextMode, Phases[]> = { fresh: [], reused: [] };
  let failures = 0;
  const start = nowNs();
  const total = o.warmup + 2 * o.perMode;
  for (let i = 0; i < total; i++) {
    if ((nowNs() - start) / 1e9 > o.maxSeconds) break;
    const mode: ContextMode = i % 2 === 0 ? 'fresh' : 'reused';
    try {
      const { ws, phases: p } = await dial({
        target: o.target,
        device: o.device,
        identity,
        crypto: 'agent',
        ...(mode === 'reused' ? { secureContext: context } : {}),
        crossCheck: i === 0,
      });
      if (i >= o.warmup) phases[mode].push(p);
      await closeTunnel(ws);
    } catch {
      failures++;
    }
  }
  return { phases, failures, seconds: (nowNs() - start) / 1e9 };
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[], digits = 2): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  let sum = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (const x of v) {
    sum += x;
    if (x > max) max = x;
  }
  return {
    count: v.length,
    p50: round(quantile(v, 0.5), digits),
    p99: round(quantile(v, 0.99), digits),
    max: v.length ? round(max, digits) : Number.NaN,
    mean: v.length ? round(sum / v.length, digits) : Number.NaN,
  };
}

/** Busy share of all CPUs between two `os.cpus()` samples (includes other tenants' work). */
export function cpuBusy(a: CpuInfo[], b: CpuInfo[]): number {
  let busy = 0;
  let all = 0;
  b.forEach((cpu, i) => {
    const p = a[i]?.times;
    if (!p) return;
    const t = cpu.times;
    const idle = t.idle - p.idle;
    const total =
      t.user + t.nice + t.sys + t.idle + t.irq - (p.user + p.nice + p.sys + p.idle + p.irq);
    all += total;
    busy += total - idle;
  });
  return all > 0 ? busy / all : Number.NaN;
}

/** CPU seconds (user + system) between two process.cpuUsage() samples. */
export function cpuSeconds(a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number {
  return (b.user - a.user + b.system - a.system) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `predicate` holds or `timeoutMs` passes; returns whether it held. */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await sleep(stepMs);
  }
  return predicate();
}

/** The soft file-descriptor limit of this process (`ulimit -n`); undefined off Linux. */
export function fdLimit(): number | undefined {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** Every request a bench can make of a child (bench/tunnel-child.ts), with its reply. */
export interface ChildOps {
  /** Issue certificates and identity keys for `deviceIds` (kept in the child). */
  'fleet-init': {
    req: { ca: SecretPem; deviceIds: string[]; keyType?: DeviceKeyType };
    res: { publicKeys: Uint8Array[]; issueMs: number };
  };
  /**
   * Open tunnels for devices [from, to) of the fleet, `concurrency` set-ups at a time, each
   * device retried up to 3 times. With `reconnect`, a tunnel that later drops reconnects with
   * the agent's backoff (base 1 s, cap 60 s, full jitter) and its recovery is recorded.
   */
  'fleet-connect': {
    req: {
      target: Target;
      from: number;
      to: number;
      concurrency: number;
      crypto: ClientCrypto;
      reconnect: boolean;
      maxSeconds: number;
    };
    res: { connected: number; failed: number; seconds: number; failures: Record<string, number> };
  };
  /** Recovery of every tunnel that dropped since fleet-connect. */
  'fleet-report': {
    req: Record<string, never>;
    res: {
      up: number;
      dropped: number;
      /** Tunnels closed after a come-back-later frame from the hub. */
      redirected: number;
      recovered: number;
      /** Per recovered client: ms from its tunnel dropping to HubAuth verified again. */
      reconnectMs: number[];
      /** Per recovered client: connection attempts it made. */
      attempts: number[];
      failures: Record<string, number>;
      cpu: NodeJS.CpuUsage;
    };
  };
  /** Closes tunnels [from, to) for good (no reconnect). */
  'fleet-close': { req: { from: number; to: number }; res: { closed: number } };
  /** Starts one connect -> handshake -> close loop per device, until loops-stop. */
  'loops-start': {
    req: { target: Target; devices: FleetDevice[]; crypto: ClientCrypto };
    res: { loops: number };
  };
  /** Counters since the previous mark (or start), then resets them. */
  'loops-mark': {
    req: Record<string, never>;
    res: {
      completed: number;
      failures: number;
      latencyMs: number[];
      cpu: NodeJS.CpuUsage;
    };
  };
  'loops-stop': { req: Record<string, never>; res: { stopped: number } };
  'seq-handshakes': {
    req: {
      target: Target;
      device: FleetDevice;
      perMode: number;
      warmup: number;
      maxSeconds: number;
    };
    res: SequentialResult;
  };
  /** Starts a server under test in this child: the hub, or a plain ws/wss reference. */
  'server-start': {
    req: { kind: ServerKind; tls: { cert: string; key: string; ca: string }; dbPath: string };
    res: { port: number; hubKey: Uint8Array | null };
  };
  'server-count': { req: Record<string, never>; res: { open: number } };
  /** process.memoryUsage() after three global.gc() calls (needs --expose-gc). */
  'server-memory': { req: Record<string, never>; res: { memory: NodeJS.MemoryUsage } };
  'server-stop': { req: Record<string, never>; res: { stopped: boolean } };
}

/** `hub-lb`: the hub with `tlsTerminatedUpstream` (plain ws; TLS would end at a balancer). */
export type ServerKind = 'hub' | 'hub-lb' | 'wss' | 'ws';
export type ChildOp = keyof ChildOps;

const CHILD_PATH = fileURLToPath(new URL('./tunnel-child.ts', import.meta.url));

/** A bench helper process; runs TypeScript through the same tsx loader as the parent. */
export class Child extends RpcChild<ChildOps> {
  static spawn(extraExecArgv: readonly string[] = []): Child {
    const proc = fork(CHILD_PATH, [], {
      execArgv: [...process.execArgv, ...extraExecArgv],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Child(proc, 300_000);
  }
}
