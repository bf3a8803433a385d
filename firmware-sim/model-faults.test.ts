import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SimBadArgumentError, SimUnknownErrorCodeError } from './errors.js';
import { ControllerClock, ModelFaults, type PowerState } from './model-faults.js';
import { ControllerModel, type ControllerErrorEvent } from './model.js';
import { startSimulator, type Simulator } from './simulator.js';
import { closeClient, modbusClient } from './test-helpers.js';

const DET_LINK_LOST = 3003;
const TUBE_OVERHEAT = 2002;
const INTERLOCK_DOOR_OPEN = 4001;
const SW_WATCHDOG_RESET = 7001;
const TWO_POW_32 = 2 ** 32;

function rig(wall = () => 1_000_000): {
  model: ControllerModel;
  faults: ModelFaults;
  events: ControllerErrorEvent[];
} {
  const clock = new ControllerClock(wall);
  const model = new ControllerModel({ workload: { enabled: false }, wallClock: () => clock.now() });
  const faults = new ModelFaults(model, clock);
  const events: ControllerErrorEvent[] = [];
  model.onError((e) => events.push(e));
  return { model, faults, events };
}

describe('error storm', () => {
  it('raises and clears a code N times a second at exact model times', () => {
    const { model, faults, events } = rig();
    faults.storm({ code: DET_LINK_LOST, perSecond: 300, durationMs: 2000 });
    faults.step(2500);
    const raises = events.filter((e) => e.state === 'raised');
    const clears = events.filter((e) => e.state === 'cleared');
    expect(raises).toHaveLength(600);
    expect(clears).toHaveLength(600);
    expect(raises[1]!.modelTimeMs).toBeCloseTo(1000 / 300, 6);
    expect(clears[0]!.modelTimeMs).toBeCloseTo(500 / 300, 6);
    expect(raises.at(-1)!.modelTimeMs).toBeCloseTo((599 * 1000) / 300, 6);
    expect(model.counters().error_events_total).toBe(600);
    expect(model.activeCodes()).toEqual([]);
    expect(model.timeMs).toBeCloseTo(2500, 6);
    expect(faults.status().storms).toEqual([]);
  });

  it('gives the same edges whatever the step size, and shows the half-cycle a read lands in', () => {
    const a = rig();
    const b = rig();
    a.faults.storm({ code: DET_LINK_LOST, perSecond: 250, durationMs: 1000 });
    b.faults.storm({ code: DET_LINK_LOST, perSecond: 250, durationMs: 1000 });
    a.faults.step(1000);
    const seen: boolean[] = [];
    for (let i = 0; i < 1000; i++) {
      b.faults.step(1);
      seen.push(b.model.activeCodes().includes(DET_LINK_LOST));
    }
    expect(b.events.map((e) => [e.state, e.modelTimeMs.toFixed(6)])).toEqual(
      a.events.map((e) => [e.state, e.modelTimeMs.toFixed(6)]),
    );
    // Period 4 ms: raised for 2 ms, cleared for 2 ms.
    expect(seen.slice(0, 8)).toEqual([true, false, false, true, true, false, false, true]);
  });

  it('sustains thousands of cycles a second', () => {
    const { model, faults } = rig();
    const t0 = performance.now();
    faults.storm({ code: DET_LINK_LOST, perSecond: 5000, durationMs: 1000 });
    for (let i = 0; i < 10; i++) faults.step(100);
    expect(model.counters().error_events_total).toBe(5000);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('refuses an unknown code and out-of-range rates', () => {
    const { faults } = rig();
    expect(() => faults.storm({ code: 9999, perSecond: 10, durationMs: 100 })).toThrow(
      SimUnknownErrorCodeError,
    );
    expect(() => faults.storm({ code: DET_LINK_LOST, perSecond: 0, durationMs: 100 })).toThrow(
      SimBadArgumentError,
    );
    expect(() => faults.storm({ code: DET_LINK_LOST, perSecond: 20_000, durationMs: 100 })).toThrow(
      SimBadArgumentError,
    );
    expect(() => faults.storm({ code: DET_LINK_LOST, perSecond: 10, durationMs: 0 })).toThrow(
      SimBadArgumentError,
    );
  });
});

describe('counter wrap', () => {
  it('jumps exposures_total below 2^32 so the next exposures wrap it', () => {
    const { model, faults } = rig();
    expect(faults.wrap('exposures_total', 2)).toBe(TWO_POW_32 - 2);
    model.expose(80, 200, 100);
    expect(model.counters().exposures_total).toBe(TWO_POW_32 - 1);
    model.expose(80, 200, 100);
    model.expose(80, 200, 100);
    expect(model.counters().exposures_total).toBe(1);
  });

  it('jumps tube_mas_total (0.1 mAs steps) below 2^32', () => {
    const { model, faults } = rig();
    expect(faults.wrap('tube_mas_total', 5)).toBeCloseTo((TWO_POW_32 - 5) / 10, 6);
    model.expose(80, 10, 50); // 0.5 mAs = 5 tenths: lands exactly on 2^32 → 0
    expect(model.counters().tube_mas_total).toBe(0);
    model.expose(80, 100, 100); // 10 mAs
    expect(model.counters().tube_mas_total).toBe(10);
  });

  it('refuses another counter or a bad distance', () => {
    const { faults } = rig();
    expect(() => faults.wrap('uptime' as 'exposures_total')).toThrow(SimBadArgumentError);
    expect(() => faults.wrap('exposures_total', 0)).toThrow(SimBadArgumentError);
  });
});

describe('clock jump', () => {
  it('moves event wall times but not uptime or model time', () => {
    const { model, faults, events } = rig(() => 5_000_000);
    faults.step(10_000);
    model.inject(TUBE_OVERHEAT);
    expect(faults.jumpClock(86_400_000)).toBe(86_400_000);
    model.clear(TUBE_OVERHEAT);
    faults.jumpClock(-86_400_000);
    faults.jumpClock(-86_400_000);
    model.inject(TUBE_OVERHEAT);
    expect(events.map((e) => e.wallTimeMs)).toEqual([
      5_000_000,
      5_000_000 + 86_400_000,
      5_000_000 - 86_400_000,
    ]);
    expect(model.counters().uptime).toBe(10);
    expect(model.timeMs).toBe(10_000);
    expect(faults.status().clockOffsetMs).toBe(-86_400_000);
  });

  it('refuses a jump beyond 24 h', () => {
    const { faults } = rig();
    expect(() => faults.jumpClock(86_400_001)).toThrow(SimBadArgumentError);
    expect(() => faults.jumpClock(Number.NaN)).toThrow(SimBadArgumentError);
  });
});

describe('reboot', () => {
  it('restarts uptime and error_events_total, clears codes, then raises SW_WATCHDOG_RESET', () => {
    const { model, faults, events } = rig();
    const power: PowerState[] = [];
    faults.onPower((s) => power.push(s));
    model.expose(80, 200, 100);
    faults.step(5_000);
    model.inject(TUBE_OVERHEAT);
    model.setDoor(false);
    expect(model.counters()).toMatchObject({ uptime: 5, error_events_total: 2 });

    faults.reboot({ downMs: 1500 });
    expect(power).toEqual(['down']);
    expect(faults.power).toBe('down');
    expect(events.slice(-2).map((e) => [e.code, e.state, e.clearedBy])).toEqual([
      [TUBE_OVERHEAT, 'cleared', 'reboot'],
      [INTERLOCK_DOOR_OPEN, 'cleared', 'reboot'],
    ]);
    expect(model.counters()).toMatchObject({
      uptime: 0,
      error_events_total: 0,
      exposures_total: 1, // NVRAM: survives
    });

    faults.step(1499);
    expect(faults.power).toBe('down');
    expect(model.activeCodes()).toEqual([INTERLOCK_DOOR_OPEN]); // still open: raised again
    faults.step(1);
    expect(power).toEqual(['down', 'up']);
    expect(model.activeCodes()).toEqual([INTERLOCK_DOOR_OPEN, SW_WATCHDOG_RESET]);
    expect(events.at(-1)).toMatchObject({
      code: SW_WATCHDOG_RESET,
      state: 'raised',
      modelTimeMs: 6500,
    });
    expect(model.counters()).toMatchObject({ uptime: 1, error_events_total: 2 });
    expect(faults.status()).toMatchObject({ power: 'up', downUntilMs: null, reboots: 1 });
  });

  it('with holdMs, SW_WATCHDOG_RESET clears itself; downMs 0 is back at once', () => {
    const { model, faults } = rig();
    const power: PowerState[] = [];
    faults.onPower((s) => power.push(s));
    faults.reboot({ downMs: 0, holdMs: 1000 });
    expect(power).toEqual(['down', 'up']);
    expect(model.activeCodes()).toEqual([SW_WATCHDOG_RESET]);
    faults.step(1000);
    expect(model.activeCodes()).toEqual([]);
    expect(() => faults.reboot({ downMs: -1 })).toThrow(SimBadArgumentError);
  });
});

describe('faults on the running simulator', () => {
  let sim: Simulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  function connectError(port: number): Promise<unknown> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(null);
      });
      socket.once('error', resolve);
    });
  }

  it('takes the Modbus face down during a reboot and brings it back on the same port', async () => {
    sim = await startSimulator({ tickMs: 10, controlPort: false, workload: { enabled: false } });
    const port = sim.modbusPort;
    const client = await modbusClient(port);
    const dropped = new Promise<void>((resolve) => client.on('close', () => resolve()));
    const reply = JSON.parse(sim.command('{"cmd":"reboot","downMs":400}')) as {
      ok: boolean;
      downUntilMs: number;
    };
    expect(reply.ok).toBe(true);
    await dropped;
    await new Promise((r) => setTimeout(r, 50));
    expect(await connectError(port)).toMatchObject({ code: 'ECONNREFUSED' });
    const deadline = Date.now() + 5000;
    while (sim.faults.power === 'down' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    let after: Awaited<ReturnType<typeof modbusClient>> | undefined;
    while (after === undefined && Date.now() < deadline) {
      after = await modbusClient(port).catch(() => undefined);
      if (after === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(after).toBeDefined();
    expect((await after!.readHoldingRegisters(100, 1)).data).toEqual([SW_WATCHDOG_RESET]);
    const [hi, lo] = (await after!.readHoldingRegisters(9, 2)).data;
    expect(hi! * 65536 + lo!).toBeLessThanOrEqual(1);
    await closeClient(after!);
    expect(sim.faults.status()).toMatchObject({ power: 'up', reboots: 1, faceErrors: [] });
    expect(client.isOpen).toBe(false);
  });

  it('runs storms in (scaled) time from its own tick', async () => {
    sim = await startSimulator({
      tickMs: 10,
      timeScale: 1,
      controlPort: false,
      workload: { enabled: false },
    });
    let raises = 0;
    sim.onError((e) => {
      if (e.code === DET_LINK_LOST && e.state === 'raised') raises++;
    });
    sim.faults.storm({ code: DET_LINK_LOST, perSecond: 400, durationMs: 300 });
    await new Promise((r) => setTimeout(r, 600));
    expect(raises).toBe(120);
    expect(sim.snapshot().counters.error_events_total).toBe(120);
  });

  it('answers the fault commands on the control channel', async () => {
    sim = await startSimulator({ tickMs: 0, controlPort: false, workload: { enabled: false } });
    const run = (line: string): Record<string, unknown> =>
      JSON.parse(sim!.command(line)) as Record<string, unknown>;
    expect(run('{"cmd":"wrap","counter":"exposures_total","before":3}')).toMatchObject({
      ok: true,
      counter: 'exposures_total',
      value: TWO_POW_32 - 3,
    });
    expect(sim.snapshot().counters.exposures_total).toBe(TWO_POW_32 - 3);
    expect(run('{"cmd":"clock","jumpMs":3600000}')).toMatchObject({
      ok: true,
      clockOffsetMs: 3_600_000,
    });
    expect(run('{"cmd":"storm","code":3003,"perSecond":100,"durationMs":50}')).toMatchObject({
      ok: true,
      storm: { code: DET_LINK_LOST, cycles: 5, cyclesDone: 1 },
    });
    sim.faults.step(100);
    expect(sim.snapshot().counters.error_events_total).toBe(5);
    expect(run('{"cmd":"reboot"}')).toMatchObject({ ok: true, downUntilMs: 1600 });
    expect(run('{"cmd":"wrap","counter":"uptime"}')).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_ARGUMENT' },
    });
    expect(run('{"cmd":"wrap","counter":7}')).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND' },
    });
    expect(run('{"cmd":"storm","code":3003,"perSecond":100}')).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND' },
    });
    expect(run('{"cmd":"clock","jumpMs":90000000}')).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_ARGUMENT' },
    });
    expect(run('{"cmd":"storm","code":9,"perSecond":1,"durationMs":5}')).toMatchObject({
      ok: false,
      error: { code: 'SIM_UNKNOWN_ERROR_CODE' },
    });
  });
});
