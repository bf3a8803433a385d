/**
 * Stable codes for spool failures. Callers branch on these, never on message text.
 *
 * - `SPOOL_WRITE_FAILED`: writing or syncing the record failed (I/O error; see `cause`). The
 *   append accepted nothing; the spool retries with the next group on a fresh segment.
 * - `SPOOL_DISK_FULL`: the file system is out of space or over its quota (ENOSPC, EDQUOT).
 *   Same guarantees as `SPOOL_WRITE_FAILED`.
 * - `SPOOL_QUOTA`: the spool's own `maxBytes` is reached and nothing evictable is left (only
 *   alarms), or an alarm would pass the hard limit of `maxBytes * 1.1`.
 * - `SPOOL_TOO_LARGE`: the record alone is larger than `maxRecordBytes` or `maxBytes`.
 * - `SPOOL_INVALID_RECORD`: the record is malformed (unknown lane, body not bytes, ...).
 * - `SPOOL_CLOSED`: the spool is closing or closed.
 * - `SPOOL_OPEN_FAILED`: the spool directory could not be read or prepared (I/O; see
 *   `cause`). Never raised for the *contents* of the files: any bytes are recovered from.
 */
export type SpoolErrorCode =
  | 'SPOOL_WRITE_FAILED'
  | 'SPOOL_DISK_FULL'
  | 'SPOOL_QUOTA'
  | 'SPOOL_TOO_LARGE'
  | 'SPOOL_INVALID_RECORD'
  | 'SPOOL_CLOSED'
  | 'SPOOL_OPEN_FAILED';

/** A spool failure. Messages name files and sizes, never record contents. */
export class SpoolError extends Error {
  override readonly name = 'SpoolError';
  constructor(
    readonly code: SpoolErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}

/** Wraps an I/O error: ENOSPC and EDQUOT become `SPOOL_DISK_FULL`, the rest `SPOOL_WRITE_FAILED`. */
export function toSpoolError(err: unknown, what: string): SpoolError {
  if (err instanceof SpoolError) return err;
  const code =
    typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
      ? (err as { code: string }).code
      : undefined;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new SpoolError(
    full ? 'SPOOL_DISK_FULL' : 'SPOOL_WRITE_FAILED',
    full ? `${what}: the disk is full (${code})` : `${what}${code ? ` (${code})` : ''}`,
    { cause: err },
  );
}
