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
  DEFAULT_WORKLOAD,
  EXAM_TECHNIQUES,
  type Technique,
  type WorkloadOptions,
} from './workload.js';
export { Prng } from './prng.js';
export * from './errors.js';
