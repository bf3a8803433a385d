import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusExceptionCodes, SimListenFailedError, SimModbusExceptionError } from './errors.js';
import { ModbusFaults } from './modbus-faults.js';
import { checkRtuFrame, crcOk, encodeRtuFrame } from './modbus-rtu-frame.js';
import { startModbusRtu, type ModbusRtuFace } from './modbus-rtu.js';
import type { RegisterTable } from './registers.js';

// The RTU face over a real socat PTY pair, driven byte by byte by a raw serialport master.
const hasSocat = (() => {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const MISSING = 'socat is not installed (Debian package: socat); the Modbus RTU face needs it';
if (!hasSocat && process.env.CI !== 'true')
  console.warn(`skipping Modbus RTU face tests: ${MISSING}`);

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Registers hold their address; coils are 1 at even addresses; nothing at 100 and above. */
function reader(table: RegisterTable, address: number, count: number): number[] {
  if (address + count > 100) {
    throw new SimModbusExceptionError(ModbusExceptionCodes.ILLEGAL_DATA_ADDRESS, 'unmapped');
  }
  return Array.from({ length: count }, (_, i) =>
    table === 'coil' || table === 'discrete' ? ((address + i) % 2 === 0 ? 1 : 0) : address + i,
  );
}

class RawMaster {
  received = Buffer.alloc(0);
  constructor(readonly port: SerialPort) {
    port.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
  }
  static async open(path: string): Promise<RawMaster> {
    const port = new SerialPort({ path, baudRate: 19200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return new RawMaster(port);
  }
  send(bytes: Uint8Array): void {
    this.received = Buffer.alloc(0);
    this.port.write(Buffer.from(bytes));
  }
  /** Waits until `n` bytes came or `ms` passed. */
  async take(n: number, ms = 500): Promise<Buffer> {
    const deadline = performance.now() + ms;
    while (this.received.length < n && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    return this.received;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

const request = (unit: number, fn: number, address: number, count: number): Uint8Array =>
  encodeRtuFrame(unit, Uint8Array.of(fn, address >> 8, address & 0xff, count >> 8, count & 0xff));

describe.runIf(hasSocat || process.env.CI === 'true')('Modbus RTU face on a socat PTY pair', () => {
  let face: ModbusRtuFace;
  let master: RawMaster;
  const faults = new ModbusFaults({ seed: 11 });

  beforeAll(async () => {
    if (!hasSocat) throw new Error(MISSING);
    face = await startModbusRtu({ unitId: 1, read: reader, faults, gapMs: 5 });
    master = await RawMaster.open(face.path);
  });
  afterAll(async () => {
    await master?.close();
    await face?.close();
  });

  it('answers function 3 with the register image, CRC and all', async () => {
    faults.clear();
    master.send(request(1, 3, 10, 2));
    expect((await master.take(9)).toString('hex')).toBe(
      Buffer.from(encodeRtuFrame(1, hex('03 04 000a 000b'))).toString('hex'),
    );
  });

  it('answers functions 1, 2 and 4', async () => {
    master.send(request(1, 1, 0, 10));
    const coils = checkRtuFrame(Uint8Array.from(await master.take(7)));
    expect(coils.ok && Buffer.from(coils.pdu).toString('hex')).toBe('01025501');
    master.send(request(1, 2, 1, 3));
    expect(Buffer.from((await master.take(6)).subarray(0, 4)).toString('hex')).toBe('01020102');
    master.send(request(1, 4, 99, 1));
    expect((await master.take(7)).subarray(0, 5).toString('hex')).toBe('010402' + '0063');
  });

  it('a request written one byte at a time is still one request', async () => {
    // A face of its own with a silence far above the pauses between the writes: on a loaded
    // machine a 1 ms timer can fire late enough to exceed the shared face's 5 ms silence,
    // which is then, rightly, the end of a (broken) frame.
    const slow = await startModbusRtu({ unitId: 1, read: reader, gapMs: 250 });
    const bytewise = await RawMaster.open(slow.path);
    try {
      const frame = request(1, 3, 0, 1);
      for (const b of frame) {
        bytewise.port.write(Buffer.of(b));
        await new Promise((r) => setTimeout(r, 1));
      }
      expect((await bytewise.take(7)).subarray(0, 5).toString('hex')).toBe('0103020000');
      expect(slow.stats.badFrames).toBe(0);
    } finally {
      await bytewise.close();
      await slow.close();
    }
  });

  it('answers exceptions: unmapped address 2, write 1, bad count 3', async () => {
    master.send(request(1, 3, 99, 2));
    expect((await master.take(5)).toString('hex')).toBe(
      Buffer.from(encodeRtuFrame(1, hex('83 02'))).toString('hex'),
    );
    master.send(encodeRtuFrame(1, hex('06 0000 0001')));
    expect((await master.take(5)).subarray(0, 3).toString('hex')).toBe('018601');
    master.send(request(1, 3, 0, 126));
    expect((await master.take(5)).subarray(0, 3).toString('hex')).toBe('018303');
  });

  it('ignores other units and frames with a bad CRC, as a multi-drop slave must', async () => {
    const before = { ...face.stats };
    master.send(request(2, 3, 0, 1));
    expect(await master.take(1, 100)).toHaveLength(0);
    const corrupt = Buffer.from(request(1, 3, 0, 1));
    corrupt[7] = corrupt[7]! ^ 0xff;
    master.send(corrupt);
    expect(await master.take(1, 100)).toHaveLength(0);
    expect(face.stats.otherUnits).toBe(before.otherUnits + 1);
    expect(face.stats.badFrames).toBe(before.badFrames + 1);
  });

  it('fault bad-crc: the reply comes whole with an inverted CRC', async () => {
    faults.add({ kind: 'bad-crc', count: 1 });
    master.send(request(1, 3, 10, 2));
    const got = await master.take(9);
    expect(got).toHaveLength(9);
    expect(crcOk(got)).toBe(false);
    expect(got.subarray(0, 7).toString('hex')).toBe('010304000a000b');
  });

  it('fault truncate: only the first bytes, then silence', async () => {
    faults.add({ kind: 'truncate', bytes: 4 });
    master.send(request(1, 3, 10, 2));
    expect((await master.take(9, 150)).toString('hex')).toBe('01030400');
  });

  it('fault garbage: random bytes that do not start with the unit id', async () => {
    faults.add({ kind: 'garbage', bytes: 12 });
    master.send(request(1, 3, 10, 2));
    const got = await master.take(12);
    expect(got).toHaveLength(12);
    expect(got[0]).not.toBe(1);
  });

  it('fault exception: the given code instead of the data', async () => {
    faults.add({ kind: 'exception', exceptionCode: 6 });
    master.send(request(1, 3, 10, 2));
    expect((await master.take(5)).subarray(0, 3).toString('hex')).toBe('018306');
  });

  it('faults no-reply and delay', async () => {
    faults.add({ kind: 'no-reply' });
    master.send(request(1, 3, 10, 2));
    expect(await master.take(1, 100)).toHaveLength(0);
    faults.add({ kind: 'delay', delayMs: 150 });
    const t0 = performance.now();
    master.send(request(1, 3, 10, 2));
    expect(await master.take(9, 1000)).toHaveLength(9);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('fault disconnect: the line goes silent for downMs, then answers again', async () => {
    faults.add({ kind: 'disconnect', downMs: 300 });
    master.send(request(1, 3, 10, 2));
    expect(await master.take(1, 100)).toHaveLength(0);
    master.send(request(1, 3, 10, 2)); // sent while down: never answered
    expect(await master.take(1, 100)).toHaveLength(0);
    expect(face.stats.disconnects).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    master.send(request(1, 3, 10, 2));
    expect(await master.take(9, 1000)).toHaveLength(9);
  });

  it('while paused (powered down) it reads requests and answers none', async () => {
    face.paused = true;
    master.send(request(1, 3, 10, 2));
    expect(await master.take(1, 100)).toHaveLength(0);
    face.paused = false;
    master.send(request(1, 3, 10, 2));
    expect(await master.take(9)).toHaveLength(9);
  });
});

describe.runIf(hasSocat || process.env.CI === 'true')('Modbus RTU face lifecycle', () => {
  it('close() kills socat and removes the PTY links', async () => {
    const face = await startModbusRtu({ unitId: 1, read: reader });
    expect(existsSync(face.path)).toBe(true);
    expect(existsSync(face.simPath)).toBe(true);
    await face.close();
    await face.close(); // idempotent
    expect(existsSync(face.path)).toBe(false);
    expect(existsSync(face.simPath)).toBe(false);
  });

  it('a missing socat is a typed start error that names the package', async () => {
    const err = await startModbusRtu({
      unitId: 1,
      read: reader,
      socat: '/nonexistent/socat',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimListenFailedError);
    expect((err as Error).message).toMatch(/apt-get install socat/);
  });
});
