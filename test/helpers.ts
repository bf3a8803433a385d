import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import nacl from 'tweetnacl';
import WebSocket from 'ws';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import {
  testAgentHubOptions,
  type createTestPki,
  type Hub,
  type KeyPairPem,
} from '../hub/index.js';
import { decodeFrame, encodeFrame, type Body, type Frame } from '../src/codec/index.js';
import {
  MemoryQueue,
  parseErrorCatalogue,
  parseRegisterMap,
  silentLogger,
  systemClock,
  type AgentConfig,
  type DeviceAdapter,
  type DeviceEvent,
} from '../src/index.js';
import { TunnelClient, type TunnelOptions } from '../src/tunnel/client.js';
import { AgentHandshake } from '../src/tunnel/handshake.js';
import { ed25519Identity } from '../src/tunnel/identity.js';

export const catalogue = parseErrorCatalogue(catalogueJson);
export const registerMap = parseRegisterMap(registerMapJson);

/** Polls `predicate` until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 10_000,
  stepMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return predicate();
}

export interface RawClient {
  ws: WebSocket;
  /** The TLS socket under the WebSocket (pause it to play a peer that stops reading). */
  socket: TLSSocket | undefined;
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  send(seq: number, body: Body): void;
  sendRaw(bytes: Uint8Array): void;
  next(type: Frame['type'], timeoutMs?: number): Promise<Frame>;
}

/**
 * A hand-driven device connection (no agent runtime), for tests that must send exactly the
 * bytes they want: duplicates, garbage, frames out of order.
 */
export async function rawClient(
  hub: Hub,
  ca: string,
  device: KeyPairPem | undefined,
  deviceId: string,
  options: { handshake?: boolean; streamId?: string; identity?: Uint8Array } = {},
): Promise<RawClient> {
  const ws = new WebSocket(hub.url, {
    ca,
    ...(device ? { cert: device.certPem, key: device.keyPem } : {}),
    servername: 'localhost',
    minVersion: 'TLSv1.3',
  } as WebSocket.ClientOptions);
  const frames: Frame[] = [];
  const raw: Buffer[] = [];
  const waiters: Array<() => void> = [];
  let socket: TLSSocket | undefined;
  ws.on('upgrade', (res) => (socket = res.socket as TLSSocket));
  ws.on('message', (data: Buffer) => {
    raw.push(data);
    frames.push(decodeFrame(data));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const client: RawClient = {
    ws,
    socket,
    frames,
    closed,
    send: (seq, body) => ws.send(encodeFrame({ deviceId, seq, sentAtMs: Date.now() }, body)),
    sendRaw: (bytes) => ws.send(bytes),
    next: async (type, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = frames.findIndex((f) => f.type === type);
        if (i >= 0) return frames.splice(i, 1)[0]!;
        if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
  };
  if (options.handshake !== false) {
    if (!options.identity)
      throw new Error('rawClient: a handshake needs the device identity secret key');
    const handshake = new AgentHandshake({
      deviceId,
      agentVersion: 'raw-test-client',
      streamId: options.streamId ?? randomBytes(8).toString('hex'),
      identity: ed25519Identity(options.identity),
      hubIdentityKey: hub.identityPublicKey,
      socket,
      terminatedUpstream: false,
      now: Date.now,
    });
    await client.next('hello');
    ws.send(handshake.answerHello(raw[0]!));
    const hubAuth = await client.next('hubAuth');
    if (hubAuth.type === 'hubAuth') handshake.verifyHubAuth(raw[1]!, hubAuth);
  }
  return client;
}

/** A minimal valid telemetry body with one sample. */
export function oneSample(value: number): Body {
  return {
    type: 'telemetry',
    telemetry: {
      counters: [{ name: 'exposures_total', unit: 'count', scale: 1 }],
      baseTimeMs: Date.now(),
      samples: [{ offsetMs: 0, raw: [value] }],
    },
  };
}

/**
 * Gives `deviceId` an Ed25519 identity registered at `hub` (what enrolment does) and returns
 * the agent config parts that go with it.
 */
export function enrolIdentity(
  hub: Hub,
  deviceId: string,
): { identity: { secretKey: Uint8Array }; identityKey: Uint8Array; publicKey: Uint8Array } {
  const keys = nacl.sign.keyPair();
  hub.registerDevice(deviceId, keys.publicKey);
  return {
    identity: { secretKey: keys.secretKey },
    identityKey: hub.identityPublicKey,
    publicKey: keys.publicKey,
  };
}

type TestPki = Awaited<ReturnType<typeof createTestPki>>;

/** The agent's `hub` options for `deviceId`: the hub's URL and pinned key, the test PKI's files. */
export function hubOptions(hub: Hub, pki: TestPki, deviceId: string): AgentConfig['hub'] {
  return testAgentHubOptions(pki, deviceId, hub);
}

/**
 * The agent's TunnelClient for `deviceId` of the test PKI, against `hub`: its certificate, its
 * identity key, the hub's pinned key, a MemoryQueue, the system clock and a silent logger;
 * `overrides` replace any option (queue, window, backoff, clock...). Not started.
 */
export function tunnelClient(
  hub: { url: string; identityPublicKey: Uint8Array },
  pki: TestPki,
  deviceId: string,
  secretKey: Uint8Array,
  overrides: Partial<TunnelOptions> = {},
): TunnelClient {
  const d = pki.devices[deviceId];
  if (!d) throw new Error(`the test PKI has no device ${deviceId}`);
  return new TunnelClient({
    url: hub.url,
    tls: { ca: pki.ca.certPem, cert: d.certPem, key: d.keyPem, servername: 'localhost' },
    deviceId,
    agentVersion: 'test',
    identity: ed25519Identity(secretKey),
    hubIdentityKey: hub.identityPublicKey,
    queue: new MemoryQueue(),
    clock: systemClock,
    logger: silentLogger,
    ...overrides,
  });
}

/**
 * A device whose one counter, `exposures`, counts its polls (so every sample is unique), and
 * whose error events the test raises with `emit`.
 */
export function countingAdapter(now: () => number = Date.now): {
  adapter: DeviceAdapter;
  emit: (e: DeviceEvent) => void;
  polls: () => number;
} {
  let value = 0;
  let listener: ((e: DeviceEvent) => void) | undefined;
  const adapter: DeviceAdapter = {
    kind: 'test',
    connect: () => Promise.resolve(),
    readSnapshot: () => {
      value++;
      return Promise.resolve({
        atMs: now(),
        counters: [{ name: 'exposures', raw: value, value, unit: 'count', scale: 1, offset: 0 }],
        codes: [],
        missing: [],
      });
    },
    health: () => ({ connected: true, readsOk: value, readsFailed: 0, timeouts: 0 }),
    onEvent: (l) => {
      listener = l;
      return () => (listener = undefined);
    },
    close: () => Promise.resolve(),
  };
  return { adapter, emit: (e) => listener?.(e), polls: () => value };
}
