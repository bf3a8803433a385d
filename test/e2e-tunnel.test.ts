import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { createAgent, modbusTcpAdapter, type Agent, type TunnelError } from '../src/index.js';
import {
  catalogue,
  enrolIdentity,
  hubOptions,
  oneSample,
  rawClient,
  registerMap,
  waitFor,
} from './helpers.js';

type Pki = Awaited<ReturnType<typeof createTestPki>>;

let pki: Pki;
let rogue: Pki;
/** The pinned hub identity key of the hub under test (set when it starts). */
let hubKey: Uint8Array = new Uint8Array(32);

beforeAll(async () => {
  [pki, rogue] = await Promise.all([
    createTestPki({ deviceIds: ['XR200-A', 'XR200-B', 'XR200-RAW'], hubName: 'test-hub' }),
    createTestPki({ deviceIds: ['XR200-A'], hubName: 'rogue' }),
  ]);
});

describe('end to end over real TLS on loopback', () => {
  let hub: Hub;
  let sim: Simulator;
  const agents: Agent[] = [];
  const identities: Record<string, ReturnType<typeof enrolIdentity>> = {};

  beforeAll(async () => {
    hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      heartbeatMs: 5000,
    });
    sim = await startSimulator({ seed: 3, controlPort: false });
    for (const id of ['XR200-A', 'XR200-B', 'XR200-RAW']) identities[id] = enrolIdentity(hub, id);
    hubKey = hub.identityPublicKey;
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 2000 })));
  });
  afterAll(async () => {
    await hub.close();
    await sim.close();
  });

  function agentFor(
    deviceId: string,
    overrides: Partial<Parameters<typeof createAgent>[0]> = {},
  ): Agent {
    const agent = createAgent({
      identity: identities[deviceId]!.identity,
      adapter: modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap }),
      errorCatalogue: catalogue,
      hub: hubOptions(hub, pki, deviceId),
      pollIntervalMs: 100,
      errorPollIntervalMs: 50,
      telemetry: { sendIntervalMs: 300 },
      ...overrides,
    });
    agents.push(agent);
    return agent;
  }

  it('stores exactly the samples of N polls, and an injected alarm-class code as an alarm', async () => {
    const agent = agentFor('XR200-A');
    const before = hub.store.counts('XR200-A');
    await agent.start();
    await waitFor(() => agent.stats().polls >= 10 && agent.stats().tunnel === 'open');
    sim.inject(2003, { holdMs: 2000 }); // TUBE_ROTOR_FAULT, alarm-class
    expect(await waitFor(() => hub.store.alarms('XR200-A').some((a) => a.code === 2003))).toBe(
      true,
    );
    await agent.stop({ drainTimeoutMs: 5000 });
    const polls = agent.stats().polls;
    const after = hub.store.counts('XR200-A');
    expect(polls).toBeGreaterThanOrEqual(10);
    expect(agent.stats().samplesAccepted).toBe(polls);
    expect(after.samples - before.samples).toBe(polls);
    const alarm = hub.store.alarms('XR200-A').find((a) => a.code === 2003)!;
    expect(alarm).toMatchObject({ state: 'raised', severity: 4, subsystem: 'tube' });
    expect(hub.stats().duplicatesDropped).toBe(0);
    // The stored samples carry engineering values decoded at the hub.
    const last = hub.store.samples('XR200-A', 10_000).at(-1)!;
    expect(typeof last.values.exposures_total).toBe('number');
    expect(typeof last.values.detector_temp).toBe('number');
    // Adapter health travels with telemetry and is kept at the hub.
    const health = hub.store.deviceHealth('XR200-A') as
      { readsOk?: number; connected?: boolean } | undefined;
    expect(health?.readsOk).toBeGreaterThan(0);
    expect(health?.connected).toBe(true);
  });

  it('sends an alarm-class code at once while other codes ride with telemetry', async () => {
    const agent = agentFor('XR200-B', { telemetry: { sendIntervalMs: 60_000 } });
    await agent.start();
    await waitFor(() => agent.stats().tunnel === 'open');
    sim.inject(3004, { holdMs: 1500 }); // DET_CALIBRATION_DUE: info, not alarm-class
    sim.inject(4002, { holdMs: 1500 }); // INTERLOCK_EMERGENCY_STOP: alarm-class
    expect(
      await waitFor(() => hub.store.alarms('XR200-B').some((a) => a.code === 4002), 3000),
    ).toBe(true);
    // Telemetry waits for its 60 s schedule: the info code has not reached the hub yet.
    expect(hub.store.counts('XR200-B').events).toBe(0);
    expect(hub.store.alarms('XR200-B').some((a) => a.code === 3004)).toBe(false);
    await agent.stop({ drainTimeoutMs: 5000 });
    expect(hub.store.counts('XR200-B').events).toBeGreaterThanOrEqual(1);
  });

  it('refuses a client whose certificate comes from another CA, with an audit entry', async () => {
    const refused = hub.stats().upgradesRefused;
    const agent = agentFor('XR200-A', {
      hub: {
        ...pkiFor('XR200-A'),
        url: hub.url,
        cert: rogue.devices['XR200-A']!.certPem,
        key: rogue.devices['XR200-A']!.keyPem,
      },
    });
    const downs: TunnelError[] = [];
    agent.on('tunnel-down', (e) => downs.push(e));
    await agent.start();
    expect(await waitFor(() => downs.length > 0)).toBe(true);
    expect(downs[0]!.code).toBe('TUNNEL_CONNECT_FAILED');
    expect(downs[0]!.message).toMatch(/401/);
    expect(agent.stats().tunnel).not.toBe('open');
    expect(hub.stats().upgradesRefused).toBeGreaterThan(refused);
    const audit = hub.store.securityEvents().filter((e) => e.kind === 'upgrade-refused');
    expect(audit.at(-1)!.detail).toMatch(/client certificate refused/);
    expect(hub.isConnected('XR200-A')).toBe(false);
  });

  it('refuses a client without a certificate, with an audit entry', async () => {
    const refused = hub.stats().upgradesRefused;
    const status = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(hub.url, {
        ca: pki.ca.certPem,
        servername: 'localhost',
      } as WebSocket.ClientOptions);
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    });
    expect(status).toBe(401);
    expect(await waitFor(() => hub.stats().upgradesRefused > refused)).toBe(true);
    expect(hub.store.securityEvents().at(-1)!.detail).toMatch(/no client certificate/);
  });

  it('refuses a plain ws:// connection', async () => {
    const tlsErrors = hub.stats().tlsErrors;
    const result = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/v1/tunnel`);
      ws.on('open', () => resolve('open'));
      ws.on('error', (e) => resolve(e.message));
    });
    expect(result).not.toBe('open');
    expect(await waitFor(() => hub.stats().tlsErrors > tlsErrors)).toBe(true);
    // And the agent itself refuses to be configured with one.
    expect(() =>
      agentFor('XR200-A', {
        hub: { url: `ws://127.0.0.1:${hub.port}/v1/tunnel`, ...pkiFor('XR200-A') },
      }),
    ).toThrow(/wss/);
  });

  it('verifies the hub against the pinned CA only', async () => {
    const agent = agentFor('XR200-A', {
      hub: { url: hub.url, ...pkiFor('XR200-A'), ca: rogue.ca.certPem },
    });
    const downs: TunnelError[] = [];
    agent.on('tunnel-down', (e) => downs.push(e));
    await agent.start();
    expect(await waitFor(() => downs.length > 0)).toBe(true);
    expect(downs[0]!.code).toBe('TUNNEL_TLS_REJECTED');
  });

  it('answers a malformed frame with a clear error and a close, and keeps serving another agent', async () => {
    const good = agentFor('XR200-B');
    await good.start();
    await waitFor(() => good.stats().tunnel === 'open');
    const storedBefore = hub.store.counts('XR200-B').samples;

    const bad = await rawClient(hub, pki.ca.certPem, pki.devices['XR200-RAW'], 'XR200-RAW', {
      identity: identities['XR200-RAW']!.identity.secretKey,
    });
    bad.sendRaw(Buffer.from('this is not a protobuf envelope at all \xff\xff\xff'));
    const error = await bad.next('error');
    expect(error.type === 'error' && error.error.code).toMatch(
      /^OUTPOST_(MALFORMED_FRAME|MISSING_BODY)$/,
    );
    expect((await bad.closed).code).toBe(4400);

    // The well-behaved agent kept flowing meanwhile.
    expect(await waitFor(() => hub.store.counts('XR200-B').samples >= storedBefore + 5)).toBe(true);
    expect(good.stats().tunnel).toBe('open');
    expect(
      hub.store
        .securityEvents()
        .some((e) => e.kind === 'protocol-error' && e.deviceId === 'XR200-RAW'),
    ).toBe(true);
  });

  it('closes a connection that names another device in its frames', async () => {
    const raw = await rawClient(hub, pki.ca.certPem, pki.devices['XR200-RAW'], 'XR200-A', {
      handshake: false,
    });
    await raw.next('hello');
    raw.send(0, {
      type: 'deviceAuth',
      deviceAuth: { deviceId: 'XR200-A', version: 1, streamId: 'abc' },
    });
    expect((await raw.closed).code).toBe(4403);
  });

  it('stores a frame delivered twice only once, and acknowledges it', async () => {
    const duplicates = hub.stats().duplicatesDropped;
    const before = hub.store.counts('XR200-RAW').samples;
    const raw = await rawClient(hub, pki.ca.certPem, pki.devices['XR200-RAW'], 'XR200-RAW', {
      identity: identities['XR200-RAW']!.identity.secretKey,
    });
    raw.send(1, oneSample(100));
    raw.send(1, oneSample(100));
    raw.send(2, oneSample(101));
    raw.send(2, oneSample(101));
    expect(await waitFor(() => hub.stats().duplicatesDropped >= duplicates + 2)).toBe(true);
    expect(hub.store.counts('XR200-RAW').samples - before).toBe(2);
    const acks: number[] = [];
    await waitFor(() => {
      for (const f of raw.frames.splice(0)) if (f.type === 'ack') acks.push(f.ack.upTo ?? 0);
      return acks.includes(2);
    });
    expect(Math.max(...acks)).toBe(2);
    raw.ws.close();
  });

  it('acknowledges cumulatively: a frame that arrives ahead of a gap is stored but not acked past the gap', async () => {
    const raw = await rawClient(hub, pki.ca.certPem, pki.devices['XR200-RAW'], 'XR200-RAW', {
      identity: identities['XR200-RAW']!.identity.secretKey,
    });
    raw.send(1, oneSample(1));
    raw.send(3, oneSample(3));
    const first = await raw.next('ack');
    expect(first.type === 'ack' && first.ack.upTo).toBe(1);
    raw.send(2, oneSample(2));
    let upTo = 0;
    await waitFor(() => {
      for (const f of raw.frames.splice(0))
        if (f.type === 'ack') upTo = Math.max(upTo, f.ack.upTo ?? 0);
      return upTo === 3;
    });
    expect(upTo).toBe(3);
    raw.ws.close();
  });
});

function pkiFor(deviceId: string): {
  ca: string;
  cert: string;
  key: string;
  servername: string;
  identityKey: Uint8Array;
} {
  const d = pki.devices[deviceId]!;
  return {
    ca: pki.ca.certPem,
    cert: d.certPem,
    key: d.keyPem,
    servername: 'localhost',
    identityKey: hubKey,
  };
}

// Keep the raw TLS import honest: a TLS 1.2-only client is refused by the hub's 1.3 policy.
describe('hub TLS policy', () => {
  it('refuses a TLS 1.2 client', async () => {
    const hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    });
    try {
      const d = pki.devices['XR200-A']!;
      const outcome = await new Promise<string>((resolve) => {
        const s = tlsConnect({
          host: '127.0.0.1',
          port: hub.port,
          ca: pki.ca.certPem,
          cert: d.certPem,
          key: d.keyPem,
          servername: 'localhost',
          maxVersion: 'TLSv1.2',
        });
        s.on('secureConnect', () => resolve('connected'));
        s.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      });
      expect(outcome).not.toBe('connected');
      expect(await waitFor(() => hub.stats().tlsErrors > 0)).toBe(true);
    } finally {
      await hub.close();
    }
  });
});
