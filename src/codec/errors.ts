/** Stable codes for every way a frame can be refused by the codec. */
export type CodecErrorCode =
  | 'OUTPOST_MALFORMED_FRAME'
  | 'OUTPOST_FRAME_TOO_LARGE'
  | 'OUTPOST_UNSUPPORTED_VERSION'
  | 'OUTPOST_MISSING_BODY'
  | 'OUTPOST_SAMPLE_TOO_LARGE';

/** A frame or message the codec refuses. `code` is stable; match on it, not on `message`. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
