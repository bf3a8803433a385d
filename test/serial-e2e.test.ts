/**
 * The whole chain over the serial service port: simulated XR-200 → socat PTY → the agent's
 * SerialAdapter → agent runtime → TLS tunnel → hub. An error line the controller pushes becomes
 * an alarm at the hub at once, without waiting for a poll; an error storm is coalesced.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import {
  createAgent,
  serialAdapter,
  serialCountersFromRegisterMap,
  type Agent,
  type SerialAdapter,
} from '../src/index.js';
import { catalogue, enrolIdentity, hubOptions, registerMap, waitFor } from './helpers.js';
import { describeWithTools, SOCAT, sleep } from './serial-helpers.js';

describeWithTools('serial service port end to end: sim → PTY → agent → hub', [SOCAT], () => {
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  let hub: Hub;
  let sim: Simulator;
  const agents: Agent[] = [];

  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: ['XR200-SER-1', 'XR200-SER-2'], hubName: 'test-hub' });
    hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    });
    sim = await startSimulator({
      seed: 5,
      controlPort: false,
      servicePort: true,
      workload: { exposuresPerMinute: 30 },
    });
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 2000 })));
  });
  afterAll(async () => {
    await hub?.close();
    await sim?.close();
  });

  function agentFor(
    deviceId: string,
    adapter: SerialAdapter,
    overrides: Partial<Parameters<typeof createAgent>[0]>,
  ): Agent {
    const agent = createAgent({
      identity: enrolIdentity(hub, deviceId).identity,
      adapter,
      errorCatalogue: catalogue,
      hub: hubOptions(hub, pki, deviceId),
      ...overrides,
    });
    agents.push(agent);
    return agent;
  }

  function adapter(): SerialAdapter {
    return serialAdapter({
      path: sim.servicePort!.agentPath,
      counters: serialCountersFromRegisterMap(registerMap),
      commandTimeoutMs: 1000,
    });
  }

  it('an error line becomes an alarm stored at the hub within 500 ms, with a 60 s poll and no error poll', async () => {
    const agent = agentFor('XR200-SER-1', adapter(), {
      pollIntervalMs: 60_000,
      errorPollIntervalMs: 0,
      telemetry: { sendIntervalMs: 60_000 },
    });
    await agent.start();
    expect(
      await waitFor(() => agent.stats().tunnel === 'open' && agent.stats().polls === 1, 10_000),
    ).toBe(true);

    const latencies: number[] = [];
    for (const code of [2003, 1001, 4002]) {
      let raisedAt = 0;
      const off = sim.onError((e) => {
        if (e.code === code && e.state === 'raised') raisedAt = e.wallTimeMs;
      });
      let storedAt = 0;
      const onStored = ({
        frame,
        storedAtMs,
      }: {
        frame: { type: string; alarm?: { code?: number | null; state?: number | null } };
        storedAtMs: number;
      }): void => {
        if (frame.type === 'alarm' && frame.alarm?.code === code && frame.alarm.state === 1)
          storedAt = storedAtMs;
      };
      hub.on('stored', onStored);
      sim.inject(code, { holdMs: 300 });
      expect(await waitFor(() => storedAt > 0, 2000, 5), `alarm ${code} stored`).toBe(true);
      hub.off('stored', onStored);
      off();
      latencies.push(storedAt - raisedAt);
      await sleep(400); // let it clear
    }
    console.log(`serial alarm latency, sim raise → hub stored: ${latencies.join(', ')} ms`);
    expect(Math.max(...latencies)).toBeLessThan(500);
    // It was the pushed line, not a poll: still only the first poll, and no error polls at all.
    expect(agent.stats()).toMatchObject({ polls: 1, errorPolls: 0 });
    const stored = hub.store
      .alarms('XR200-SER-1')
      .filter((a) => a.state === 'raised')
      .map((a) => a.code);
    expect(stored).toEqual(expect.arrayContaining([2003, 1001, 4002]));
  });

  it('an error storm (600 lines in a second) is coalesced; the agent keeps streaming', async () => {
    const a = adapter();
    const agent = agentFor('XR200-SER-2', a, {
      pollIntervalMs: 250,
      errorPollIntervalMs: 0,
      telemetry: { sendIntervalMs: 250 },
    });
    await agent.start();
    expect(await waitFor(() => hub.store.counts('XR200-SER-2').samples >= 2, 10_000)).toBe(true);
    const eventsBefore = a.health().events;
    const stormCode = 1003; // GEN_ARC_DETECTED, alarm-class
    sim.faults.storm({ code: stormCode, perSecond: 300, durationMs: 1000 });
    expect(await waitFor(() => a.health().events - eventsBefore >= 600, 5000)).toBe(true);
    const events = a.health().events - eventsBefore;

    const samplesAfterStorm = hub.store.counts('XR200-SER-2').samples;
    // Still streaming: telemetry keeps arriving, and another alarm gets through at once.
    expect(
      await waitFor(() => hub.store.counts('XR200-SER-2').samples >= samplesAfterStorm + 3, 5000),
    ).toBe(true);
    sim.inject(2003, { holdMs: 500 });
    expect(
      await waitFor(() => hub.store.alarms('XR200-SER-2').some((x) => x.code === 2003), 2000),
    ).toBe(true);

    const stats = agent.stats();
    const stormAlarms = hub.store.alarms('XR200-SER-2').filter((x) => x.code === stormCode);
    expect(stats.alarmsCoalesced).toBeGreaterThan(500);
    expect(stormAlarms.length).toBeGreaterThan(0);
    expect(stormAlarms.length).toBeLessThanOrEqual(4); // ≪ 600 events
    expect(stats.tunnel).toBe('open');
    expect(a.health().readsFailed).toBe(0);
    console.log(
      `storm: ${events} !EVT lines, ${stats.alarmsCoalesced} alarm changes coalesced, ${stormAlarms.length} alarms stored for ${stormCode}`,
    );
  });
});
