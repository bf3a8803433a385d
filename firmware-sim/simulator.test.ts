import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import type { ControllerErrorEvent } from './model.js';
import { SimBadArgumentError, SimListenFailedError, SimMapInvalidError } from './errors.js';
import { startSimulator, type Simulator } from './simulator.js';
import { closeClient, modbusClient } from './test-helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('startSimulator', () => {
  let sim: Simulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('ticks the model in (scaled) wall time', async () => {
    sim = await startSimulator({
      tickMs: 20,
      timeScale: 50,
      controlPort: false,
      workload: { exposuresPerMinute: 30 },
    });
    expect(sim.modbusPort).toBeGreaterThan(0);
    expect(sim.controlPort).toBeNull();
    const t0 = performance.now();
    await sleep(400);
    const wall = performance.now() - t0;
    const modelMs = sim.snapshot().modelTimeMs;
    expect(modelMs).toBeGreaterThan(50 * (wall - 250)); // slack for a busy event loop
    expect(modelMs).toBeLessThan(50 * (wall + 50));
    const client = await modbusClient(sim.modbusPort);
    const uptime = (await client.readHoldingRegisters(9, 2)).data;
    await closeClient(client);
    expect(uptime[0] ?? -1).toBe(0);
    expect(uptime[1]).toBeGreaterThanOrEqual(10);
  });

  it('stamps raise events with the wall time of the raise', async () => {
    sim = await startSimulator({ tickMs: 0, controlPort: false, workload: { enabled: false } });
    const events: ControllerErrorEvent[] = [];
    const off = sim.onError((e) => events.push(e));
    const before = Date.now();
    expect(sim.inject(1003, { holdMs: 500 })).toBe(true);
    const after = Date.now();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      code: 1003,
      name: 'GEN_ARC_DETECTED',
      immediate: true,
      state: 'raised',
    });
    expect(events[0]?.wallTimeMs).toBeGreaterThanOrEqual(before);
    expect(events[0]?.wallTimeMs).toBeLessThanOrEqual(after);
    sim.model.step(500);
    expect(events.map((e) => e.state)).toEqual(['raised', 'cleared']);
    off();
    sim.inject(1003);
    expect(events).toHaveLength(2);
    expect(sim.snapshot()).toMatchObject({
      activeCodes: [1003],
      counters: { error_events_total: 2 },
    });
  });

  it('raises a condition code from its own ticking, visible over Modbus', async () => {
    sim = await startSimulator({
      tickMs: 10,
      timeScale: 1,
      controlPort: false,
      workload: { enabled: false },
    });
    const raised = new Promise<ControllerErrorEvent>((resolve) => sim?.onError(resolve));
    sim.model.setDoor(false);
    expect((await raised).code).toBe(4001);
    const client = await modbusClient(sim.modbusPort);
    expect((await client.readHoldingRegisters(100, 1)).data).toEqual([4001]);
    await closeClient(client);
  });

  it('serves a custom register map', async () => {
    const json = JSON.parse(JSON.stringify(registerMapJson)) as typeof registerMapJson;
    json.unitId = 5;
    for (const c of json.counters) c.address += 1000;
    sim = await startSimulator({
      tickMs: 0,
      controlPort: false,
      registerMap: json,
      workload: { enabled: false },
    });
    sim.model.setExposures(70_000);
    const client = await modbusClient(sim.modbusPort, 5);
    try {
      expect((await client.readHoldingRegisters(1000, 2)).data).toEqual([1, 70_000 - 65_536]);
    } finally {
      await closeClient(client);
    }
    await expect(
      startSimulator({ registerMap: { ...json, counters: 'nope' }, controlPort: false }),
    ).rejects.toBeInstanceOf(SimMapInvalidError);
  });

  it('validates its options', async () => {
    await expect(startSimulator({ timeScale: 0 })).rejects.toBeInstanceOf(SimBadArgumentError);
    await expect(startSimulator({ modbusPort: 70_000 })).rejects.toBeInstanceOf(
      SimBadArgumentError,
    );
    await expect(startSimulator({ tickMs: -1 })).rejects.toBeInstanceOf(SimBadArgumentError);
  });

  it('closes the Modbus face when the control port cannot be opened', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const err = await startSimulator({ controlPort: taken }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SimListenFailedError);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('closes idempotently and frees its ports', async () => {
    const s = await startSimulator({ tickMs: 10 });
    const ports = [s.modbusPort, s.controlPort as number];
    await Promise.all([s.close(), s.close()]);
    await s.close();
    for (const port of ports) {
      const err = await new Promise<unknown>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(null);
        });
        socket.once('error', resolve);
      });
      expect(err).toMatchObject({ code: 'ECONNREFUSED' });
    }
    const at = s.snapshot().modelTimeMs;
    await sleep(50);
    expect(s.snapshot().modelTimeMs).toBe(at); // no more ticking
  });
});
