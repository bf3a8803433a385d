/**
 * The vendor-SDK binding in the whole system: simulator (SDK endpoint on a real Unix socket) →
 * IpcSdkClient → vendorSdkAdapter → agent → real TLS tunnel → hub.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import {
  AdapterError,
  IpcSdkClient,
  createAgent,
  vendorSdkAdapter,
  type Agent,
  type AgentConfig,
  type VendorSdkAdapter,
} from '../src/index.js';
import { catalogue, enrolIdentity, hubOptions, waitFor } from './helpers.js';

const DEVICES = ['XR200-SDK-PUSH', 'XR200-SDK-FAULT', 'XR200-SDK-STOP'] as const;
type Pki = Awaited<ReturnType<typeof createTestPki>>;

let pki: Pki;
let hub: Hub;
const identities: Record<string, ReturnType<typeof enrolIdentity>> = {};

beforeAll(async () => {
  pki = await createTestPki({ deviceIds: [...DEVICES], hubName: 'test-hub' });
  hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    heartbeatMs: 5000,
  });
  for (const id of DEVICES) identities[id] = enrolIdentity(hub, id);
});
afterAll(async () => {
  await hub.close();
});

describe('vendor SDK end to end', () => {
  let sim: Simulator;
  const agents: Agent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 2000 })));
    await sim.close();
  });

  function agentFor(
    deviceId: (typeof DEVICES)[number],
    adapter: VendorSdkAdapter,
    overrides: Partial<AgentConfig> = {},
  ): Agent {
    const agent = createAgent({
      identity: identities[deviceId]!.identity,
      adapter,
      errorCatalogue: catalogue,
      hub: hubOptions(hub, pki, deviceId),
      telemetry: { sendIntervalMs: 60_000 },
      ...overrides,
    });
    agents.push(agent);
    return agent;
  }

  it('stores a pushed alarm at the hub at once, with no poll to explain it, also after an endpoint restart', async () => {
    sim = await startSimulator({ controlPort: false, sdk: true, workload: { enabled: false } });
    sim.model.setExposures(123_456);
    const adapter = vendorSdkAdapter(new IpcSdkClient({ path: sim.sdk!.path }), {
      rearm: { initialMs: 50, maxMs: 500 },
    });
    // One poll at start, the next in a minute, and no fast error poll: only a push can deliver.
    const agent = agentFor('XR200-SDK-PUSH', adapter, {
      pollIntervalMs: 60_000,
      errorPollIntervalMs: 0,
    });
    const raisedAt = new Map<number, number>();
    sim.onError((e) => {
      if (e.state === 'raised') raisedAt.set(e.code, e.wallTimeMs);
    });
    await agent.start();
    expect(
      await waitFor(
        () =>
          agent.stats().tunnel === 'open' &&
          agent.stats().polls === 1 &&
          sim.sdk!.stats().subscribers === 1,
      ),
    ).toBe(true);

    sim.inject(2003); // TUBE_ROTOR_FAULT, alarm-class
    const stored = (code: number) =>
      hub.store.alarms('XR200-SDK-PUSH').find((a) => a.code === code && a.state === 'raised');
    expect(await waitFor(() => stored(2003) !== undefined, 3000)).toBe(true);
    expect(stored(2003)!.storedAtMs - raisedAt.get(2003)!).toBeLessThan(1000);
    expect(stored(2003)).toMatchObject({ severity: 4, subsystem: 'tube' });
    expect(agent.stats()).toMatchObject({ polls: 1, errorPolls: 0 });

    // The endpoint goes away and comes back: the push channel re-arms by itself (still no poll).
    await sim.sdk!.suspend();
    expect(await waitFor(() => !adapter.health().connected, 2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    await sim.sdk!.resume();
    expect(await waitFor(() => sim.sdk!.stats().subscribers === 1, 5000)).toBe(true);
    sim.inject(4002); // INTERLOCK_EMERGENCY_STOP, alarm-class
    expect(await waitFor(() => stored(4002) !== undefined, 3000)).toBe(true);
    expect(stored(4002)!.storedAtMs - raisedAt.get(4002)!).toBeLessThan(1000);
    expect(agent.stats()).toMatchObject({ polls: 1, errorPolls: 0, pollErrors: 0 });

    // The one poll's counters reached the hub as telemetry, matching the model.
    await agent.stop({ drainTimeoutMs: 3000 });
    const sample = hub.store.samples('XR200-SDK-PUSH').at(-1)!;
    expect(sample.values.exposures_total).toBe(123_456);
    expect(sample.values.door_closed).toBe(1);
    expect(sample.values.detector_temp).toBeCloseTo(sim.model.counters().detector_temp, 0);
  });

  it('turns every injected endpoint fault into a typed poll error and keeps running', async () => {
    sim = await startSimulator({ controlPort: false, sdk: true });
    const adapter = vendorSdkAdapter(new IpcSdkClient({ path: sim.sdk!.path }), {
      timeoutMs: 200,
    });
    const agent = agentFor('XR200-SDK-FAULT', adapter, {
      pollIntervalMs: 150,
      errorPollIntervalMs: 0,
      pollTimeoutMs: 1000,
    });
    const errors: string[] = [];
    agent.on('poll-error', (e) => errors.push(e instanceof AdapterError ? e.code : String(e)));
    await agent.start();
    expect(await waitFor(() => agent.stats().tunnel === 'open' && agent.stats().polls >= 2)).toBe(
      true,
    );

    const cases = [
      [{ kind: 'delay', ms: 500 }, 'SDK_TIMEOUT'],
      [{ kind: 'no-reply' }, 'SDK_TIMEOUT'],
      [{ kind: 'malformed' }, 'SDK_BAD_FRAME'],
      [{ kind: 'oversize' }, 'SDK_FRAME_TOO_LARGE'],
      [{ kind: 'drop' }, 'ADAPTER_DISCONNECTED'],
    ] as const;
    for (const [fault, code] of cases) {
      const seen = errors.length;
      sim.command(JSON.stringify({ cmd: 'sdk-fault', ...fault, count: 1, method: 'getCounters' }));
      expect(await waitFor(() => errors.length > seen, 3000)).toBe(true);
      expect(errors.slice(seen)).toEqual([code]);
      const polls = agent.stats().polls;
      expect(await waitFor(() => agent.stats().polls >= polls + 2, 3000)).toBe(true);
    }

    // The endpoint restarts: polls fail to connect meanwhile, then the next call reconnects.
    await sim.sdk!.suspend();
    const seen = errors.length;
    expect(await waitFor(() => errors.length > seen, 3000)).toBe(true);
    expect(['ADAPTER_CONNECT_FAILED', 'ADAPTER_DISCONNECTED', 'ADAPTER_NOT_CONNECTED']).toContain(
      errors[seen],
    );
    await sim.sdk!.resume();
    const polls = agent.stats().polls;
    expect(await waitFor(() => agent.stats().polls >= polls + 2, 3000)).toBe(true);

    expect(agent.stats().tunnel).toBe('open');
    const h = adapter.health();
    expect(h.connected).toBe(true);
    expect(h.timeouts).toBe(2);
    expect(h.readsFailed).toBeGreaterThanOrEqual(6);
    // Nothing was lost meanwhile: every telemetry record (adapter health included) is acked.
    await agent.flush();
    expect(await agent.drain(3000)).toBe(true);
  });

  it('a poll cancelled by stop() is not a failure', async () => {
    sim = await startSimulator({ controlPort: false, sdk: true });
    sim.sdk!.inject({ kind: 'no-reply', method: 'getCounters' });
    const adapter = vendorSdkAdapter(new IpcSdkClient({ path: sim.sdk!.path }), {
      timeoutMs: 20_000,
    });
    const agent = agentFor('XR200-SDK-STOP', adapter, {
      pollIntervalMs: 30_000,
      errorPollIntervalMs: 0,
    });
    await agent.start();
    // The first poll is now stuck in getCounters.
    expect(await waitFor(() => sim.sdk!.stats().faultsApplied === 1, 3000)).toBe(true);
    const t0 = Date.now();
    agents.splice(agents.indexOf(agent), 1);
    await agent.stop({ drainTimeoutMs: 1000 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(agent.stats().pollErrors).toBe(0);
    expect(adapter.health()).toMatchObject({ readsFailed: 0, timeouts: 0, connected: false });
  });
});
