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
export { modbusRtuAdapter } from './modbus/adapter.js';
export { ModbusRtuClient, type ModbusRtuOptions } from './modbus/rtu-client.js';
export {
  parseRegisterMap,
  registerCount,
  isBitTable,
  type BitTable,
  type ModbusTable,
  type RegisterMap,
  type CounterDef,
  type ErrorSlotsDef,
  type RegisterType,
  type RegisterTable,
  type WordOrder,
} from './modbus/register-map.js';
export { planReads, MAX_REGISTERS_PER_READ, type ReadRequest } from './modbus/plan.js';
export { MAX_BITS_PER_READ, maxPerRead } from './modbus/plan.js';
export * from './sdk/index.js';
export {
  SerialAdapter,
  serialAdapter,
  type SerialAdapterOptions,
  type SerialHealth,
} from './serial/serial-adapter.js';
export type { CommandLinkOptions } from './serial/command-link.js';
export { serialCountersFromRegisterMap, type SerialCounterDef } from './serial/counters.js';
export { SerialDeviceError } from './serial/errors.js';
export { LineFramer, type FramerEvent, type LineFramerOptions } from './serial/line-framer.js';
export { NodeSerialTransport, type NodeSerialOptions } from './serial/node-transport.js';
export { FakeSerialTransport, type FakeSerialOptions } from './serial/fake-transport.js';
export type { SerialTransport, SerialCloseInfo, SerialClock } from './serial/transport.js';
