import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { handleLine, type ControlTarget } from './control.js';
import { SimBadArgumentError } from './errors.js';
import { ModbusFaults, truncatedLength, type ModbusFaultSpec } from './modbus-faults.js';
import { runModbusFaultCommand } from './modbus-faults-control.js';
import { startModbusTcp, type ModbusTcpFace } from './modbus-tcp.js';

describe('ModbusFaults', () => {
  it('a fault without trigger fires once, on the next request, then is gone', () => {
    const faults = new ModbusFaults();
    const armed = faults.add({ kind: 'no-reply' });
    expect(armed).toMatchObject({ id: 1, kind: 'no-reply', face: 'any', remaining: 1, fired: 0 });
    expect(faults.take('tcp')).toMatchObject({ id: 1, kind: 'no-reply', remaining: 0, fired: 1 });
    expect(faults.take('tcp')).toBeUndefined();
    expect(faults.list()).toEqual([]);
    expect(faults.fired()['no-reply']).toBe(1);
  });

  it('count N fires on the next N matching requests; other faces pass untouched', () => {
    const faults = new ModbusFaults();
    faults.add({ kind: 'truncate', face: 'rtu', count: 2, bytes: 3 });
    expect(faults.take('tcp')).toBeUndefined();
    expect(faults.take('rtu')?.kind).toBe('truncate');
    expect(faults.take('tcp')).toBeUndefined();
    expect(faults.take('rtu')?.bytes).toBe(3);
    expect(faults.take('rtu')).toBeUndefined();
  });

  it('bad-crc never fires on TCP, even when armed for any face', () => {
    const faults = new ModbusFaults();
    faults.add({ kind: 'bad-crc', count: 1 });
    expect(faults.take('tcp')).toBeUndefined();
    expect(faults.take('rtu')?.kind).toBe('bad-crc');
  });

  it('the first armed fault that matches decides; the rest wait their turn', () => {
    const faults = new ModbusFaults();
    faults.add({ kind: 'exception', exceptionCode: 6 });
    faults.add({ kind: 'delay', delayMs: 50 });
    expect(faults.take('rtu')).toMatchObject({ kind: 'exception', exceptionCode: 6 });
    expect(faults.take('rtu')).toMatchObject({ kind: 'delay', delayMs: 50 });
  });

  it('probability fires about that often, repeatably for a seed, until cleared', () => {
    const run = (seed: number): number[] => {
      const faults = new ModbusFaults({ seed });
      const f = faults.add({ kind: 'no-reply', probability: 0.25 });
      expect(f.remaining).toBeNull();
      const hits: number[] = [];
      for (let i = 0; i < 2000; i++) if (faults.take('tcp')) hits.push(i);
      expect(faults.clear(f.id)).toBe(1);
      expect(faults.take('tcp')).toBeUndefined();
      return hits;
    };
    const a = run(42);
    expect(a.length).toBeGreaterThan(400);
    expect(a.length).toBeLessThan(600);
    expect(run(42)).toEqual(a);
    expect(run(43)).not.toEqual(a);
  });

  it('probability with count fires at most count times', () => {
    const faults = new ModbusFaults({ seed: 3 });
    faults.add({ kind: 'garbage', probability: 0.5, count: 3 });
    let fired = 0;
    for (let i = 0; i < 100; i++) if (faults.take('rtu')) fired++;
    expect(fired).toBe(3);
  });

  it('garbage never starts with the byte it must avoid', () => {
    const faults = new ModbusFaults({ seed: 9 });
    for (let i = 0; i < 500; i++) expect(faults.garbage(4, 1)[0]).not.toBe(1);
    expect(faults.garbage(0, 1)).toHaveLength(0);
  });

  it('truncation keeps at least one byte and never the whole reply', () => {
    const faults = new ModbusFaults();
    const half = faults.add({ kind: 'truncate' });
    expect(truncatedLength(half, 41)).toBe(20);
    expect(truncatedLength(half, 1)).toBe(1);
    expect(truncatedLength(faults.add({ kind: 'truncate', bytes: 500 }), 41)).toBe(40);
  });

  const bad: Array<[string, unknown]> = [
    ['an unknown kind', { kind: 'melt' }],
    ['an unknown face', { kind: 'no-reply', face: 'udp' }],
    ['bad-crc on TCP', { kind: 'bad-crc', face: 'tcp' }],
    ['count 0', { kind: 'no-reply', count: 0 }],
    ['a fractional count', { kind: 'no-reply', count: 1.5 }],
    ['probability 0', { kind: 'no-reply', probability: 0 }],
    ['probability above 1', { kind: 'no-reply', probability: 1.5 }],
    ['delay without delayMs', { kind: 'delay' }],
    ['a negative delay', { kind: 'delay', delayMs: -1 }],
    ['delayMs on another kind', { kind: 'no-reply', delayMs: 5 }],
    ['exception code 0', { kind: 'exception', exceptionCode: 0 }],
    ['bytes on an exception', { kind: 'exception', bytes: 3 }],
    ['0 bytes of garbage', { kind: 'garbage', bytes: 0 }],
    ['a negative down time', { kind: 'disconnect', downMs: -5 }],
    ['an unknown field', { kind: 'no-reply', when: 'now' }],
  ];
  for (const [what, spec] of bad) {
    it(`refuses ${what} with SIM_BAD_ARGUMENT`, () => {
      const faults = new ModbusFaults();
      let caught: unknown;
      try {
        faults.add(spec as ModbusFaultSpec);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SimBadArgumentError);
      expect((caught as SimBadArgumentError).code).toBe('SIM_BAD_ARGUMENT');
      expect(faults.list()).toEqual([]);
    });
  }
});

describe('modbus-fault over the control channel', () => {
  const faults = new ModbusFaults();
  const target: ControlTarget = {
    inject: () => true,
    clear: () => true,
    setExposures: () => undefined,
    setAmbient: () => undefined,
    setDoor: () => undefined,
    setDetectorLink: () => undefined,
    expose: () => undefined,
    activeCodes: () => [],
    status: () => ({}),
    modbusFault: (c) => runModbusFaultCommand(faults, c),
  };
  const send = (command: unknown): Record<string, unknown> =>
    JSON.parse(handleLine(target, JSON.stringify(command))) as Record<string, unknown>;

  it('arms, lists and clears faults', () => {
    const armed = send({ cmd: 'modbus-fault', kind: 'bad-crc', face: 'rtu', count: 2, id: 'a' });
    expect(armed).toMatchObject({
      ok: true,
      id: 'a',
      fault: { kind: 'bad-crc', face: 'rtu', remaining: 2 },
    });
    send({ cmd: 'modbus-fault', kind: 'delay', delayMs: 1500, probability: 0.2 });
    const listed = send({ cmd: 'modbus-fault', kind: 'list' });
    expect((listed.armed as unknown[]).length).toBe(2);
    const id = (armed.fault as { id: number }).id;
    expect(send({ cmd: 'modbus-fault', kind: 'none', faultId: id })).toMatchObject({
      ok: true,
      cleared: 1,
    });
    expect(send({ cmd: 'modbus-fault', kind: 'none' })).toMatchObject({ cleared: 1, armed: [] });
  });

  it('answers bad values and bad shapes with typed errors and keeps going', () => {
    expect(send({ cmd: 'modbus-fault', kind: 'melt' })).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_ARGUMENT' },
    });
    expect(send({ cmd: 'modbus-fault', kind: 'delay', delayMs: '5' })).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND' },
    });
    expect(send({ cmd: 'modbus-fault', kind: 'no-reply', faultId: 1 })).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_ARGUMENT' },
    });
    expect(send({ cmd: 'modbus-fault' })).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND' },
    });
    expect(send({ cmd: 'modbus-fault', kind: 'list' })).toMatchObject({ ok: true });
  });

  it('a target without Modbus faults says so', () => {
    const { modbusFault: _m, ...plain } = target;
    const reply = JSON.parse(
      handleLine(plain, JSON.stringify({ cmd: 'modbus-fault', kind: 'list' })),
    ) as Record<string, unknown>;
    expect(reply).toMatchObject({ ok: false, error: { code: 'SIM_BAD_COMMAND' } });
  });
});

/** A raw Modbus TCP master: writes bytes, collects what comes back. */
class RawMaster {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  closed = false;
  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }
  async ready(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    return this;
  }
  /** Sends "read `count` holding registers at `address`" as transaction `tx`. */
  read(tx: number, address: number, count: number, unit = 1): void {
    this.received = Buffer.alloc(0);
    const adu = Buffer.from([0, 0, 0, 0, 0, 6, unit, 3, address >> 8, address & 0xff, 0, count]);
    adu.writeUInt16BE(tx, 0);
    this.socket.write(adu);
  }
  /** Waits until `n` bytes came, or `ms` passed; returns what came. */
  async take(n: number, ms = 500): Promise<Buffer> {
    const deadline = performance.now() + ms;
    while (this.received.length < n && !this.closed && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.received;
  }
}

describe('Modbus TCP face: faults on the wire', () => {
  let face: ModbusTcpFace | undefined;
  const masters: RawMaster[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) m.socket.destroy();
    await face?.close();
    face = undefined;
  });

  const faults = new ModbusFaults({ seed: 5 });
  async function start(): Promise<RawMaster> {
    faults.clear();
    face = await startModbusTcp({
      unitId: 1,
      read: (_t, a, n) => Array.from({ length: n }, (_, i) => a + i),
      faults,
    });
    const m = await new RawMaster(face.port).ready();
    masters.push(m);
    return m;
  }
  // Transaction 7: 2 registers at 10 → 0x000a, 0x000b.
  const normal = Buffer.from('0007000000070103040' + '00a000b', 'hex');

  it('answers at once, with no fault armed', async () => {
    const m = await start();
    m.read(7, 10, 2);
    expect((await m.take(normal.length)).equals(normal)).toBe(true);
  });

  it('no-reply, then normal again', async () => {
    const m = await start();
    faults.add({ kind: 'no-reply' });
    m.read(7, 10, 2);
    expect(await m.take(1, 150)).toHaveLength(0);
    m.read(7, 10, 2);
    expect((await m.take(normal.length)).equals(normal)).toBe(true);
  });

  it('truncate sends the first bytes only, the header still claiming the whole', async () => {
    const m = await start();
    faults.add({ kind: 'truncate', bytes: 9 });
    m.read(7, 10, 2);
    const got = await m.take(normal.length, 150);
    expect(got.equals(normal.subarray(0, 9))).toBe(true);
  });

  it('garbage is random bytes that cannot parse as an MBAP header', async () => {
    const m = await start();
    faults.add({ kind: 'garbage' });
    m.read(7, 10, 2);
    const got = await m.take(normal.length);
    expect(got).toHaveLength(normal.length);
    expect(got.readUInt16BE(2)).not.toBe(0);
  });

  it('exception replaces the reply with the given code', async () => {
    const m = await start();
    faults.add({ kind: 'exception', exceptionCode: 6 });
    m.read(7, 10, 2);
    expect((await m.take(9)).toString('hex')).toBe('000700000003018306');
  });

  it('delay holds the reply back by delayMs', async () => {
    const m = await start();
    faults.add({ kind: 'delay', delayMs: 120 });
    const t0 = performance.now();
    m.read(7, 10, 2);
    await m.take(normal.length, 1000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
  });

  it('disconnect drops every connection and refuses new ones for downMs', async () => {
    const m = await start();
    const other = await new RawMaster(face!.port).ready();
    masters.push(other);
    faults.add({ kind: 'disconnect', downMs: 300 });
    m.read(7, 10, 2);
    await m.take(1, 300);
    expect(m.closed).toBe(true);
    await other.take(1, 300);
    expect(other.closed).toBe(true);
    const refused = new RawMaster(face!.port);
    masters.push(refused);
    await refused.take(1, 200);
    expect(refused.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    const back = await new RawMaster(face!.port).ready();
    masters.push(back);
    back.read(7, 10, 2);
    expect((await back.take(normal.length)).equals(normal)).toBe(true);
  });

  it('a stream that is not Modbus TCP is closed; other connections carry on', async () => {
    const m = await start();
    const other = await new RawMaster(face!.port).ready();
    masters.push(other);
    m.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await m.take(1, 300);
    expect(m.closed).toBe(true);
    other.read(7, 10, 2);
    expect((await other.take(normal.length)).equals(normal)).toBe(true);
    expect(face!.requests).toBe(1);
  });

  it('requests for another unit get no answer, and no fault is spent on them', async () => {
    const m = await start();
    faults.add({ kind: 'exception', exceptionCode: 4 });
    m.read(7, 10, 2, 9);
    expect(await m.take(1, 150)).toHaveLength(0);
    expect(faults.list()).toHaveLength(1);
  });
});
