import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AdapterError,
  modbusTcpAdapter,
  parseRegisterMap,
  type DeviceSnapshot,
  type ModbusAdapter,
} from '../src/index.js';
import { GCC, LIBMODBUS, PKG_CONFIG, toolGate } from './fixtures/libmodbus/host-tools.js';

// A Modbus TCP device we did not write: test/fixtures/libmodbus/server.c on libmodbus, compiled
// here, with a register map unlike the simulator's. The agent is configured ONLY through a JSON
// file, as an OEM would configure it: nothing about this device is in the agent's code.
const gate = toolGate('the libmodbus fixture test', [GCC, PKG_CONFIG, LIBMODBUS]);
const SOURCE = fileURLToPath(new URL('./fixtures/libmodbus/server.c', import.meta.url));
const run = promisify(execFile);

/** The device's configuration file, as a technician would write it. */
function configFile(port: number): unknown {
  return {
    device: 'libmodbus fixture server',
    transport: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    timeoutMs: 1000,
    registerMap: {
      unitId: 17,
      counters: [
        { name: 'cycles', table: 'holding', address: 500, type: 'u16', unit: 'count' },
        { name: 'offset_trim', table: 'holding', address: 501, type: 'i16', unit: 'count' },
        { name: 'exposures', table: 'holding', address: 502, type: 'u32', wordOrder: 'big' },
        { name: 'drift', table: 'holding', address: 504, type: 'i32', wordOrder: 'little' },
        {
          name: 'supply_v',
          table: 'holding',
          address: 506,
          type: 'u16',
          scale: 0.01,
          offset: -10,
          unit: 'V',
        },
        { name: 'saturated', table: 'holding', address: 507, type: 'u32', wordOrder: 'little' },
        {
          name: 'oil_temp',
          table: 'input',
          address: 3000,
          type: 'float32',
          wordOrder: 'little',
          unit: 'degC',
        },
        {
          name: 'absolute_zero',
          table: 'input',
          address: 3002,
          type: 'float32',
          wordOrder: 'big',
          scale: -1,
          offset: 0,
          unit: 'K',
        },
        { name: 'mode', table: 'input', address: 3004, type: 'u16' },
        { name: 'lamp_a', table: 'coil', address: 100, type: 'bool' },
        { name: 'lamp_b', table: 'coil', address: 101, type: 'bool' },
        { name: 'lamp_c', table: 'coil', address: 102, type: 'bool' },
        { name: 'door_open', table: 'discrete', address: 200, type: 'bool' },
        { name: 'key_on', table: 'discrete', address: 201, type: 'bool', scale: -1, offset: 1 },
      ],
      errors: { table: 'input', address: 3010, slots: 4 },
    },
  };
}

/** IEEE-754 single-precision bits of `value`, computed independently of the agent. */
function float32Bits(value: number): number {
  const b = Buffer.alloc(4);
  b.writeFloatBE(value);
  return b.readUInt32BE(0);
}

describe.runIf(gate.run)('agent against a libmodbus TCP server, configured by a JSON file', () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let adapter: ModbusAdapter | undefined;
  let port = 0;

  beforeAll(async () => {
    gate.assert();
    dir = await mkdtemp(join(tmpdir(), 'outpost-libmodbus-'));
    const binary = join(dir, 'server');
    const { stdout: flags } = await run('pkg-config', ['--cflags', '--libs', 'libmodbus']);
    await run('gcc', ['-O1', '-Wall', '-o', binary, SOURCE, ...flags.trim().split(/\s+/)], {
      timeout: 30_000,
    });
    const child = spawn(binary, ['0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no "listening" line: ${out}`)), 5000);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (s: string) => {
        out += s;
        const m = /listening (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening`)));
    });
    // The agent's only knowledge of the device: this file.
    await writeFile(join(dir, 'device.json'), JSON.stringify(configFile(port), null, 2));
  });

  // The fixture serves one client at a time (libmodbus's simple TCP server loop).
  afterEach(async () => {
    await adapter?.close();
    adapter = undefined;
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function adapterFromFile(): Promise<ModbusAdapter> {
    const config = JSON.parse(await readFile(join(dir, 'device.json'), 'utf8')) as {
      host: string;
      port: number;
      timeoutMs: number;
      registerMap: unknown;
    };
    adapter = modbusTcpAdapter({
      host: config.host,
      port: config.port,
      timeoutMs: config.timeoutMs,
      registerMap: parseRegisterMap(config.registerMap, 'registerMap'),
    });
    return adapter;
  }

  it('reads every value of the device as the file describes it', async () => {
    const a = await adapterFromFile();
    const snap: DeviceSnapshot = await a.readSnapshot();
    expect(snap.missing).toEqual([]);
    const got = Object.fromEntries(snap.counters.map((c) => [c.name, c]));
    const value = (name: string): number | undefined => got[name]?.value;
    const raw = (name: string): number | undefined => got[name]?.raw;

    expect(value('cycles')).toBe(4321);
    expect(value('offset_trim')).toBe(-1234);
    expect(value('exposures')).toBe(0x1234_5678);
    expect(value('drift')).toBe(-100_000);
    expect(value('supply_v')).toBe(15); // 2500 * 0.01 - 10
    expect(value('saturated')).toBe(4_294_967_295);
    expect(raw('oil_temp')).toBe(float32Bits(36.6));
    expect(got.oil_temp?.rawKind).toBe('float32');
    expect(value('oil_temp')).toBeCloseTo(36.6, 5);
    expect(raw('absolute_zero')).toBe(float32Bits(-273.15));
    expect(value('absolute_zero')).toBeCloseTo(273.15, 4); // scale -1
    expect(value('mode')).toBe(7);
    expect([value('lamp_a'), value('lamp_b'), value('lamp_c')]).toEqual([1, 0, 1]);
    expect(value('door_open')).toBe(0);
    expect(value('key_on')).toBe(0); // raw 1, inverted by scale -1 offset 1
    expect(raw('key_on')).toBe(1);
    expect(got.lamp_a?.rawKind).toBe('integer');
    expect(snap.codes).toEqual([1010, 2002]);
    expect('raisesTotal' in snap).toBe(false);
  });

  it('plans one read per run of each table: FC3, FC4 (twice), FC1, FC2', async () => {
    const a = await adapterFromFile();
    expect([...a.plannedReads].sort((x, y) => x.address - y.address)).toEqual([
      { table: 'coil', address: 100, count: 3 },
      { table: 'discrete', address: 200, count: 2 },
      { table: 'holding', address: 500, count: 9 },
      { table: 'input', address: 3000, count: 5 },
      { table: 'input', address: 3010, count: 4 },
    ]);
    await a.readSnapshot();
    expect(a.health()).toEqual({ connected: true, readsOk: 5, readsFailed: 0, timeouts: 0 });
    const errors = await a.readActiveErrors();
    expect(errors).toEqual({ codes: [1010, 2002] });
  });

  it("libmodbus's own exception for a register it lacks is MODBUS_EXCEPTION 2", async () => {
    const config = configFile(port) as { registerMap: { counters: unknown[] } };
    config.registerMap.counters.push({
      name: 'beyond',
      table: 'holding',
      address: 509,
      type: 'u16',
    });
    adapter = modbusTcpAdapter({
      host: '127.0.0.1',
      port,
      registerMap: parseRegisterMap(config.registerMap),
      timeoutMs: 1000,
    });
    const err = await adapter.readSnapshot().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect((err as AdapterError).code).toBe('MODBUS_EXCEPTION');
    expect((err as AdapterError).modbusException).toBe(2);
  });
});
