/**
 * Stable codes for keystore failures. Callers branch on these, never on message text.
 *
 * - `KEYSTORE_NOT_FOUND`: the keystore file does not exist (the device is not enrolled yet).
 * - `KEYSTORE_EXISTS`: `create` refused to overwrite an existing keystore or key file.
 * - `KEYSTORE_READ_FAILED`: the keystore file exists but could not be read (permissions, I/O).
 * - `KEYSTORE_UNSEAL_FAILED`: authentication failed — wrong sealing key or a modified file;
 *   secretbox cannot tell which.
 * - `KEYSTORE_CORRUPT`: bad magic, unknown format version, truncated header, or sealed
 *   contents that decrypt but do not have the expected shape.
 * - `KEYSTORE_BAD_KEY`: the key provider could not supply a usable 32-byte sealing key.
 * - `KEYSTORE_INVALID_CONTENTS`: `create` or an `update` mutator produced contents that do not
 *   have the expected shape; nothing was written.
 * - `KEYSTORE_WRITE_FAILED`: writing failed; see `cause`. The previous file is untouched unless
 *   the message says otherwise.
 */
export type KeystoreErrorCode =
  | 'KEYSTORE_NOT_FOUND'
  | 'KEYSTORE_EXISTS'
  | 'KEYSTORE_READ_FAILED'
  | 'KEYSTORE_UNSEAL_FAILED'
  | 'KEYSTORE_CORRUPT'
  | 'KEYSTORE_BAD_KEY'
  | 'KEYSTORE_INVALID_CONTENTS'
  | 'KEYSTORE_WRITE_FAILED';

/**
 * A keystore failure. Messages name files and fields but never contain key material, secrets
 * or sealed contents, so they are safe to log and to report to the hub.
 */
export class KeystoreError extends Error {
  override readonly name = 'KeystoreError';
  constructor(
    readonly code: KeystoreErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
  }
}
