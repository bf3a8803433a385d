/**
 * The hub refuses bad clients - wrong certificates, wrong TLS, silence, garbage, oversized and
 * text frames - with a clear error and an audit entry, and keeps serving a well-behaved agent
 * that streams telemetry through the whole file.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import {
  createTestPki,
  issueDeviceCertificate,
  startHub,
  type Hub,
  type KeyPairPem,
} from '../hub/index.js';
import {
  createAgent,
  modbusTcpAdapter,
  type Agent,
  type AgentConfig,
  type TunnelError,
} from '../src/index.js';
import { encodeFrame } from '../src/codec/index.js';
import { catalogue, enrolIdentity, oneSample, registerMap, waitFor } from './helpers.js';
import { openProbe, startTcpRelay, type TunnelProbe } from './relay.js';

type Pki = Awaited<ReturnType<typeof createTestPki>>;
const DAY_MS = 24 * 60 * 60 * 1000;
const GOOD = 'BI-GOOD';
const RAW = 'BI-RAW';
const HOSTNAME = 'BI-HOSTNAME';

let pki: Pki;
let sim: Simulator;
let hub: Hub;
let good: Agent;
let rawKey: Uint8Array;
const goodDowns: TunnelError[] = [];
const goodDisconnects: number[] = [];
let goodSamplesAtStart = 0;
const agents: Agent[] = [];
const probes: TunnelProbe[] = [];

beforeAll(async () => {
  [pki, sim] = await Promise.all([
    createTestPki({ deviceIds: [GOOD, RAW, HOSTNAME], hubName: 'test-hub' }),
    startSimulator({ seed: 31, controlPort: false }),
  ]);
  hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    handshakeTimeoutMs: 500,
    tlsHandshakeTimeoutMs: 500,
    maxFrameBytes: 4096,
  });
  hub.on('disconnected', (e) => {
    if (e.deviceId === GOOD) goodDisconnects.push(e.code);
  });
  rawKey = enrolIdentity(hub, RAW).identity.secretKey;
  const keys = enrolIdentity(hub, GOOD);
  good = createAgent(agentConfig(GOOD, keys.identity));
  good.on('tunnel-down', (e) => goodDowns.push(e));
  await good.start();
  expect(await waitFor(() => hub.store.counts(GOOD).samples >= 2, 5000)).toBe(true);
  goodSamplesAtStart = hub.store.counts(GOOD).samples;
});

afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => p.close()));
  await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 0 })));
});

afterAll(async () => {
  // The well-behaved agent streamed through everything and its tunnel never dropped.
  try {
    if (good) {
      const now = hub.store.counts(GOOD).samples;
      expect(now).toBeGreaterThan(goodSamplesAtStart + 5);
      // Still growing at the very end.
      expect(await waitFor(() => hub.store.counts(GOOD).samples > now, 2000)).toBe(true);
      expect(good.stats().tunnel).toBe('open');
      expect(hub.isConnected(GOOD)).toBe(true);
      expect(goodDowns).toEqual([]);
      expect(goodDisconnects).toEqual([]);
    }
  } finally {
    await good?.stop({ drainTimeoutMs: 1000 });
    await Promise.all([hub?.close(), sim?.close()]);
  }
});

function agentConfig(
  deviceId: string,
  identity: { secretKey: Uint8Array },
  hubOverrides: Partial<AgentConfig['hub']> = {},
): AgentConfig {
  const d = pki.devices[deviceId]!;
  return {
    identity,
    adapter: modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap }),
    errorCatalogue: catalogue,
    hub: {
      url: hub.url,
      ca: pki.ca.certPem,
      cert: d.certPem,
      key: d.keyPem,
      servername: 'localhost',
      identityKey: hub.identityPublicKey,
      ...hubOverrides,
    },
    pollIntervalMs: 100,
    errorPollIntervalMs: 0,
    telemetry: { sendIntervalMs: 200 },
    tunnel: { backoff: { baseMs: 200, capMs: 500 } },
  };
}

function securityEventsSince(count: number, kind: string): string[] {
  return hub.store
    .securityEvents()
    .slice(count)
    .filter((e) => e.kind === kind)
    .map((e) => e.detail);
}

async function probe(): Promise<TunnelProbe> {
  const d = pki.devices[RAW]!;
  const p = await openProbe(
    hub.url,
    { ca: pki.ca.certPem, cert: d.certPem, key: d.keyPem },
    RAW,
    hub.identityPublicKey,
  );
  probes.push(p);
  return p;
}

async function errorCode(p: TunnelProbe): Promise<string | null | undefined> {
  const e = await p.next('error', 2000);
  return e.frame.type === 'error' ? e.frame.error.code : undefined;
}

describe('client certificates outside their validity', () => {
  async function upgradeStatus(device: KeyPairPem): Promise<number | string> {
    return new Promise((resolve) => {
      const ws = new WebSocket(hub.url, {
        ca: pki.ca.certPem,
        cert: device.certPem,
        key: device.keyPem,
        servername: 'localhost',
      } as WebSocket.ClientOptions);
      ws.on('open', () => {
        ws.terminate();
        resolve('open');
      });
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    });
  }

  it.each([
    {
      what: 'expired',
      notBefore: -2 * DAY_MS,
      notAfter: -DAY_MS,
      problem: /CERT_HAS_EXPIRED/,
    },
    {
      what: 'not yet valid',
      notBefore: DAY_MS,
      notAfter: 2 * DAY_MS,
      problem: /CERT_NOT_YET_VALID/,
    },
  ])('refuses an $what client certificate with HTTP 401 and audits why', async (c) => {
    const device = await issueDeviceCertificate(pki.ca, {
      deviceId: RAW,
      notBefore: new Date(Date.now() + c.notBefore),
      notAfter: new Date(Date.now() + c.notAfter),
    });
    const events = hub.store.securityEvents().length;
    const refused = hub.stats().upgradesRefused;
    expect(await upgradeStatus(device)).toBe(401);
    expect(hub.stats().upgradesRefused).toBe(refused + 1);
    const audit = securityEventsSince(events, 'upgrade-refused');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatch(/^401: client certificate refused: /);
    expect(audit[0]).toMatch(c.problem);
    expect(hub.isConnected(RAW)).toBe(false);
  });
});

describe('the hub name is checked', () => {
  async function firstDown(agent: Agent): Promise<TunnelError> {
    const downs: TunnelError[] = [];
    agent.on('tunnel-down', (e) => downs.push(e));
    await agent.start();
    expect(await waitFor(() => downs.length > 0, 5000)).toBe(true);
    expect(agent.stats().tunnel).not.toBe('open');
    return downs[0]!;
  }

  it('refuses a hub certificate that does not name the server name asked for', async () => {
    // Enrolled, so only the name check stands between this agent and an open tunnel.
    const keys = enrolIdentity(hub, HOSTNAME).identity;
    const agent = createAgent(agentConfig(HOSTNAME, keys, { servername: 'not-the-hub' }));
    agents.push(agent);
    const down = await firstDown(agent);
    expect(down.code).toBe('TUNNEL_TLS_REJECTED');
    expect((down.cause as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('refuses a hub reached at an address its certificate does not name (127.0.0.2)', async () => {
    // The certificate names 127.0.0.1 (and localhost, ::1); the same hub is reachable at
    // 127.0.0.2 through a plain TCP relay.
    const relay = await startTcpRelay({ targetPort: hub.port, host: '127.0.0.2' });
    try {
      const agent = createAgent(
        agentConfig(HOSTNAME, enrolIdentity(hub, HOSTNAME).identity, {
          url: `wss://127.0.0.2:${relay.port}/v1/tunnel`,
          servername: undefined,
        }),
      );
      agents.push(agent);
      const down = await firstDown(agent);
      expect(relay.connections).toBeGreaterThanOrEqual(1); // it reached the hub's TLS
      expect(down.code).toBe('TUNNEL_TLS_REJECTED');
      expect((down.cause as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      await agent.stop({ drainTimeoutMs: 0 });
    } finally {
      await relay.close();
    }
  });
});

describe('TLS refusals are counted and audited', () => {
  /** Runs a TLS client against the hub; resolves with how it ended. */
  function tlsAttempt(options: ConnectionOptions): Promise<string> {
    const d = pki.devices[RAW]!;
    return new Promise((resolve) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port: hub.port,
        ca: pki.ca.certPem,
        cert: d.certPem,
        key: d.keyPem,
        servername: 'localhost',
        ...options,
      });
      s.on('secureConnect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      s.on('close', () => resolve('closed'));
    });
  }

  async function refusedOnce(attempt: () => Promise<string>): Promise<string> {
    // Connections of earlier tests (an agent that refused the hub's name) may still be
    // reported as hang-ups: let the count settle before taking it.
    for (let last = -1; hub.stats().tlsErrors !== last;) {
      last = hub.stats().tlsErrors;
      await new Promise((r) => setTimeout(r, 150));
    }
    const tlsErrors = hub.stats().tlsErrors;
    const events = hub.store.securityEvents().length;
    const outcome = await attempt();
    expect(outcome).not.toBe('connected');
    expect(await waitFor(() => hub.stats().tlsErrors > tlsErrors, 2000)).toBe(true);
    expect(hub.stats().tlsErrors).toBe(tlsErrors + 1);
    const audit = securityEventsSince(events, 'tls-refused');
    expect(audit).toHaveLength(1);
    return audit[0]!;
  }

  it('refuses a TLS 1.2 client', async () => {
    const detail = await refusedOnce(() => tlsAttempt({ maxVersion: 'TLSv1.2' }));
    expect(detail).toMatch(/UNSUPPORTED_PROTOCOL|unsupported protocol/i);
  });

  it('refuses a client offering only weak TLS 1.2 suites', async () => {
    // AES128-SHA alone could never work with the hub's ECDSA certificate whatever the policy;
    // ECDHE-ECDSA-AES128-SHA could, so it is what proves the policy refuses CBC/SHA-1 suites.
    const detail = await refusedOnce(() =>
      tlsAttempt({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:AES128-SHA' }),
    );
    expect(detail).toMatch(/ERR_SSL_/);
  });

  it('refuses a TLS 1.3 client offering only a 128-bit suite', async () => {
    const detail = await refusedOnce(() =>
      tlsAttempt({ minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256' }),
    );
    expect(detail).toMatch(/NO_SHARED_CIPHER|no shared cipher/i);
  });

  it('refuses garbage bytes where a ClientHello should be', async () => {
    const detail = await refusedOnce(
      () =>
        new Promise<string>((resolve) => {
          const s = netConnect(hub.port, '127.0.0.1', () =>
            s.write(Buffer.from('\x00\x01garbage, not a ClientHello\r\n\r\n\xff\xfe', 'latin1')),
          );
          s.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
          s.on('close', () => resolve('closed'));
          s.resume();
        }),
    );
    expect(detail).toMatch(/ERR_SSL_/);
  });

  it('drops a TCP connection that never says anything, after the TLS handshake timeout', async () => {
    const t0 = performance.now();
    const detail = await refusedOnce(
      () =>
        new Promise<string>((resolve) => {
          const s = netConnect(hub.port, '127.0.0.1');
          const guard = setTimeout(() => {
            s.destroy();
            resolve('still open after 3 s');
          }, 3000);
          s.on('error', () => undefined);
          s.on('close', () => {
            clearTimeout(guard);
            resolve('closed');
          });
          s.resume();
        }),
    );
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(1200);
    expect(detail).toMatch(/^ERR_TLS_HANDSHAKE_TIMEOUT: /);
  });
});

describe('bad WebSocket clients', () => {
  it('closes a tunnel that never sends DeviceAuth (4408 OUTPOST_HANDSHAKE_TIMEOUT)', async () => {
    const events = hub.store.securityEvents().length;
    const t0 = performance.now();
    const p = await probe();
    await p.next('hello');
    expect(await errorCode(p)).toBe('OUTPOST_HANDSHAKE_TIMEOUT');
    expect((await p.closed).code).toBe(4408);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1500);
    expect(securityEventsSince(events, 'protocol-error')).toEqual([
      expect.stringMatching(/^OUTPOST_HANDSHAKE_TIMEOUT: /),
    ]);
  });

  it('closes on a garbage frame instead of DeviceAuth (4400)', async () => {
    const events = hub.store.securityEvents().length;
    const p = await probe();
    await p.next('hello');
    p.sendRaw(Buffer.from('\xff\xff\xff\xff not a protobuf envelope', 'latin1'));
    expect(await errorCode(p)).toMatch(/^OUTPOST_(MALFORMED_FRAME|MISSING_BODY)$/);
    expect((await p.closed).code).toBe(4400);
    expect(securityEventsSince(events, 'protocol-error')).toHaveLength(1);
  });

  it('closes on a text frame, during and after the handshake (4400), even one holding a valid frame', async () => {
    // Frames whose encoding is pure ASCII, so they travel unchanged as text: refused for
    // being text, not for failing to decode.
    const asText = (bytes: Uint8Array): string => {
      expect(bytes.every((b) => b < 0x80)).toBe(true);
      return Buffer.from(bytes).toString('latin1');
    };
    const during = await probe();
    await during.next('hello');
    during.sendRaw(
      asText(
        encodeFrame(
          { deviceId: RAW, seq: 0, sentAtMs: 0 },
          {
            type: 'deviceAuth',
            deviceAuth: { deviceId: RAW, version: 1, streamId: 'text-stream', binding: 1 },
          },
        ),
      ),
    );
    const duringError = await during.next('error', 2000);
    expect(duringError.frame.type === 'error' && duringError.frame.error).toMatchObject({
      code: 'OUTPOST_MALFORMED_FRAME',
      message: expect.stringMatching(/text/),
    });
    expect((await during.closed).code).toBe(4400);

    const before = hub.store.counts(RAW).samples;
    const after = await probe();
    await after.handshake(rawKey);
    after.sendRaw(
      asText(
        encodeFrame(
          { deviceId: RAW, seq: 1, sentAtMs: 0 },
          {
            type: 'telemetry',
            telemetry: {
              counters: [{ name: 'exposures_total', unit: 'count' }],
              baseTimeMs: 0,
              samples: [{ offsetMs: 0, raw: [5] }],
            },
          },
        ),
      ),
    );
    const afterError = await after.next('error', 2000);
    expect(afterError.frame.type === 'error' && afterError.frame.error).toMatchObject({
      code: 'OUTPOST_MALFORMED_FRAME',
      message: expect.stringMatching(/text/),
    });
    expect((await after.closed).code).toBe(4400);
    expect(hub.store.counts(RAW).samples).toBe(before);
  });

  it('closes on a garbage frame after the handshake (4400), having stored the good frame before it', async () => {
    const before = hub.store.counts(RAW).samples;
    const p = await probe();
    await p.handshake(rawKey);
    p.send(1, oneSample(7));
    await p.next('ack');
    p.sendRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(await errorCode(p)).toMatch(/^OUTPOST_(MALFORMED_FRAME|MISSING_BODY)$/);
    expect((await p.closed).code).toBe(4400);
    expect(hub.store.counts(RAW).samples).toBe(before + 1);
  });

  it('closes on an oversized frame, during and after the handshake (1009)', async () => {
    const during = await probe();
    await during.next('hello');
    during.sendRaw(Buffer.alloc(10_000, 0x42));
    expect((await during.closed).code).toBe(1009);

    const after = await probe();
    await after.handshake(rawKey);
    expect(hub.isConnected(RAW)).toBe(true);
    after.sendRaw(Buffer.alloc(10_000, 0x42));
    expect((await after.closed).code).toBe(1009);
    expect(await waitFor(() => !hub.isConnected(RAW), 1000)).toBe(true);
    // Both refusals are audited.
    const oversized = hub.store
      .securityEvents()
      .filter(
        (e) =>
          e.kind === 'protocol-error' && e.detail.startsWith('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'),
      );
    expect(oversized.length).toBeGreaterThanOrEqual(2);
  });
});
