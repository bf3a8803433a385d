import { AdapterError, type AdapterErrorCode } from '../errors.js';

/**
 * An {@link AdapterError} from a vendor SDK binding that also carries the SDK's own status (a
 * native return code, the IPC endpoint's error code) and message, so a service engineer can look
 * it up in the vendor's manual. Match on `code`; `sdkStatus` is detail.
 */
export class SdkError extends AdapterError {
  /** The SDK's own status code, when it reported one. */
  readonly sdkStatus: number | string | undefined;

  constructor(
    code: AdapterErrorCode,
    message: string,
    options: { cause?: unknown; sdkStatus?: number | string } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.sdkStatus = options.sdkStatus;
  }
}

/** Codes that mean the link is gone: the next call must reconnect. */
export function isLinkLoss(err: unknown): boolean {
  return (
    err instanceof AdapterError &&
    (err.code === 'ADAPTER_DISCONNECTED' ||
      err.code === 'ADAPTER_NOT_CONNECTED' ||
      err.code === 'SDK_BAD_FRAME' ||
      err.code === 'SDK_FRAME_TOO_LARGE')
  );
}

/** Whatever an SDK threw, as an AdapterError (a foreign error becomes `SDK_ERROR`). */
export function toAdapterError(err: unknown, what: string): AdapterError {
  if (err instanceof AdapterError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const status = (err as { code?: unknown } | null)?.code;
  return new SdkError('SDK_ERROR', `${what} failed in the vendor SDK: ${message}`, {
    cause: err,
    ...(typeof status === 'number' || typeof status === 'string' ? { sdkStatus: status } : {}),
  });
}
