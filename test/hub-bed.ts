/**
 * A test bed for tests that start hubs of their own: one throwaway PKI and one firmware
 * simulator for the file, hubs started with the PKI's server certificate, and agents polling
 * the simulator over Modbus TCP. Registers the vitest hooks that stop agents and close what
 * `cleanups` holds (last in, first out) after each test, and the simulator after the file.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub, type HubOptions } from '../hub/index.js';
import { createAgent, modbusTcpAdapter, type Agent, type AgentConfig } from '../src/index.js';
import { catalogue, registerMap } from './helpers.js';

type Pki = Awaited<ReturnType<typeof createTestPki>>;

export interface HubBed {
  /** Available from `beforeAll` on. */
  readonly pki: Pki;
  readonly sim: Simulator;
  /** Run after each test, last first (relays before the hubs they lead to). */
  readonly cleanups: Array<() => Promise<unknown> | void>;
  /** A hub on the bed's PKI, closed after the test. */
  hubWith(options?: Partial<HubOptions>): Promise<Hub>;
  /** An agent for `deviceId` polling the simulator every 100 ms, with a fast reconnect. */
  agentFor(
    deviceId: string,
    identity: { secretKey: Uint8Array },
    hub: { url: string; identityKey: Uint8Array },
    overrides?: Partial<AgentConfig>,
  ): Agent;
}

export function hubBed(o: { deviceIds: string[]; seed: number }): HubBed {
  let pki: Pki | undefined;
  let sim: Simulator | undefined;
  const agents: Agent[] = [];
  const cleanups: Array<() => Promise<unknown> | void> = [];
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the hub bed is used before its beforeAll ran');
    return v;
  };

  beforeAll(async () => {
    [pki, sim] = await Promise.all([
      createTestPki({ deviceIds: o.deviceIds, hubName: 'test-hub' }),
      startSimulator({ seed: o.seed, controlPort: false }),
    ]);
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 0 })));
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await sim?.close();
  });

  return {
    get pki() {
      return ready(pki);
    },
    get sim() {
      return ready(sim);
    },
    cleanups,
    async hubWith(options = {}) {
      const p = ready(pki);
      const hub = await startHub({
        tls: { cert: p.server.certPem, key: p.server.keyPem, ca: p.ca.certPem },
        ...options,
      });
      cleanups.push(() => hub.close());
      return hub;
    },
    agentFor(deviceId, identity, hub, overrides = {}) {
      const p = ready(pki);
      const d = p.devices[deviceId]!;
      const agent = createAgent({
        identity,
        adapter: modbusTcpAdapter({ host: '127.0.0.1', port: ready(sim).modbusPort, registerMap }),
        errorCatalogue: catalogue,
        hub: { ca: p.ca.certPem, cert: d.certPem, key: d.keyPem, servername: 'localhost', ...hub },
        pollIntervalMs: 100,
        errorPollIntervalMs: 0,
        telemetry: { sendIntervalMs: 200 },
        tunnel: { backoff: { baseMs: 50, capMs: 200 } },
        ...overrides,
      });
      agents.push(agent);
      return agent;
    },
  };
}
