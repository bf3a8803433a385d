import * as modbusSerial from 'modbus-serial';
import { AdapterError } from '../errors.js';
import type { RegisterTable } from './register-map.js';

// modbus-serial is CommonJS (`module.exports = ModbusRTU`) but its typings declare an ES
// `export default`; under NodeNext TypeScript therefore sees the class one `.default` deeper
// than Node puts it. The cast states what Node actually loads.
const ModbusRTU = modbusSerial.default as unknown as typeof modbusSerial.default.default;
type ModbusMaster = InstanceType<typeof ModbusRTU>;

/**
 * The narrow Modbus master the adapter needs. Implementations own the transport (TCP socket,
 * serial line); the adapter owns the register map, retries and health. Reads resolve with
 * exactly `count` words or reject with an {@link AdapterError}.
 */
export interface ModbusClient {
  readonly kind: string;
  readonly isOpen: boolean;
  open(): Promise<void>;
  read(table: RegisterTable, address: number, count: number): Promise<number[]>;
  close(): Promise<void>;
}

export interface ModbusTcpOptions {
  host: string;
  port: number;
  unitId: number;
  /** Per-request timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** TCP connect timeout. Default 3000 ms. */
  connectTimeoutMs?: number;
}

/** A Modbus TCP master on `modbus-serial`. */
export class ModbusTcpClient implements ModbusClient {
  readonly kind = 'modbus-tcp';
  #master: ModbusMaster = new ModbusRTU();
  readonly #options: Required<ModbusTcpOptions>;

  constructor(options: ModbusTcpOptions) {
    this.#options = { timeoutMs: 1000, connectTimeoutMs: 3000, ...options };
  }

  get isOpen(): boolean {
    return this.#master.isOpen;
  }

  async open(): Promise<void> {
    const { host, port, unitId, timeoutMs, connectTimeoutMs } = this.#options;
    // A fresh master per connection: modbus-serial keeps transaction state per port.
    await this.#closeQuietly();
    this.#master = new ModbusRTU();
    this.#master.setTimeout(timeoutMs);
    try {
      await this.#master.connectTCP(host, { port, timeout: connectTimeoutMs });
    } catch (cause) {
      throw new AdapterError(
        'ADAPTER_CONNECT_FAILED',
        `cannot reach Modbus TCP server at ${host}:${port} (${describe(cause)}); check the address and that the controller is powered`,
        { cause },
      );
    }
    this.#master.setID(unitId);
  }

  async read(table: RegisterTable, address: number, count: number): Promise<number[]> {
    if (!this.#master.isOpen) {
      throw new AdapterError('ADAPTER_NOT_CONNECTED', 'Modbus TCP connection is not open');
    }
    try {
      const res =
        table === 'holding'
          ? await this.#master.readHoldingRegisters(address, count)
          : await this.#master.readInputRegisters(address, count);
      if (!Array.isArray(res.data) || res.data.length < count) {
        throw new AdapterError(
          'MODBUS_SHORT_REPLY',
          `short reply reading ${count} ${table} registers at ${address}: got ${Array.isArray(res.data) ? res.data.length : 0}`,
          { address },
        );
      }
      return res.data.slice(0, count);
    } catch (cause) {
      throw toAdapterError(cause, table, address, count);
    }
  }

  async close(): Promise<void> {
    await this.#closeQuietly();
  }

  async #closeQuietly(): Promise<void> {
    const master = this.#master;
    if (!master.isOpen) return;
    await new Promise<void>((resolve) => master.close(() => resolve()));
  }
}

/** Maps modbus-serial's error shapes onto stable adapter error codes. */
export function toAdapterError(
  cause: unknown,
  table: RegisterTable,
  address: number,
  count: number,
): AdapterError {
  if (cause instanceof AdapterError) return cause;
  const e = (cause ?? {}) as { modbusCode?: unknown; errno?: unknown; message?: unknown };
  const what = `reading ${count} ${table} registers at ${address}`;
  if (typeof e.modbusCode === 'number') {
    return new AdapterError(
      'MODBUS_EXCEPTION',
      `device answered exception ${e.modbusCode} ${what} (${String(e.message)})`,
      {
        cause,
        modbusException: e.modbusCode,
        address,
      },
    );
  }
  if (e.errno === 'ETIMEDOUT') {
    return new AdapterError(
      'MODBUS_TIMEOUT',
      `no reply ${what}; the bus or controller is stuck or the unit id is wrong`,
      {
        cause,
        address,
      },
    );
  }
  const message = typeof e.message === 'string' ? e.message : String(cause);
  if (/CRC/i.test(message))
    return new AdapterError('MODBUS_CRC', `bad CRC in reply ${what}`, { cause, address });
  if (/length/i.test(message))
    return new AdapterError('MODBUS_SHORT_REPLY', `malformed reply ${what}: ${message}`, {
      cause,
      address,
    });
  return new AdapterError('ADAPTER_DISCONNECTED', `link lost ${what}: ${message}`, {
    cause,
    address,
  });
}

function describe(cause: unknown): string {
  return cause instanceof Error
    ? cause.message
    : String((cause as { message?: unknown })?.message ?? cause);
}
