import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SimListenFailedError } from './errors.js';
import { findFreePort, startModbusTcp, type ModbusTcpFace } from './modbus-tcp.js';
import { startSimulator, type Simulator } from './simulator.js';
import { closeClient, modbusClient, modbusException } from './test-helpers.js';

describe('Modbus TCP face over loopback', () => {
  let sim: Simulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  const quietSim = () =>
    startSimulator({ tickMs: 0, controlPort: false, workload: { enabled: false } }).then(
      (s) => (sim = s),
    );

  it('serves the register image to a modbus-serial client', async () => {
    const s = await quietSim();
    s.model.setExposures(0x1234_5678);
    s.model.setAmbient(-12);
    s.model.step(3_600_000);
    s.model.expose(80, 200, 100);
    const client = await modbusClient(s.modbusPort);
    try {
      const counters = await client.readHoldingRegisters(0, 18);
      expect(counters.data).toEqual(s.readRegisters('holding', 0, 18));
      expect(counters.data.slice(0, 2)).toEqual([0x1234, 0x5679]);
      expect(counters.data[5]).toBe(0x10000 + Math.round(s.snapshot().counters.detector_temp * 10));
      expect(counters.data.slice(6, 9)).toEqual([800, 2000, 100]);
      const single = await client.readHoldingRegisters(11, 1); // one register: another server path
      expect(single.data).toEqual([1]);
      const slots = await client.readHoldingRegisters(100, 8);
      expect(slots.data).toEqual([3002, 0, 0, 0, 0, 0, 0, 0]);
    } finally {
      await closeClient(client);
    }
  });

  it('shows an injected code on the very next read', async () => {
    const s = await quietSim();
    const client = await modbusClient(s.modbusPort);
    try {
      expect((await client.readHoldingRegisters(100, 8)).data).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
      s.inject(2002);
      s.model.setDoor(false); // a change through the model alone is visible too
      expect((await client.readHoldingRegisters(100, 8)).data).toEqual([
        2002, 4001, 0, 0, 0, 0, 0, 0,
      ]);
      expect((await client.readHoldingRegisters(11, 1)).data).toEqual([0]);
      s.clear(2002);
      expect((await client.readHoldingRegisters(100, 2)).data).toEqual([4001, 0]);
    } finally {
      await closeClient(client);
    }
  });

  it('answers addresses outside the map with exception 2 and writes with exception 1', async () => {
    const s = await quietSim();
    const client = await modbusClient(s.modbusPort);
    try {
      expect(await modbusException(client.readHoldingRegisters(18, 1))).toBe(2);
      expect(await modbusException(client.readHoldingRegisters(16, 4))).toBe(2);
      expect(await modbusException(client.readHoldingRegisters(50, 10))).toBe(2);
      expect(await modbusException(client.readHoldingRegisters(0, 126))).toBe(3); // over the spec's 125
      expect(await modbusException(client.readInputRegisters(0, 2))).toBe(2);
      expect(await modbusException(client.readCoils(0, 1))).toBe(2);
      expect(await modbusException(client.writeRegister(0, 1))).toBe(1);
      expect(await modbusException(client.writeRegisters(0, [1, 2]))).toBe(1);
      // The connection survives exceptions.
      expect((await client.readHoldingRegisters(16, 2)).data).toEqual([0, 0]);
    } finally {
      await closeClient(client);
    }
  });

  it('delays responses by the configured time', async () => {
    const s = await quietSim();
    const client = await modbusClient(s.modbusPort);
    try {
      s.modbusDelayMs = 150;
      let t0 = performance.now();
      await client.readHoldingRegisters(0, 18);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
      t0 = performance.now();
      expect(await modbusException(client.readHoldingRegisters(18, 1))).toBe(2);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
      s.modbusDelayMs = 0;
      t0 = performance.now();
      await client.readHoldingRegisters(0, 18);
      expect(performance.now() - t0).toBeLessThan(140);
    } finally {
      await closeClient(client);
    }
  });

  it('ignores requests for another unit id', async () => {
    const s = await quietSim();
    const client = await modbusClient(s.modbusPort, 7, 300);
    try {
      await expect(client.readHoldingRegisters(0, 2)).rejects.toMatchObject({
        message: 'Timed out',
      });
    } finally {
      await closeClient(client);
    }
  });
});

describe('startModbusTcp', () => {
  let face: ModbusTcpFace | undefined;
  afterEach(async () => {
    await face?.close();
    face = undefined;
  });

  it('listens on a requested port and refuses a taken one with a typed error', async () => {
    const port = await findFreePort('127.0.0.1');
    face = await startModbusTcp({
      port,
      unitId: 1,
      read: (_t, _a, n) => new Array<number>(n).fill(7),
    });
    expect(face.port).toBe(port);
    const client = await modbusClient(port);
    expect((await client.readHoldingRegisters(3, 3)).data).toEqual([7, 7, 7]);
    await closeClient(client);
    const err = await startModbusTcp({ port, unitId: 1, read: () => [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimListenFailedError);
    expect((err as SimListenFailedError).cause).toMatchObject({ code: 'EADDRINUSE' });
  });

  it('turns a reader bug into exception 4 (server device failure), not a crash', async () => {
    face = await startModbusTcp({
      unitId: 1,
      read: () => {
        throw new Error('bug');
      },
    });
    const client = await modbusClient(face.port);
    expect(await modbusException(client.readHoldingRegisters(0, 2))).toBe(4);
    await closeClient(client);
  });

  it('stops accepting connections once closed', async () => {
    face = await startModbusTcp({ unitId: 1, read: () => [] });
    const { port } = face;
    await face.close();
    face = undefined;
    const refused = await new Promise<unknown>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(null));
      socket.once('error', resolve);
    });
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
  });
});
