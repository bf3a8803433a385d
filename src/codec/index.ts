export { CodecError, type CodecErrorCode } from './errors.js';
export {
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  MAX_FRAME_BYTES,
  BODY_FIELD,
  encodeFrame,
  encodeFrameWithBody,
  encodeBody,
  encodeBatchFrame,
  batchFrameLength,
  decodeFrame,
  packTelemetryBody,
  envelopeOverhead,
  type Body,
  type BodyType,
  type EnvelopeHeader,
  type Frame,
  type DecodeOptions,
} from './envelope.js';
export {
  MESSAGE_BUDGET_BYTES,
  MESSAGE_TARGET_MIN_BYTES,
  bodyBudget,
  packTelemetry,
  type PackedTelemetry,
  sampleFieldSize,
  encodeAlarmBody,
} from './budget.js';
export { outpost as proto } from './gen/outpost.js';
export { NumberReader, reader } from './number-reader.js';
export {
  DEVICE_LABEL,
  HUB_LABEL,
  EXPORTER_LABEL,
  EXPORTER_BYTES,
  EXPORTER_CONTEXT,
  tlsExporter,
  TERMINATED_UPSTREAM_MARKER,
  DEVICE_AUTH_SIGNATURE_FIELD,
  HUB_AUTH_SIGNATURE_FIELD,
  appendBytesField,
  withoutField,
  rawField,
  deviceSigningInput,
  hubSigningInput,
} from './handshake.js';
export { hashEnrolmentToken, renewProofInput, enrolProofInput } from './credentials.js';
