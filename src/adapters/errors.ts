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
  | 'MODBUS_SHORT_REPLY';

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
