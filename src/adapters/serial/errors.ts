import { AdapterError, type AdapterErrorCode } from '../errors.js';

/**
 * An {@link AdapterError} for an `ERR <code> <text>` reply: the controller understood the line
 * and refused the request. `deviceCode` is the controller's own code (`NOFILE`, `ARG`, `CHK`,
 * ...), `deviceText` its explanation. Match on `code`; the device fields are detail.
 */
export class SerialDeviceError extends AdapterError {
  readonly deviceCode: string;
  readonly deviceText: string;

  constructor(
    code: AdapterErrorCode,
    message: string,
    options: { deviceCode: string; deviceText: string; cause?: unknown },
  ) {
    super(code, message, { cause: options.cause });
    this.deviceCode = options.deviceCode;
    this.deviceText = options.deviceText;
  }
}

/** Failures worth one more try: the line damaged the reply, or the reply did not come. */
export function isRetriable(err: unknown): boolean {
  return (
    err instanceof AdapterError &&
    (err.code === 'ADAPTER_TIMEOUT' ||
      err.code === 'SERIAL_BAD_CHECKSUM' ||
      err.code === 'SERIAL_GARBAGE' ||
      err.code === 'SERIAL_TRUNCATED')
  );
}
