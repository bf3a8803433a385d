/**
 * The inner Ed25519 handshake (DESIGN.md "Tunnel and identity"): replay, relay, wrong keys,
 * hub impersonation, load-balancer mode and its downgrade, and nodes sharing one identity.
 * Real TLS 1.3 on loopback, real hubs, real agents against the firmware simulator.
 */
import nacl from 'tweetnacl';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import {
  createAgent,
  modbusTcpAdapter,
  type Agent,
  type AgentConfig,
  type TunnelError,
} from '../src/index.js';
import { catalogue, enrolIdentity, registerMap, waitFor } from './helpers.js';
import { openProbe, startTlsTerminator, startWsRelay, type Forwarder } from './relay.js';

type Pki = Awaited<ReturnType<typeof createTestPki>>;

const IDS = [
  'HS-REPLAY',
  'HS-RELAY',
  'HS-WRONGKEY',
  'HS-UNREG',
  'HS-PINNED',
  'HS-LB',
  'HS-LB-BAD',
  'HS-DOWNGRADE',
  'HS-SHARED',
];

let pki: Pki;
let rogue: Pki;
let sim: Simulator;
let hub: Hub;
const cleanups: Array<() => Promise<unknown>> = [];
const agents: Agent[] = [];

beforeAll(async () => {
  [pki, rogue, sim] = await Promise.all([
    createTestPki({ deviceIds: IDS, hubName: 'test-hub' }),
    createTestPki({ deviceIds: ['HS-LB'], hubName: 'rogue' }),
    startSimulator({ seed: 11, controlPort: false }),
  ]);
  hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
  });
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 0 })));
  // Last started, first stopped: relays go before the hubs they lead to.
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await Promise.all([hub?.close(), sim?.close()]);
});

function tlsFor(deviceId: string): { ca: string; cert: string; key: string; servername: string } {
  const d = pki.devices[deviceId]!;
  return { ca: pki.ca.certPem, cert: d.certPem, key: d.keyPem, servername: 'localhost' };
}

/** A real agent against the simulator; `hub` overrides parts of the hub config. */
function agentFor(
  deviceId: string,
  identity: { secretKey: Uint8Array },
  hubConfig: Partial<AgentConfig['hub']> & { url: string; identityKey: Uint8Array },
): Agent {
  const agent = createAgent({
    identity,
    adapter: modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap }),
    errorCatalogue: catalogue,
    hub: { ...tlsFor(deviceId), ...hubConfig },
    pollIntervalMs: 100,
    errorPollIntervalMs: 0,
    telemetry: { sendIntervalMs: 200 },
    tunnel: { backoff: { baseMs: 50, capMs: 200 } },
  });
  agents.push(agent);
  return agent;
}

/** Records what an agent goes through. */
function watch(agent: Agent): { downs: TunnelError[]; states: string[] } {
  const seen = { downs: [] as TunnelError[], states: [] as string[] };
  agent.on('tunnel-down', (e) => seen.downs.push(e));
  agent.on('tunnel-state', (s) => seen.states.push(s));
  return seen;
}

function protocolErrors(h: Hub, deviceId: string): string[] {
  return h.store
    .securityEvents()
    .filter((e) => e.kind === 'protocol-error' && e.deviceId === deviceId)
    .map((e) => e.detail);
}

describe('the inner handshake on a direct TLS hub', () => {
  it('refuses a replayed DeviceAuth (4401 OUTPOST_HANDSHAKE_AUTH_FAILED) and audits it', async () => {
    const id = 'HS-REPLAY';
    const keys = enrolIdentity(hub, id);
    // Session 1: a legitimate device; record the exact DeviceAuth bytes it sends.
    const first = await openProbe(hub.url, tlsFor(id), id, hub.identityPublicKey);
    const captured = await first.handshake(keys.identity.secretKey);
    expect(first.sent).toHaveLength(1);
    expect(Buffer.from(first.sent[0]!).equals(Buffer.from(captured))).toBe(true);
    expect(await waitFor(() => hub.isConnected(id), 2000)).toBe(true);
    await first.close();
    expect(await waitFor(() => !hub.isConnected(id), 2000)).toBe(true);

    // Session 2: same client certificate, the captured bytes after the new Hello.
    const errorsBefore = protocolErrors(hub, id).length;
    const second = await openProbe(hub.url, tlsFor(id), id, hub.identityPublicKey);
    await second.next('hello');
    second.sendRaw(captured);
    const error = await second.next('error');
    expect(error.frame.type === 'error' && error.frame.error.code).toBe(
      'OUTPOST_HANDSHAKE_AUTH_FAILED',
    );
    expect((await second.closed).code).toBe(4401);
    expect(second.received.some((r) => r.frame.type === 'hubAuth')).toBe(false);
    expect(hub.isConnected(id)).toBe(false);
    const audit = protocolErrors(hub, id).slice(errorsBefore);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatch(/^OUTPOST_HANDSHAKE_AUTH_FAILED: /);
  });

  it('refuses a relayed handshake: the TLS exporters of the two legs differ', async () => {
    const id = 'HS-RELAY';
    const keys = enrolIdentity(hub, id);
    // The attacker holds the hub's TLS key and the device's TLS certificate, not the
    // identity keys of either side.
    const relay = await startWsRelay({
      upstreamUrl: hub.url,
      server: pki.server,
      client: tlsFor(id),
    });
    cleanups.push(() => relay.close());
    const agent = agentFor(id, keys.identity, { url: relay.url, identityKey: keys.identityKey });
    const seen = watch(agent);
    await agent.start();
    expect(await waitFor(() => seen.downs.length >= 2, 5000)).toBe(true);
    // Let it keep retrying for a while: it must never get in.
    await new Promise((r) => setTimeout(r, 500));
    await agent.stop({ drainTimeoutMs: 0 });

    // The relay carried the hub's Hello and the agent's DeviceAuth: the refusal is the hub's
    // signature check, not a broken pipe. (The last attempt may have been cut short by stop().)
    const refused = relay.hubCloses.filter((c) => c === 4401).length;
    expect(refused).toBeGreaterThanOrEqual(2);
    expect(relay.hubCloses.length - refused).toBeLessThanOrEqual(1);
    expect(relay.toHub).toBeGreaterThanOrEqual(refused);
    expect(relay.toAgent).toBeGreaterThanOrEqual(2 * refused); // Hello + ProtocolError each
    const audit = protocolErrors(hub, id);
    expect(audit.length).toBeGreaterThanOrEqual(2);
    for (const detail of audit) expect(detail).toMatch(/^OUTPOST_HANDSHAKE_AUTH_FAILED: /);
    expect(seen.downs[0]!.closeCode).toBe(4401);
    expect(seen.states).not.toContain('open');
    expect(agent.stats().framesSent).toBe(0);
    expect(hub.store.counts(id)).toMatchObject({ samples: 0, frames: 0 });
  });

  it('refuses a device signing with a key other than its registered one (4401)', async () => {
    const id = 'HS-WRONGKEY';
    enrolIdentity(hub, id);
    const impostor = nacl.sign.keyPair();
    const probe = await openProbe(hub.url, tlsFor(id), id, hub.identityPublicKey);
    await probe.answerHello(impostor.secretKey);
    const error = await probe.next('error');
    expect(error.frame.type === 'error' && error.frame.error.code).toBe(
      'OUTPOST_HANDSHAKE_AUTH_FAILED',
    );
    expect((await probe.closed).code).toBe(4401);
    expect(probe.received.some((r) => r.frame.type === 'hubAuth')).toBe(false);
    expect(protocolErrors(hub, id).at(-1)).toMatch(/^OUTPOST_HANDSHAKE_AUTH_FAILED: /);
  });

  it('refuses a device with no registered identity key (4403 OUTPOST_DEVICE_NOT_ENROLLED)', async () => {
    const id = 'HS-UNREG';
    // A valid client certificate from the device CA, but no identity key registered.
    const probe = await openProbe(hub.url, tlsFor(id), id, hub.identityPublicKey);
    await probe.answerHello(nacl.sign.keyPair().secretKey);
    const error = await probe.next('error');
    expect(error.frame.type === 'error' && error.frame.error.code).toBe(
      'OUTPOST_DEVICE_NOT_ENROLLED',
    );
    expect((await probe.closed).code).toBe(4403);
    expect(hub.isConnected(id)).toBe(false);
    expect(protocolErrors(hub, id).at(-1)).toMatch(/^OUTPOST_DEVICE_NOT_ENROLLED: /);
  });

  it('an agent pinned to another hub identity refuses this hub and sends no data', async () => {
    const id = 'HS-PINNED';
    const keys = enrolIdentity(hub, id);
    const other = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    });
    cleanups.push(() => other.close());
    expect(Buffer.from(other.identityPublicKey).equals(Buffer.from(hub.identityPublicKey))).toBe(
      false,
    );
    // Same CA, same TLS certificate: only the identity key tells the hubs apart.
    const agent = agentFor(id, keys.identity, {
      url: hub.url,
      identityKey: other.identityPublicKey,
    });
    const seen = watch(agent);
    await agent.start();
    expect(await waitFor(() => seen.downs.length >= 2, 5000)).toBe(true);
    await agent.stop({ drainTimeoutMs: 0 });
    expect(seen.downs[0]!.code).toBe('TUNNEL_HUB_AUTH_FAILED');
    expect(seen.downs.every((d) => d.code === 'TUNNEL_HUB_AUTH_FAILED')).toBe(true);
    expect(seen.states).not.toContain('open');
    expect(agent.stats().framesSent).toBe(0);
    expect(agent.stats().polls).toBeGreaterThan(0); // it had data to send
    expect(hub.store.counts(id)).toMatchObject({ samples: 0, frames: 0, alarms: 0 });
  });

  it('two hubs sharing one identity key both accept the same pinned agent', async () => {
    const id = 'HS-SHARED';
    const b = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      identityKeyPem: hub.identity.toPem(),
    });
    cleanups.push(() => b.close());
    expect(Buffer.from(b.identityPublicKey).equals(Buffer.from(hub.identityPublicKey))).toBe(true);
    const keys = enrolIdentity(hub, id);
    b.registerDevice(id, keys.publicKey);
    const pinned = hub.identityPublicKey;
    for (const target of [hub, b]) {
      const agent = agentFor(id, keys.identity, { url: target.url, identityKey: pinned });
      const seen = watch(agent);
      await agent.start();
      expect(await waitFor(() => target.store.counts(id).samples >= 2, 5000)).toBe(true);
      expect(seen.downs).toEqual([]);
      await agent.stop({ drainTimeoutMs: 2000 });
    }
  });
});

describe('load-balancer mode (TLS terminated upstream)', () => {
  let lbHub: Hub;
  let lb: Forwarder;
  let lbUrl: string;

  beforeAll(async () => {
    lbHub = await startHub({ tlsTerminatedUpstream: true });
    lb = await startTlsTerminator({
      cert: pki.server.certPem,
      key: pki.server.keyPem,
      targetPort: lbHub.port,
    });
    lbUrl = `wss://127.0.0.1:${lb.port}/v1/tunnel`;
  });
  afterAll(async () => {
    await lb?.close();
    await lbHub?.close();
  });

  it('serves plain ws:// behind the balancer and the agent dials wss:// to the balancer', () => {
    expect(lbHub.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/tunnel$/);
    expect(lbUrl).toMatch(/^wss:/);
  });

  it('lets a terminated-upstream agent in through the balancer, identity by the handshake alone', async () => {
    const id = 'HS-LB';
    const keys = enrolIdentity(lbHub, id);
    // A client certificate from another CA entirely: the balancer never asks for it and the
    // hub never sees it, so it cannot be what lets the device in.
    const agent = agentFor(id, keys.identity, {
      url: lbUrl,
      identityKey: lbHub.identityPublicKey,
      terminatedUpstream: true,
      cert: rogue.devices[id]!.certPem,
      key: rogue.devices[id]!.keyPem,
    });
    const seen = watch(agent);
    const lbConnections = lb.connections;
    await agent.start();
    expect(await waitFor(() => lbHub.store.counts(id).samples >= 3, 5000)).toBe(true);
    expect(lbHub.isConnected(id)).toBe(true);
    expect(seen.downs).toEqual([]);
    expect(lb.connections).toBe(lbConnections + 1);
  });

  it('behind the balancer, a wrong identity key is still refused (4401)', async () => {
    const id = 'HS-LB-BAD';
    enrolIdentity(lbHub, id);
    const agent = agentFor(
      id,
      { secretKey: nacl.sign.keyPair().secretKey },
      {
        url: lbUrl,
        identityKey: lbHub.identityPublicKey,
        terminatedUpstream: true,
      },
    );
    const seen = watch(agent);
    await agent.start();
    expect(await waitFor(() => seen.downs.length >= 1, 5000)).toBe(true);
    await agent.stop({ drainTimeoutMs: 0 });
    expect(seen.downs[0]!.closeCode).toBe(4401);
    expect(seen.states).not.toContain('open');
    expect(protocolErrors(lbHub, id).at(-1)).toMatch(/^OUTPOST_HANDSHAKE_AUTH_FAILED: /);
    expect(lbHub.store.counts(id).frames).toBe(0);
  });

  it('behind the balancer, a replayed DeviceAuth fails: the hub nonce alone keeps it fresh', async () => {
    const id = 'HS-LB';
    const keys = enrolIdentity(lbHub, id);
    const first = await openProbe(lbUrl, { ca: pki.ca.certPem }, id, lbHub.identityPublicKey);
    const captured = await first.handshake(keys.identity.secretKey, { terminatedUpstream: true });
    await first.close();
    const second = await openProbe(lbUrl, { ca: pki.ca.certPem }, id, lbHub.identityPublicKey);
    await second.next('hello');
    second.sendRaw(captured);
    const error = await second.next('error');
    expect(error.frame.type === 'error' && error.frame.error.code).toBe(
      'OUTPOST_HANDSHAKE_AUTH_FAILED',
    );
    expect((await second.closed).code).toBe(4401);
  });

  it('refuses an agent bound to its TLS exporter (OUTPOST_CHANNEL_BINDING_MISMATCH)', async () => {
    const id = 'HS-DOWNGRADE';
    const keys = enrolIdentity(lbHub, id);
    const agent = agentFor(id, keys.identity, {
      url: lbUrl,
      identityKey: lbHub.identityPublicKey,
      terminatedUpstream: false,
    });
    const seen = watch(agent);
    await agent.start();
    expect(await waitFor(() => seen.downs.length >= 1, 5000)).toBe(true);
    await agent.stop({ drainTimeoutMs: 0 });
    expect(seen.downs[0]!.closeCode).toBe(4401);
    expect(seen.states).not.toContain('open');
    expect(protocolErrors(lbHub, id).at(-1)).toMatch(/^OUTPOST_CHANNEL_BINDING_MISMATCH: /);
    expect(lbHub.store.counts(id).frames).toBe(0);
  });

  it('a direct-TLS hub refuses a device that claims TLS is terminated upstream (no downgrade)', async () => {
    const id = 'HS-DOWNGRADE';
    const keys = enrolIdentity(hub, id);
    const agent = agentFor(id, keys.identity, {
      url: hub.url,
      identityKey: hub.identityPublicKey,
      terminatedUpstream: true,
    });
    const seen = watch(agent);
    await agent.start();
    expect(await waitFor(() => seen.downs.length >= 1, 5000)).toBe(true);
    await agent.stop({ drainTimeoutMs: 0 });
    expect(seen.downs[0]!.closeCode).toBe(4401);
    expect(seen.states).not.toContain('open');
    expect(protocolErrors(hub, id).at(-1)).toMatch(/^OUTPOST_CHANNEL_BINDING_MISMATCH: /);
    expect(hub.store.counts(id).frames).toBe(0);

    // The same signed-marker handshake through a raw client: refused at the hub too, so no
    // agent-side setting can talk a direct hub into the weaker binding.
    const probe = await openProbe(hub.url, tlsFor(id), id, hub.identityPublicKey);
    await probe.answerHello(keys.identity.secretKey, { terminatedUpstream: true });
    const error = await probe.next('error');
    expect(error.frame.type === 'error' && error.frame.error.code).toBe(
      'OUTPOST_CHANNEL_BINDING_MISMATCH',
    );
    expect((await probe.closed).code).toBe(4401);
  });
});
