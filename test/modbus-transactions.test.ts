/**
 * modbus-serial keeps every finished transaction until its id comes round again (256 reads
 * later over TCP); the agent's client drops them after each read, so a read's objects die
 * young instead of piling up in V8's old generation between full GCs.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { ModbusTcpClient } from '../src/adapters/index.js';
import {
  heldTransactions,
  loadModbusRtu,
  type ModbusMaster,
} from '../src/adapters/modbus/master.js';

describe('Modbus TCP client and modbus-serial transactions', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ seed: 3, controlPort: false, tickMs: 0 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('leaves no finished transaction on the master after 300 reads', async () => {
    // Note the master the client creates, and call through to modbus-serial.
    const Master = await loadModbusRtu();
    const masters = new Set<ModbusMaster>();
    const real = Master.prototype.readHoldingRegisters;
    const spy = vi.spyOn(Master.prototype, 'readHoldingRegisters').mockImplementation(function (
      this: ModbusMaster,
      ...args: Parameters<typeof real>
    ) {
      masters.add(this);
      return real.apply(this, args);
    });
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: sim.modbusPort, unitId: 1 });
    try {
      await client.open();
      for (let i = 0; i < 300; i++) expect(await client.read('holding', 0, 10)).toHaveLength(10);
      expect(masters.size).toBe(1);
      expect(heldTransactions([...masters][0]!)).toBe(0);
    } finally {
      spy.mockRestore();
      await client.close();
    }
  });
});
