import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { AdapterError, modbusTcpAdapter, type ModbusAdapter } from '../src/index.js';
import { registerMap } from './helpers.js';

// The agent's Modbus adapter against the simulator over real Modbus TCP on loopback. The
// simulator encodes registers with its own code; the agent decodes with its own.
describe('agent Modbus TCP adapter against the firmware simulator', () => {
  let sim: Simulator | undefined;
  let adapter: ModbusAdapter | undefined;
  afterEach(async () => {
    await adapter?.close();
    await sim?.close();
    adapter = sim = undefined;
  });

  async function setup(
    options: Parameters<typeof startSimulator>[0] = {},
  ): Promise<{ sim: Simulator; adapter: ModbusAdapter }> {
    sim = await startSimulator({ seed: 7, controlPort: false, tickMs: 0, ...options });
    adapter = modbusTcpAdapter({
      host: '127.0.0.1',
      port: sim.modbusPort,
      registerMap,
      timeoutMs: 1000,
    });
    await adapter.connect();
    return { sim, adapter };
  }

  function byName(s: Awaited<ReturnType<ModbusAdapter['readSnapshot']>>): Record<string, number> {
    return Object.fromEntries(s.counters.map((c) => [c.name, c.value]));
  }

  it('reads every counter with the values of the model', async () => {
    const { sim, adapter } = await setup();
    sim.model.step(20 * 60_000); // 20 minutes of seeded workload
    const model = sim.snapshot().counters;
    const snap = await adapter.readSnapshot();
    expect(snap.missing).toEqual([]);
    const got = byName(snap);
    expect(Object.keys(got).sort()).toEqual(Object.keys(model).sort());
    expect(model.exposures_total).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(model)) {
      // The register map quantises to its scale (0.1 for temperatures and kV).
      const def = registerMap.counters.find((c) => c.name === name)!;
      expect(got[name], name).toBeCloseTo(value, def.scale < 1 ? 1 : 0);
    }
    // Two reads: the 18 counter registers, and the 8 error slots at 100.
    expect(adapter.plannedReads).toEqual([
      { table: 'holding', address: 0, count: 18 },
      { table: 'holding', address: 100, count: 8 },
    ]);
  });

  it('follows a 32-bit counter across its wrap', async () => {
    const { sim, adapter } = await setup();
    sim.model.setExposures(2 ** 32 - 2);
    const before = byName(await adapter.readSnapshot());
    expect(before.exposures_total).toBe(2 ** 32 - 2);
    sim.model.expose(80, 200, 50);
    sim.model.expose(80, 200, 50);
    sim.model.expose(80, 200, 50);
    const after = byName(await adapter.readSnapshot());
    expect(after.exposures_total).toBe(1);
  });

  it("reads a negative detector temperature (i16 two's complement)", async () => {
    const { sim, adapter } = await setup({ ambientC: -12.3 });
    const model = sim.snapshot().counters.detector_temp;
    expect(model).toBeLessThan(0);
    const got = byName(await adapter.readSnapshot()).detector_temp;
    expect(got).toBeCloseTo(model, 1);
    expect(got).toBeLessThan(0);
  });

  it('sees an injected code in the error slots and the raise counter', async () => {
    const { sim, adapter } = await setup();
    const before = await adapter.readActiveErrors();
    sim.inject(2003);
    sim.inject(3004);
    const after = await adapter.readActiveErrors();
    expect(after.codes.sort()).toEqual([2003, 3004]);
    expect(after.raisesTotal).toBe((before.raisesTotal ?? 0) + 2);
  });

  it('reports a dead controller as a typed error and recovers when it is back', async () => {
    const first = await setup();
    const port = first.sim.modbusPort;
    await first.sim.close();
    const err = await adapter!.readSnapshot().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect([
      'ADAPTER_DISCONNECTED',
      'ADAPTER_CONNECT_FAILED',
      'ADAPTER_NOT_CONNECTED',
      'MODBUS_TIMEOUT',
    ]).toContain((err as AdapterError).code);
    expect(adapter!.health().readsFailed).toBeGreaterThan(0);
    sim = await startSimulator({ seed: 7, controlPort: false, tickMs: 0, modbusPort: port });
    const snap = await adapter!.readSnapshot();
    expect(snap.counters.length).toBe(registerMap.counters.length);
  });
});
