/**
 * Outpost agent library: the public API OEMs link into their device software. Nothing else
 * under src/ is a supported import path.
 */
export {
  createAgent,
  AGENT_VERSION,
  type Agent,
  type AgentConfig,
  type AgentEvents,
  type AgentSpoolOptions,
  type AgentStats,
  type CommandHandler,
} from './runtime/agent.js';
export {
  parseErrorCatalogue,
  type ErrorCatalogue,
  type ErrorCodeInfo,
  type Severity,
} from './runtime/catalogue.js';
export type { ErrorTransition } from './runtime/error-tracker.js';
export {
  parseTransmitSchedule,
  nextTransmitAt,
  isTransmitOpen,
  type TransmitSchedule,
  type TransmitScheduleConfig,
} from './runtime/transmit-schedule.js';
export {
  enrolDevice,
  saveEnrolment,
  credentialsFromKeystore,
  EnrolmentError,
  type EnrolOptions,
  type EnrolledCredentials,
  type EnrolmentErrorCode,
} from './runtime/enrol.js';
export type {
  RotationOptions,
  TlsCredential as RotatedCredential,
} from './runtime/credential-rotator.js';
export type { TlsKeyType } from './runtime/tls-key.js';
export { systemClock, type Clock, type TimerHandle } from './runtime/clock.js';
export {
  jsonLogger,
  silentLogger,
  type Logger,
  type LogLevel,
  type LogStream,
} from './runtime/logger.js';
export * from './adapters/index.js';
export {
  MemoryQueue,
  FileSpool,
  FILE_SPOOL_DEFAULTS,
  SpoolError,
  nodeSpoolFs,
  LANES,
  type Lane,
  type OutboundQueue,
  type QueueGap,
  type QueueStats,
  type QueuedRecord,
  type RecordInput,
  type FileSpoolOptions,
  type FileSpoolStats,
  type SpoolErrorCode,
  type SpoolFile,
  type SpoolFs,
} from './spool/index.js';
export {
  createProxyAgent,
  describeProxyFailure,
  redactProxyUrl,
  ProxyError,
  type ProxyConfig,
  type ProxyErrorCode,
} from './tunnel/proxy.js';
export { ed25519Identity, generateIdentityKey, type DeviceIdentity } from './tunnel/identity.js';
export * from './keystore/index.js';
export {
  TunnelError,
  CLOSE,
  backoffDelay,
  DEFAULT_BACKOFF,
  TLS_POLICY,
  TLS12_POLICY,
  spkiPin,
  type TunnelErrorCode,
  type TunnelState,
  type BackoffPolicy,
} from './tunnel/index.js';
export {
  CodecError,
  PROTOCOL_VERSION,
  MESSAGE_BUDGET_BYTES,
  type CodecErrorCode,
} from './codec/index.js';
