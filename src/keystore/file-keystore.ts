import { dirname } from 'node:path';
import { errno, nodeFs, placeFileAtomic, syncDirectory, type FsOps } from './atomic-write.js';
import { copyContents, validateContents, wipeContents, type KeystoreContents } from './contents.js';
import { KeystoreError } from './errors.js';
import { SEALING_KEY_LENGTH, type KeyProvider } from './key-provider.js';
import { SEALED_FORMAT, sealContents, unsealContents } from './sealed-format.js';

/** Seams for tests; production code passes nothing. */
export interface FileKeystoreOptions {
  /** File-system calls (default `node:fs/promises`). Fail one to simulate a crash mid-write. */
  fs?: FsOps;
  /** Clock for `updatedAtMs` (default `Date.now`). */
  now?: () => number;
}

/**
 * Rewrites the contents. Edit the draft in place and return nothing, or return new contents.
 * Must be synchronous; if it throws, nothing is written and the error reaches the caller.
 */
export type KeystoreMutator = (draft: KeystoreContents) => KeystoreContents | void;

/**
 * A device's secrets in one sealed file (format in `sealed-format.ts`). The contents live in
 * memory after `open`; every change is written atomically and durably before it is visible.
 * The sealing key is fetched from the provider for each open and write and zeroed after use.
 */
export class FileKeystore {
  readonly #provider: KeyProvider;
  readonly #fs: FsOps;
  readonly #now: () => number;
  // Private fields keep the secrets out of console.log / util.inspect of the keystore.
  #contents: KeystoreContents;
  #queue: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    provider: KeyProvider,
    contents: KeystoreContents,
    options: FileKeystoreOptions,
  ) {
    this.#provider = provider;
    this.#contents = contents;
    this.#fs = options.fs ?? nodeFs;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Opens and unseals an existing keystore.
   *
   * @throws KeystoreError `KEYSTORE_NOT_FOUND` (absent), `KEYSTORE_READ_FAILED`,
   *   `KEYSTORE_BAD_KEY`, `KEYSTORE_UNSEAL_FAILED` (wrong key or modified file),
   *   `KEYSTORE_CORRUPT`.
   */
  static async open(
    path: string,
    provider: KeyProvider,
    options: FileKeystoreOptions = {},
  ): Promise<FileKeystore> {
    const file = await readSealedFile(options.fs ?? nodeFs, path);
    const key = await sealingKey(provider);
    try {
      return new FileKeystore(
        path,
        provider,
        unsealContents(file, key, path, provider.kind),
        options,
      );
    } finally {
      key.fill(0);
    }
  }

  /**
   * Seals `contents` into a new keystore at `path`. `updatedAtMs` is set to now.
   *
   * @throws KeystoreError `KEYSTORE_EXISTS` (never overwrites), `KEYSTORE_INVALID_CONTENTS`,
   *   `KEYSTORE_BAD_KEY`, `KEYSTORE_WRITE_FAILED`.
   */
  static async create(
    path: string,
    provider: KeyProvider,
    contents: KeystoreContents,
    options: FileKeystoreOptions = {},
  ): Promise<FileKeystore> {
    const fs = options.fs ?? nodeFs;
    const now = options.now ?? Date.now;
    const valid = validateContents(
      { ...contents, updatedAtMs: now() },
      'KEYSTORE_INVALID_CONTENTS',
    );
    try {
      await placeFileAtomic(fs, path, await seal(valid, provider), false);
    } catch (err) {
      wipeContents(valid);
      throw err;
    }
    const keystore = new FileKeystore(path, provider, valid, options);
    await syncDirectory(fs, dirname(path));
    return keystore;
  }

  /** A deep copy of the contents; the byte arrays are fresh copies the caller may wipe. */
  read(): KeystoreContents {
    return copyContents(this.#contents);
  }

  /**
   * Applies `mutator` to a copy of the contents, validates the result, stamps `updatedAtMs`
   * and writes it. Updates are serialised: concurrent calls queue and each sees the result of
   * the one before, so none is lost. A failed update changes nothing and later ones still run.
   *
   * @throws KeystoreError `KEYSTORE_INVALID_CONTENTS`, `KEYSTORE_BAD_KEY`,
   *   `KEYSTORE_WRITE_FAILED` (the file and `read()` are unchanged, except when only the
   *   final directory sync failed: then the new contents are in place, `read()` returns them,
   *   and the message says durability is unknown); or whatever `mutator` threw.
   */
  update(mutator: KeystoreMutator): Promise<void> {
    const run = this.#queue.then(() => this.#apply(mutator));
    // Keep the queue going after a failure; the caller still gets the failure through `run`.
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(mutator: KeystoreMutator): Promise<void> {
    const draft = copyContents(this.#contents);
    const result: unknown = mutator(draft);
    if (isThenable(result)) {
      throw new KeystoreError(
        'KEYSTORE_INVALID_CONTENTS',
        'keystore update mutator returned a promise; it must be synchronous',
      );
    }
    const proposed = (result ?? draft) as KeystoreContents;
    const next = validateContents(
      { ...proposed, updatedAtMs: this.#now() },
      'KEYSTORE_INVALID_CONTENTS',
    );
    try {
      await placeFileAtomic(this.#fs, this.path, await seal(next, this.#provider), true);
    } catch (err) {
      wipeContents(next);
      throw err;
    }
    const previous = this.#contents;
    this.#contents = next;
    wipeContents(previous);
    await syncDirectory(this.#fs, dirname(this.path));
  }
}

async function seal(contents: KeystoreContents, provider: KeyProvider): Promise<Uint8Array> {
  const key = await sealingKey(provider);
  try {
    return sealContents(contents, key);
  } finally {
    key.fill(0);
  }
}

/** Asks the provider for the key and checks it; the result is the caller's to zero. */
async function sealingKey(provider: KeyProvider): Promise<Uint8Array> {
  let key: unknown;
  try {
    key = await provider.getSealingKey();
  } catch (err) {
    if (err instanceof KeystoreError) throw err;
    throw new KeystoreError(
      'KEYSTORE_BAD_KEY',
      `the '${provider.kind}' key provider could not supply the sealing key`,
      { cause: err },
    );
  }
  if (!(key instanceof Uint8Array) || key.length !== SEALING_KEY_LENGTH) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    if (key instanceof Uint8Array) key.fill(0);
    throw new KeystoreError(
      'KEYSTORE_BAD_KEY',
      `the '${provider.kind}' key provider returned ${got}; a sealing key is ${SEALING_KEY_LENGTH} bytes`,
    );
  }
  return key;
}

async function readSealedFile(fs: FsOps, path: string): Promise<Uint8Array> {
  const fh = await fs.open(path, 'r').catch((err: unknown) => {
    if (errno(err) === 'ENOENT') {
      throw new KeystoreError('KEYSTORE_NOT_FOUND', `keystore ${path} does not exist`, {
        cause: err,
      });
    }
    throw new KeystoreError('KEYSTORE_READ_FAILED', `cannot open keystore ${path}`, { cause: err });
  });
  try {
    const { size } = await fh.stat();
    if (size > SEALED_FORMAT.maxFileLength) {
      throw new KeystoreError(
        'KEYSTORE_CORRUPT',
        `keystore ${path} is ${size} bytes, more than the ${SEALED_FORMAT.maxFileLength} allowed`,
      );
    }
    return await fh.readFile();
  } catch (err) {
    if (err instanceof KeystoreError) throw err;
    throw new KeystoreError('KEYSTORE_READ_FAILED', `cannot read keystore ${path}`, { cause: err });
  } finally {
    await fh.close();
  }
}

function isThenable(v: unknown): boolean {
  return (
    typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
  );
}
