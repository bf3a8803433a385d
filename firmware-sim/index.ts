/** Public face of the simulated XR-200 modality controller. */
export { startSimulator, type Simulator, type SimulatorOptions } from './simulator.js';
export {
  ControllerModel,
  type ControllerModelOptions,
  type ControllerErrorEvent,
  type Counters,
  type CounterName,
  type ErrorCause,
  type ClearReason,
  type ErrorListener,
  type ExposeOptions,
  type InjectOptions,
  type ModelSnapshot,
} from './model.js';
export { catalogue, lookupCode, type CatalogueEntry } from './catalogue.js';
export {
  defaultRegisterMap,
  parseRegisterMap,
  encodeCounter,
  RegisterImage,
  type RegisterMap,
  type CounterSpec,
  type RegisterTable,
  type RegisterType,
  type CounterType,
  type WordOrder,
} from './registers.js';
export {
  executeCommand,
  handleLine,
  parseCommand,
  startControlServer,
  type ControlCommand,
  type ControlReply,
  type ControlTarget,
} from './control.js';
export { startModbusTcp, type ModbusTcpFace, type ModbusTcpOptions } from './modbus-tcp.js';
export {
  startModbusRtu,
  type ModbusRtuFace,
  type ModbusRtuOptions,
  type ModbusRtuStats,
} from './modbus-rtu.js';
export {
  crc16 as modbusCrc16,
  encodeRtuFrame,
  checkRtuFrame,
  RtuFramer,
  silenceGapMs,
  type RtuFramerEvent,
  type RtuFramerOptions,
} from './modbus-rtu-frame.js';
export { answerPdu, exceptionPdu, FunctionCodes, type ModbusReader } from './modbus-pdu.js';
export {
  ModbusFaults,
  MODBUS_FAULT_KINDS,
  type ModbusFault,
  type ModbusFaultKind,
  type ModbusFaultSpec,
  type ModbusFaceName,
} from './modbus-faults.js';
export { runModbusFaultCommand, type ModbusFaultCommand } from './modbus-faults-control.js';
export {
  DEFAULT_WORKLOAD,
  EXAM_TECHNIQUES,
  type Technique,
  type WorkloadOptions,
} from './workload.js';
export { Prng } from './prng.js';
export {
  ControllerClock,
  ModelFaults,
  MAX_CLOCK_JUMP_MS,
  WRAP_COUNTERS,
  type FaultStatus,
  type PowerListener,
  type PowerState,
  type RebootOptions,
  type StormOptions,
  type StormStatus,
  type WrapCounter,
} from './model-faults.js';
export { runFaultCommand, type FaultCommand } from './model-faults-control.js';
export {
  startSdkEndpoint,
  type SdkDevice,
  type SdkEndpoint,
  type SdkEndpointOptions,
  type SdkEndpointStats,
} from './sdk-endpoint.js';
export {
  SDK_FAULT_KINDS,
  SdkFaultPlan,
  parseSdkFault,
  type SdkFault,
  type SdkFaultKind,
} from './sdk-faults.js';
export { runSdkFaultCommand, type SdkFaultCommand } from './sdk-control.js';
export {
  SDK_MAX_FRAME_BYTES,
  SDK_MAX_READ_BYTES,
  SDK_METHODS,
  SDK_PROTOCOL,
  SDK_STATUS,
  SDK_VERSION,
  FrameDecoder as SdkFrameDecoder,
  SdkProtocolError,
  encodeFrame as encodeSdkFrame,
  type SdkMethod,
  type SdkStatus,
} from './sdk-protocol.js';
export { SdkLogStore, type SdkLogInfo } from './sdk-logs.js';
export {
  startServicePort,
  type ServicePort,
  type ServicePortDeps,
  type ServicePortOptions,
  type ServicePortState,
  type ServicePortStats,
} from './service-port.js';
export {
  parseFault as parseServicePortFault,
  type ReplyFault as ServicePortReplyFault,
  type ServicePortFault,
} from './service-port-faults.js';
export { runSerialFaultCommand, type SerialFaultCommand } from './service-port-control.js';
export {
  checksumOf as servicePortChecksum,
  frameLine as servicePortFrame,
} from './service-port-frame.js';
export { openPtyPair, type PtyPair } from './service-port-pty.js';
export { ControllerLogs, type ControllerLogsOptions, type LogFileInfo } from './logs.js';
export * from './errors.js';
