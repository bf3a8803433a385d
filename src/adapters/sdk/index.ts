export type {
  VendorSdk,
  SdkInfo,
  SdkCounter,
  SdkCounters,
  SdkActiveErrors,
  SdkEvent,
  SdkLogInfo,
  SdkLogChunk,
  SdkMethodName,
} from './types.js';
export { SdkError } from './errors.js';
export { raceAbort } from '../abort.js';
export { VendorSdkAdapter, vendorSdkAdapter, type VendorSdkAdapterOptions } from './adapter.js';
export { toReading as sdkCounterReading } from './readings.js';
export { IpcSdkClient, type IpcSdkClientOptions } from './ipc-client.js';
export {
  SdkFrameParser,
  encodeSdkFrame,
  DEFAULT_MAX_FRAME_BYTES as SDK_MAX_FRAME_BYTES,
  type FrameParserState as SdkFrameParserState,
} from './frame-parser.js';
export { decodeIpcMessage, IPC_PROTOCOL, IPC_STATUS, type IpcMessage } from './messages.js';
export { FakeVendorSdk, type FakeSdkFault, type FakeVendorSdkOptions } from './fake-sdk.js';
