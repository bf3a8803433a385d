import type { ModbusTable } from './register-map.js';

/**
 * The narrow Modbus master the adapter needs. Implementations own the transport (TCP socket,
 * serial line); the adapter owns the register map, retries and health.
 *
 * - `read` resolves with exactly `count` values: register words for `holding`/`input`, bits as
 *   0/1 for `coil`/`discrete` (functions 3, 4, 1, 2). Otherwise it rejects with an
 *   {@link AdapterError}: MODBUS_EXCEPTION (with the code), MODBUS_TIMEOUT, MODBUS_CRC,
 *   MODBUS_SHORT_REPLY, ADAPTER_BAD_REPLY, ADAPTER_DISCONNECTED (the link dropped during the
 *   read) or ADAPTER_NOT_CONNECTED (not open).
 * - One read at a time: the adapter never overlaps calls.
 * - `close()` is idempotent; a read in progress rejects (the adapter reports it as cancelled).
 */
export interface ModbusClient {
  readonly kind: string;
  readonly isOpen: boolean;
  open(): Promise<void>;
  read(table: ModbusTable, address: number, count: number): Promise<number[]>;
  close(): Promise<void>;
}

export { ModbusTcpClient, type ModbusTcpOptions } from './tcp-client.js';
export { ModbusRtuClient, type ModbusRtuOptions } from './rtu-client.js';
export { toAdapterError } from './master.js';
