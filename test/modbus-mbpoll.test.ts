import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { MBPOLL, SOCAT, toolGate } from './fixtures/libmodbus/host-tools.js';

// mbpoll (Debian's, built on libmodbus: a master we did not write) against the simulator's
// Modbus TCP face and its RTU face on a socat PTY. mbpoll numbers references from 1: reference
// r is protocol address r - 1. It prints a 16-bit word as `[r]: 65443 (-93)`: unsigned, then,
// when the top bit is set, the signed reading in brackets.
const gate = toolGate('the mbpoll tests', [MBPOLL, SOCAT]);

interface MbpollResult {
  code: number;
  stdout: string;
  stderr: string;
  /** reference → value as printed first (a 16-bit word unsigned; 32-bit types as decoded). */
  values: Map<number, number>;
  /** reference → the signed reading (the bracketed one when mbpoll prints it). */
  signed: Map<number, number>;
}

function mbpoll(args: string[]): Promise<MbpollResult> {
  return new Promise((resolve, reject) => {
    execFile('mbpoll', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err); // not run at all, or killed
      const values = new Map<number, number>();
      const signed = new Map<number, number>();
      for (const m of stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)(?:\s+\((-?\d+)\))?\s*$/gm)) {
        values.set(Number(m[1]), Number(m[2]));
        signed.set(Number(m[1]), Number(m[3] ?? m[2]));
      }
      const code = typeof err?.code === 'number' ? err.code : 0;
      resolve({ code, stdout, stderr, values, signed });
    });
  });
}

/** The words at references ref..ref+count-1, as mbpoll printed them. */
function words(r: MbpollResult, ref: number, count: number): Array<number | undefined> {
  return Array.from({ length: count }, (_, i) => r.values.get(ref + i));
}

describe.runIf(gate.run)('mbpoll against the simulator', () => {
  let sim: Simulator;
  let tcp: string[];
  let rtu: string[];

  beforeAll(async () => {
    gate.assert();
    sim = await startSimulator({
      seed: 21,
      controlPort: false,
      tickMs: 0,
      ambientC: -18,
      modbusRtu: true,
    });
    sim.model.step(30 * 60_000);
    sim.model.setExposures(0x1234_5678);
    sim.inject(2003);
    sim.inject(4001);
    tcp = ['-m', 'tcp', '-a', '1', '-1', '-o', '1', '127.0.0.1', '-p', String(sim.modbusPort)];
    rtu = [
      '-m',
      'rtu',
      '-b',
      '19200',
      '-P',
      'none',
      '-a',
      '1',
      '-1',
      '-o',
      '1',
      sim.modbusRtu!.path,
    ];
  });
  afterAll(async () => {
    await sim?.close();
  });

  for (const face of ['tcp', 'rtu'] as const) {
    const args = (extra: string[]): string[] =>
      face === 'tcp' ? [...extra, ...tcp] : [...extra, ...rtu];

    it(`${face}: holding registers 0..17 (references 1..18) equal the register image`, async () => {
      const r = await mbpoll(args(['-r', '1', '-c', '18', '-t', '4']));
      expect(r.code, r.stderr).toBe(0);
      expect(words(r, 1, 18)).toEqual(sim.readRegisters('holding', 0, 18));
      // The image is not trivial: the counter set above, a negative temperature, the door.
      expect(words(r, 1, 2)).toEqual([0x1234, 0x5678]);
      expect(r.signed.get(6)).toBeLessThan(0); // detector_temp, i16 in 0.1 °C
      expect(r.signed.get(6)).toBe(Math.round(sim.snapshot().counters.detector_temp * 10));
    });

    it(`${face}: the error slots (references 101..108) hold the active codes`, async () => {
      const r = await mbpoll(args(['-r', '101', '-c', '8', '-t', '4']));
      expect(r.code, r.stderr).toBe(0);
      expect(words(r, 101, 8)).toEqual(sim.readRegisters('holding', 100, 8));
      expect(words(r, 101, 8)).toEqual(expect.arrayContaining([2003, 4001]));
    });

    it(`${face}: 32-bit values in both word orders, as mbpoll decodes them`, async () => {
      // exposures_total: u32, big word order (high word first) → mbpoll -B.
      const big = await mbpoll(args(['-r', '1', '-c', '1', '-t', '4:int', '-B']));
      expect(big.values.get(1)).toBe(0x1234_5678);
      // heat_balance: i32, little word order at address 14 → mbpoll's default word order.
      const little = await mbpoll(args(['-r', '15', '-c', '1', '-t', '4:int']));
      expect(little.code, little.stderr).toBe(0);
      expect(little.values.get(15)).toBe(sim.snapshot().counters.heat_balance);
    });

    it(`${face}: an unmapped address is exception 2, reported by mbpoll`, async () => {
      const r = await mbpoll(args(['-r', '19', '-c', '1', '-t', '4']));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Illegal data address/);
      const inputs = await mbpoll(args(['-r', '1', '-c', '1', '-t', '3']));
      expect(inputs.stderr).toMatch(/Illegal data address/);
    });
  }

  it('rtu: a bad-CRC fault is seen by mbpoll as an invalid CRC; the next poll is fine', async () => {
    sim.modbusFaults.add({ kind: 'bad-crc', face: 'rtu', count: 1 });
    const bad = await mbpoll(['-r', '101', '-c', '2', '-t', '4', ...rtu]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/CRC/i);
    const good = await mbpoll(['-r', '101', '-c', '2', '-t', '4', ...rtu]);
    expect(good.code, good.stderr).toBe(0);
  });

  it('tcp: an exception fault is seen by mbpoll with its code', async () => {
    sim.modbusFaults.add({ kind: 'exception', face: 'tcp', exceptionCode: 6, count: 1 });
    const r = await mbpoll(['-r', '1', '-c', '2', '-t', '4', ...tcp]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/busy/i); // exception 6: slave device or server busy
  });
});

describe.runIf(gate.run)('mbpoll reads discrete inputs (FC2) from the simulator', () => {
  let sim: Simulator | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  it('rtu and tcp: the door interlock served as discrete input 0 (reference 1)', async () => {
    gate.assert();
    const json = structuredClone(registerMapJson);
    Object.assign(
      json.counters.find((c) => c.name === 'door_closed')!,
      {
        table: 'discrete',
        address: 0,
        type: 'bool',
      },
    );
    sim = await startSimulator({
      controlPort: false,
      tickMs: 0,
      modbusRtu: true,
      registerMap: json,
    });
    const rtu = ['-m', 'rtu', '-b', '19200', '-P', 'none', '-1', '-o', '1', sim.modbusRtu!.path];
    const tcp = ['-m', 'tcp', '-1', '-o', '1', '127.0.0.1', '-p', String(sim.modbusPort)];
    expect((await mbpoll(['-r', '1', '-c', '1', '-t', '1', ...rtu])).values.get(1)).toBe(1);
    sim.model.setDoor(false);
    expect((await mbpoll(['-r', '1', '-c', '1', '-t', '1', ...tcp])).values.get(1)).toBe(0);
    // There is no coil table on this device: exception 2.
    expect((await mbpoll(['-r', '1', '-c', '1', '-t', '0', ...rtu])).stderr).toMatch(
      /Illegal data address/,
    );
  });
});
