import { randomBytes } from 'node:crypto';
import { errno, nodeFs, writeFileAtomic, type FsOps } from './atomic-write.js';
import { KeystoreError } from './errors.js';

/** Length of a sealing key (XSalsa20-Poly1305). */
export const SEALING_KEY_LENGTH = 32;

/**
 * Where the keystore's sealing key comes from. The keystore file is useless without it, so it
 * should live somewhere an attacker who copies the file does not also get: a TPM, the OS
 * keyring, a secure element. {@link FileKeyProvider} is for the simulator and tests.
 *
 * Contract:
 * - `getSealingKey` resolves with a NEW 32-byte array on every call. The caller owns it and
 *   zeroes it after use, so never hand out an array you keep.
 * - It is called once per open and once per write; it may be slow (a TPM unseal) but should
 *   not prompt a user.
 * - On failure it rejects, preferably with a `KeystoreError` `KEYSTORE_BAD_KEY` whose message
 *   says what to fix and contains no key material.
 */
export interface KeyProvider {
  /** Short name for messages and audit ("file", "tpm", "keyring"). */
  readonly kind: string;
  getSealingKey(): Promise<Uint8Array>;
}

/**
 * A sealing key kept in a file of exactly 32 raw bytes, mode 0600, owned by the agent's user.
 * A key file that group or others can read is refused rather than used.
 */
export class FileKeyProvider implements KeyProvider {
  readonly kind = 'file';
  readonly #fs: FsOps;

  constructor(
    readonly path: string,
    options: { fs?: FsOps } = {},
  ) {
    this.#fs = options.fs ?? nodeFs;
  }

  /**
   * Generates a random key and writes it to `path` atomically with mode 0600.
   *
   * @throws KeystoreError `KEYSTORE_EXISTS` if `path` exists (it is never overwritten: that
   *   would make every keystore sealed with the old key unreadable); `KEYSTORE_WRITE_FAILED`.
   */
  static async create(path: string, options: { fs?: FsOps } = {}): Promise<FileKeyProvider> {
    const provider = new FileKeyProvider(path, options);
    const key = randomBytes(SEALING_KEY_LENGTH);
    try {
      await writeFileAtomic(provider.#fs, path, key, false);
    } finally {
      key.fill(0);
    }
    return provider;
  }

  /** @throws KeystoreError `KEYSTORE_BAD_KEY` when the file is missing, unreadable, too open or not 32 bytes. */
  async getSealingKey(): Promise<Uint8Array> {
    const fh = await this.#fs.open(this.path, 'r').catch((err: unknown) => {
      const why = errno(err) === 'ENOENT' ? 'does not exist' : 'cannot be opened';
      throw badKey(`sealing key file ${this.path} ${why}`, err);
    });
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw badKey(`sealing key file ${this.path} is not a regular file`);
      // Windows has no POSIX mode bits; protect the file with an ACL there instead.
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
        throw badKey(
          `sealing key file ${this.path} has mode ${mode} and is readable by group or others; ` +
            `restrict it with: chmod 600 ${this.path}`,
        );
      }
      if (st.size !== SEALING_KEY_LENGTH) {
        throw badKey(
          `sealing key file ${this.path} is ${st.size} bytes; a sealing key is ${SEALING_KEY_LENGTH}`,
        );
      }
      const buf = await fh.readFile();
      try {
        if (buf.length !== SEALING_KEY_LENGTH) {
          throw badKey(`sealing key file ${this.path} changed size while being read`);
        }
        return new Uint8Array(buf);
      } finally {
        buf.fill(0);
      }
    } finally {
      await fh.close();
    }
  }
}

/** A key held in memory, for tests and for providers that already have the key in hand. */
export class StaticKeyProvider implements KeyProvider {
  readonly kind = 'static';
  readonly #key: Uint8Array;

  /** Copies `key`. @throws KeystoreError `KEYSTORE_BAD_KEY` unless it is 32 bytes. */
  constructor(key: Uint8Array) {
    if (key.length !== SEALING_KEY_LENGTH) {
      throw badKey(`a sealing key is ${SEALING_KEY_LENGTH} bytes, got ${key.length}`);
    }
    this.#key = new Uint8Array(key);
  }

  /** A provider with a fresh random key. */
  static generate(): StaticKeyProvider {
    const key = randomBytes(SEALING_KEY_LENGTH);
    try {
      return new StaticKeyProvider(key);
    } finally {
      key.fill(0);
    }
  }

  getSealingKey(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#key));
  }
}

function badKey(message: string, cause?: unknown): KeystoreError {
  return new KeystoreError('KEYSTORE_BAD_KEY', message, { cause });
}
