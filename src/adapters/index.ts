export type {
  DeviceAdapter,
  DeviceSnapshot,
  CounterReading,
  ActiveErrors,
  AdapterHealth,
  DeviceEvent,
  AdapterCapabilities,
} from './types.js';
export { AdapterError, ConfigError, MODBUS_EXCEPTIONS, type AdapterErrorCode } from './errors.js';
export { ModbusAdapter, modbusTcpAdapter, type ModbusAdapterOptions } from './modbus/adapter.js';
export { ModbusTcpClient, type ModbusClient, type ModbusTcpOptions } from './modbus/client.js';
export {
  parseRegisterMap,
  registerCount,
  type RegisterMap,
  type CounterDef,
  type ErrorSlotsDef,
  type RegisterType,
  type RegisterTable,
  type WordOrder,
} from './modbus/register-map.js';
export { planReads, MAX_REGISTERS_PER_READ, type ReadRequest } from './modbus/plan.js';
