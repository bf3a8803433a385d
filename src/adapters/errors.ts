/** Stable codes for adapter failures. Health reports and telemetry carry these. */
export type AdapterErrorCode =
  | 'ADAPTER_CANCELLED'
  | 'ADAPTER_TIMEOUT'
  | 'ADAPTER_NOT_CONNECTED'
  | 'ADAPTER_CONNECT_FAILED'
  | 'ADAPTER_DISCONNECTED'
  | 'ADAPTER_BAD_REPLY'
  | 'MODBUS_EXCEPTION'
  | 'MODBUS_TIMEOUT'
  | 'MODBUS_CRC'
  | 'MODBUS_SHORT_REPLY'
  /** Vendor SDK (src/adapters/sdk/): a call got no answer within its timeout. */
  | 'SDK_TIMEOUT'
  /** The SDK reported a failure status of its own (kept in `SdkError.sdkStatus`). */
  | 'SDK_ERROR'
  /** The SDK or the device does not offer this call (unknown method, optional capability). */
  | 'SDK_UNSUPPORTED'
  /** The thing asked for (a log file) does not exist. */
  | 'SDK_NOT_FOUND'
  /** The SDK speaks a protocol or version this binding does not support. */
  | 'SDK_INCOMPATIBLE'
  /** The out-of-process SDK sent bytes that are not a frame of its protocol. */
  | 'SDK_BAD_FRAME'
  /** A frame larger than the agreed maximum (refused without buffering it). */
  | 'SDK_FRAME_TOO_LARGE'
  /** A log file larger than the adapter's `maxLogBytes`. */
  | 'SDK_LOG_TOO_LARGE'
  /** Serial service port (src/adapters/serial/): a line whose checksum does not match (either way). */
  | 'SERIAL_BAD_CHECKSUM'
  /** Bytes on the line that are not a frame (noise, a wrong baud rate), and no reply after them. */
  | 'SERIAL_GARBAGE'
  /** A line longer than the framer's maximum (dropped up to its end). */
  | 'SERIAL_LINE_TOO_LONG'
  /** The reply began but its line never ended before the timeout. */
  | 'SERIAL_TRUNCATED'
  /** The controller answered `ERR <code>` (kept in `SerialDeviceError.deviceCode`). */
  | 'SERIAL_DEVICE_ERROR';

/** Modbus exception codes (function code | 0x80 replies). */
export const MODBUS_EXCEPTIONS = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
} as const;

/**
 * A failure talking to the device. `canceled` is true only when the caller aborted the
 * operation (close, shutdown): that is not a device fault and never counts against health.
 */
export class AdapterError extends Error {
  override readonly name = 'AdapterError';
  readonly canceled: boolean;
  constructor(
    readonly code: AdapterErrorCode,
    message: string,
    options: { cause?: unknown; modbusException?: number; address?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.canceled = code === 'ADAPTER_CANCELLED';
    this.modbusException = options.modbusException;
    this.address = options.address;
  }
  /** Modbus exception code from the device, when the device answered with one. */
  readonly modbusException: number | undefined;
  /** First register address of the failed request, when there was one. */
  readonly address: number | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'OUTPOST_BAD_CONFIG';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${path}: ${message}`);
  }
}
