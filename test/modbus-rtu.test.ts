import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import { startSimulator, type ModbusFaultSpec, type Simulator } from '../firmware-sim/index.js';
import {
  AdapterError,
  ConfigError,
  ModbusRtuClient,
  modbusRtuAdapter,
  parseRegisterMap,
  type AdapterErrorCode,
  type ModbusAdapter,
} from '../src/index.js';
import { SOCAT, toolGate } from './fixtures/libmodbus/host-tools.js';
import { registerMap } from './helpers.js';

// The agent's Modbus RTU adapter (modbus-serial's RTU master over serialport) against the
// simulator's own RTU responder, over a real socat PTY pair. The simulator encodes with its
// code, the agent decodes with its own; faults are armed through the simulator API and its
// control channel.
const gate = toolGate('the Modbus RTU tests', [SOCAT]);
const TIMEOUT_MS = 250;

async function rejection(p: Promise<unknown>): Promise<AdapterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdapterError);
  return err as AdapterError;
}

function byName(s: { counters: Array<{ name: string; value: number }> }): Record<string, number> {
  return Object.fromEntries(s.counters.map((c) => [c.name, c.value]));
}

describe.runIf(gate.run)('agent Modbus RTU adapter against the simulator over a PTY', () => {
  let sim: Simulator;
  let adapter: ModbusAdapter;

  beforeAll(async () => {
    gate.assert();
    sim = await startSimulator({ seed: 7, controlPort: 0, tickMs: 0, modbusRtu: true });
  });
  afterAll(async () => {
    await adapter?.close();
    await sim?.close();
  });
  afterEach(async () => {
    sim.modbusFaults.clear();
    await adapter?.close();
  });

  function connect(retries = 0): ModbusAdapter {
    adapter = modbusRtuAdapter({
      path: sim.modbusRtu!.path,
      baudRate: 19200,
      unitId: 1,
      registerMap,
      timeoutMs: TIMEOUT_MS,
      retries,
    });
    return adapter;
  }

  it('reads every counter with the values of the model, in two reads', async () => {
    const a = connect();
    sim.model.step(20 * 60_000);
    const model = sim.snapshot().counters;
    const snap = await a.readSnapshot();
    expect(a.kind).toBe('modbus-rtu');
    expect(snap.missing).toEqual([]);
    expect(model.exposures_total).toBeGreaterThan(0);
    const got = byName(snap);
    expect(Object.keys(got).sort()).toEqual(Object.keys(model).sort());
    for (const [name, value] of Object.entries(model)) {
      const def = registerMap.counters.find((c) => c.name === name)!;
      expect(got[name], name).toBeCloseTo(value, def.scale < 1 ? 1 : 0);
    }
    expect(a.plannedReads).toEqual([
      { table: 'holding', address: 0, count: 18 },
      { table: 'holding', address: 100, count: 8 },
    ]);
  });

  it('follows a 32-bit counter across its wrap', async () => {
    const a = connect();
    sim.model.setExposures(2 ** 32 - 2);
    expect(byName(await a.readSnapshot()).exposures_total).toBe(2 ** 32 - 2);
    for (let i = 0; i < 3; i++) sim.model.expose(80, 200, 50, { force: true });
    expect(byName(await a.readSnapshot()).exposures_total).toBe(1);
  });

  it("reads a negative detector temperature (i16 two's complement)", async () => {
    const a = connect();
    sim.model.setAmbient(-25);
    sim.model.step(60 * 60_000);
    const model = sim.snapshot().counters.detector_temp;
    expect(model).toBeLessThan(0);
    const got = byName(await a.readSnapshot()).detector_temp!;
    expect(got).toBeCloseTo(model, 1);
    expect(got).toBeLessThan(0);
    sim.model.setAmbient(22);
  });

  it('sees an injected code in the error slots and the raises counter', async () => {
    const a = connect();
    const before = await a.readActiveErrors();
    sim.inject(2003);
    const after = await a.readActiveErrors();
    expect(after.codes).toContain(2003);
    expect(after.raisesTotal).toBe((before.raisesTotal ?? 0) + 1);
    sim.clear(2003);
  });

  const faults: Array<[string, ModbusFaultSpec, AdapterErrorCode]> = [
    ['no reply', { kind: 'no-reply' }, 'MODBUS_TIMEOUT'],
    [
      'a reply later than the timeout',
      { kind: 'delay', delayMs: 2 * TIMEOUT_MS },
      'MODBUS_TIMEOUT',
    ],
    ['a bad CRC', { kind: 'bad-crc' }, 'MODBUS_CRC'],
    ['a truncated frame', { kind: 'truncate' }, 'MODBUS_SHORT_REPLY'],
    ['garbage bytes', { kind: 'garbage' }, 'ADAPTER_BAD_REPLY'],
    ['an exception reply', { kind: 'exception', exceptionCode: 6 }, 'MODBUS_EXCEPTION'],
    ['the line closed and reopened', { kind: 'disconnect', downMs: 100 }, 'MODBUS_TIMEOUT'],
  ];
  for (const [what, spec, code] of faults) {
    it(`${what} is ${code}; the next poll reads correct values`, async () => {
      const a = connect(0);
      await a.readSnapshot();
      sim.modbusFaults.add({ ...spec, face: 'rtu', count: 1 });
      const err = await rejection(a.readSnapshot());
      expect(err.code).toBe(code);
      expect(err.canceled).toBe(false);
      if (code === 'MODBUS_EXCEPTION') expect(err.modbusException).toBe(6);
      expect(a.health()).toMatchObject({ lastErrorCode: code, readsFailed: 1 });
      // A late reply or the remains of a bad one must not be taken for the next answer.
      if (spec.kind === 'delay' || spec.kind === 'disconnect') {
        await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
      }
      const snap = await a.readSnapshot();
      expect(byName(snap).exposures_total).toBe(sim.snapshot().counters.exposures_total);
      expect(snap.codes).toEqual(sim.model.visibleCodes());
      expect(a.health().connected).toBe(true);
    });
  }

  it('a reply slower than usual but within the timeout is fine', async () => {
    const a = connect(0);
    sim.modbusFaults.add({ kind: 'delay', delayMs: TIMEOUT_MS / 3, count: 2 });
    const t0 = performance.now();
    await a.readSnapshot();
    expect(performance.now() - t0).toBeGreaterThanOrEqual((2 * TIMEOUT_MS) / 3 - 10);
    expect(a.health().readsFailed).toBe(0);
  });

  it('retries within the budget recover from transient faults; health shows them', async () => {
    const a = connect(1);
    for (const kind of ['bad-crc', 'truncate', 'garbage', 'no-reply'] as const) {
      sim.modbusFaults.add({ kind, face: 'rtu', count: 1 });
      const snap = await a.readSnapshot();
      expect(snap.missing).toEqual([]);
    }
    expect(a.health()).toMatchObject({
      connected: true,
      readsOk: 8,
      readsFailed: 4,
      timeouts: 1,
      lastErrorCode: 'MODBUS_TIMEOUT',
    });
  });

  it('keeps polling through a noisy line: every poll is data or a typed error', async () => {
    const a = connect(2);
    sim.modbusFaults.add({ kind: 'garbage', face: 'rtu', probability: 0.15 });
    sim.modbusFaults.add({ kind: 'bad-crc', face: 'rtu', probability: 0.15 });
    sim.modbusFaults.add({ kind: 'truncate', face: 'rtu', probability: 0.1 });
    let ok = 0;
    for (let i = 0; i < 25; i++) {
      try {
        const snap = await a.readSnapshot();
        expect(byName(snap).exposures_total).toBe(sim.snapshot().counters.exposures_total);
        ok++;
      } catch (err) {
        expect(err).toBeInstanceOf(AdapterError);
        expect(['MODBUS_CRC', 'MODBUS_SHORT_REPLY', 'ADAPTER_BAD_REPLY']).toContain(
          (err as AdapterError).code,
        );
      }
    }
    const fired = Object.values(sim.modbusFaults.fired()).reduce((s, n) => s + n, 0);
    expect(fired).toBeGreaterThan(5);
    expect(ok).toBeGreaterThan(15);
    expect(a.health().readsFailed).toBeGreaterThan(5);
  });

  it('faults armed over the control channel reach the agent', async () => {
    const a = connect(0);
    const socket = net.connect(sim.controlPort!, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const reply = new Promise<string>((resolve) =>
      socket.once('data', (d: Buffer) => resolve(d.toString('utf8'))),
    );
    socket.write(
      `${JSON.stringify({ cmd: 'modbus-fault', kind: 'exception', exceptionCode: 4, face: 'rtu' })}\n`,
    );
    expect(JSON.parse(await reply)).toMatchObject({ ok: true, fault: { kind: 'exception' } });
    socket.destroy();
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('MODBUS_EXCEPTION');
    expect(err.modbusException).toBe(4);
    await a.readSnapshot();
  });
});

describe.runIf(gate.run)('agent Modbus RTU adapter: coils and discrete inputs', () => {
  let sim: Simulator | undefined;
  let adapter: ModbusAdapter | undefined;
  afterAll(async () => {
    await adapter?.close();
    await sim?.close();
  });

  it('reads a discrete input (FC2) served from the simulator map', async () => {
    gate.assert();
    // The shipped map with the door interlock moved from a holding register to discrete input 0.
    const json = structuredClone(registerMapJson);
    const door = json.counters.find((c) => c.name === 'door_closed')!;
    Object.assign(door, { table: 'discrete', address: 0, type: 'bool' });
    sim = await startSimulator({
      seed: 3,
      controlPort: false,
      tickMs: 0,
      modbusRtu: true,
      registerMap: json,
    });
    adapter = modbusRtuAdapter({
      path: sim.modbusRtu!.path,
      baudRate: 19200,
      registerMap: parseRegisterMap(json),
      timeoutMs: TIMEOUT_MS,
    });
    expect(adapter.plannedReads).toContainEqual({ table: 'discrete', address: 0, count: 1 });
    expect(byName(await adapter.readSnapshot()).door_closed).toBe(1);
    sim.model.setDoor(false);
    const open = await adapter.readSnapshot();
    expect(byName(open).door_closed).toBe(0);
    expect(open.codes).toContain(4001); // INTERLOCK_DOOR_OPEN
  });
});

describe.runIf(gate.run)('ModbusRtuClient', () => {
  it('watches the raw line through modbus-serial (pins the internals it relies on)', async () => {
    gate.assert();
    const sim = await startSimulator({ controlPort: false, tickMs: 0, modbusRtu: true });
    const client = new ModbusRtuClient({ path: sim.modbusRtu!.path, unitId: 1, timeoutMs: 300 });
    try {
      expect(client.watchesLine).toBe(false);
      await client.open();
      // If this fails after a modbus-serial upgrade, rtu-client.ts's internalsOf needs updating.
      expect(client.watchesLine).toBe(true);
      expect(await client.read('holding', 100, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    } finally {
      await client.close();
      await client.close();
      await sim.close();
    }
  });

  it('refuses unit id 0 (broadcast) and ids above 247 as configuration errors', () => {
    for (const unitId of [0, 248, 1.5]) {
      expect(() => new ModbusRtuClient({ path: '/dev/null', unitId })).toThrow(ConfigError);
    }
  });
});

describe.runIf(gate.run)('agent Modbus RTU adapter: a missing line', () => {
  it('a path that does not exist is ADAPTER_CONNECT_FAILED, and the agent can retry', async () => {
    gate.assert();
    const a = modbusRtuAdapter({ path: '/nonexistent/tty-outpost', registerMap });
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('ADAPTER_CONNECT_FAILED');
    expect(err.message).toMatch(/tty-outpost/);
    expect(a.health()).toMatchObject({ connected: false, lastErrorCode: 'ADAPTER_CONNECT_FAILED' });
    await a.close();
  });
});

describe.runIf(gate.run)('outpost-sim --modbus-rtu', () => {
  it('serves RTU from the CLI, reports the path in the ready line, removes it on SIGTERM', async () => {
    gate.assert();
    // node with tsx's loader (not the tsx wrapper), so the signal reaches the simulator itself.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'firmware-sim/cli.ts', '--modbus-rtu', 'auto', '--control-port', 'none'],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const ready = await new Promise<{ modbusRtuPath: string }>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 20_000);
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (s: string) => {
          out += s;
          const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
          if (line) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { modbusRtuPath: string });
          }
        });
      });
      expect(existsSync(ready.modbusRtuPath)).toBe(true);
      const a = modbusRtuAdapter({ path: ready.modbusRtuPath, registerMap, timeoutMs: 500 });
      try {
        expect((await a.readSnapshot()).missing).toEqual([]);
      } finally {
        await a.close();
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(ready.modbusRtuPath)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
