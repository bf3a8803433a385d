import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type ModbusFaultSpec, type Simulator } from '../firmware-sim/index.js';
import {
  AdapterError,
  modbusTcpAdapter,
  type AdapterErrorCode,
  type ModbusAdapter,
} from '../src/index.js';
import { registerMap } from './helpers.js';

// The agent's Modbus TCP adapter against the simulator's own MBAP responder on loopback, with
// faults armed on the simulator's TCP face: each one must come out as its typed error code,
// retries must recover, and the agent must keep polling.
const TIMEOUT_MS = 250;

async function rejection(p: Promise<unknown>): Promise<AdapterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdapterError);
  return err as AdapterError;
}

const exposures = (s: { counters: Array<{ name: string; value: number }> }): number | undefined =>
  s.counters.find((c) => c.name === 'exposures_total')?.value;

describe('agent Modbus TCP adapter against faults on the simulator TCP face', () => {
  let sim: Simulator;
  let adapter: ModbusAdapter | undefined;

  beforeAll(async () => {
    sim = await startSimulator({ seed: 9, controlPort: false, tickMs: 0 });
    sim.model.step(10 * 60_000);
  });
  afterAll(async () => {
    await sim?.close();
  });
  afterEach(async () => {
    sim.modbusFaults.clear();
    await adapter?.close();
    adapter = undefined;
  });

  function connect(retries = 0): ModbusAdapter {
    adapter = modbusTcpAdapter({
      host: '127.0.0.1',
      port: sim.modbusPort,
      registerMap,
      timeoutMs: TIMEOUT_MS,
      retries,
    });
    return adapter;
  }

  const faults: Array<[string, ModbusFaultSpec, AdapterErrorCode]> = [
    ['no reply', { kind: 'no-reply' }, 'MODBUS_TIMEOUT'],
    [
      'a reply later than the timeout',
      { kind: 'delay', delayMs: 2 * TIMEOUT_MS },
      'MODBUS_TIMEOUT',
    ],
    ['a truncated frame', { kind: 'truncate' }, 'MODBUS_SHORT_REPLY'],
    ['garbage bytes', { kind: 'garbage' }, 'ADAPTER_BAD_REPLY'],
    ['an exception reply', { kind: 'exception', exceptionCode: 11 }, 'MODBUS_EXCEPTION'],
    ['dropped connections', { kind: 'disconnect' }, 'ADAPTER_DISCONNECTED'],
  ];
  for (const [what, spec, code] of faults) {
    it(`${what} is ${code}; the next poll reads correct values`, async () => {
      const a = connect(0);
      await a.readSnapshot();
      sim.modbusFaults.add({ ...spec, face: 'tcp', count: 1 });
      const t0 = performance.now();
      const err = await rejection(a.readSnapshot());
      expect(err.code).toBe(code);
      expect(err.canceled).toBe(false);
      if (code === 'MODBUS_EXCEPTION') expect(err.modbusException).toBe(11);
      // A dropped connection and bytes that are not Modbus TCP are noticed at once, not after
      // the timeout.
      if (code === 'ADAPTER_DISCONNECTED' || code === 'ADAPTER_BAD_REPLY')
        expect(performance.now() - t0).toBeLessThan(TIMEOUT_MS);
      expect(a.health()).toMatchObject({ lastErrorCode: code, readsFailed: 1 });
      if (spec.kind === 'delay') await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
      const snap = await a.readSnapshot();
      expect(exposures(snap)).toBe(sim.snapshot().counters.exposures_total);
      expect(snap.missing).toEqual([]);
      expect(a.health().connected).toBe(true);
    });
  }

  it('bad-crc cannot be armed on TCP (no CRC there): a typed simulator error', () => {
    expect(() => sim.modbusFaults.add({ kind: 'bad-crc', face: 'tcp' })).toThrow(
      expect.objectContaining({ code: 'SIM_BAD_ARGUMENT' }),
    );
  });

  it('after a cut-short or garbled reply the client reconnects, then reads cleanly', async () => {
    const a = connect(1);
    await a.readSnapshot();
    sim.modbusFaults.add({ kind: 'garbage', face: 'tcp', count: 1 });
    const snap = await a.readSnapshot(); // first attempt garbage, retry on a fresh connection
    expect(exposures(snap)).toBe(sim.snapshot().counters.exposures_total);
    expect(a.health()).toMatchObject({ readsFailed: 1, lastErrorCode: 'ADAPTER_BAD_REPLY' });
  });

  it('retries within the budget recover from transient faults; health shows them', async () => {
    const a = connect(1);
    for (const kind of ['truncate', 'garbage', 'no-reply'] as const) {
      sim.modbusFaults.add({ kind, face: 'tcp', count: 1 });
      expect((await a.readSnapshot()).missing).toEqual([]);
    }
    expect(a.health()).toMatchObject({
      connected: true,
      readsOk: 6,
      readsFailed: 3,
      timeouts: 1,
      lastErrorCode: 'MODBUS_TIMEOUT',
    });
  });

  it('a dropped connection fails that poll only: the next poll reconnects on its own', async () => {
    const a = connect(3);
    await a.readSnapshot();
    sim.modbusFaults.add({ kind: 'disconnect', face: 'tcp', downMs: 100 });
    expect((await rejection(a.readSnapshot())).code).toBe('ADAPTER_DISCONNECTED');
    expect(a.health().connected).toBe(false);
    // Refused while down: a connect failure, not a crash.
    const down = await a.readSnapshot().catch((e: unknown) => e);
    if (down instanceof AdapterError)
      expect(down.code).toMatch(/ADAPTER_(CONNECT_FAILED|DISCONNECTED)/);
    await new Promise((r) => setTimeout(r, 150));
    expect(exposures(await a.readSnapshot())).toBe(sim.snapshot().counters.exposures_total);
  });

  it('keeps polling through random faults: every poll is data or a typed error', async () => {
    const a = connect(2);
    sim.modbusFaults.add({ kind: 'garbage', face: 'tcp', probability: 0.1 });
    sim.modbusFaults.add({ kind: 'truncate', face: 'tcp', probability: 0.1 });
    sim.modbusFaults.add({ kind: 'exception', face: 'tcp', probability: 0.05, exceptionCode: 6 });
    let ok = 0;
    for (let i = 0; i < 30; i++) {
      try {
        expect(exposures(await a.readSnapshot())).toBe(sim.snapshot().counters.exposures_total);
        ok++;
      } catch (err) {
        expect(err).toBeInstanceOf(AdapterError);
        expect(['MODBUS_SHORT_REPLY', 'ADAPTER_BAD_REPLY', 'MODBUS_EXCEPTION']).toContain(
          (err as AdapterError).code,
        );
      }
    }
    expect(ok).toBeGreaterThan(18);
    expect(a.health().readsFailed).toBeGreaterThan(3);
  });
});
