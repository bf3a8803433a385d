import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeystoreError } from './errors.js';

/**
 * The file-system calls the keystore makes — a seam so tests can fail any one of them (the
 * rename, the fsync, the write) and check that a crash mid-write leaves the old file intact.
 * `node:fs/promises` satisfies it.
 */
export type FsOps = Pick<typeof fsp, 'open' | 'rename' | 'link' | 'unlink' | 'lstat'>;

/** The real file system. */
export const nodeFs: FsOps = fsp;

/**
 * Puts `data` at `path` atomically: readers see the old file or the new one, never a mix.
 *
 * 1. write `<path>.tmp-<random>` (created exclusively, mode 0o600) through a file handle;
 * 2. `fsync` it and close it;
 * 3. `overwrite`: `rename` it over `path`. Otherwise `link` it to `path` (fails if `path`
 *    exists, so nothing is ever overwritten) and unlink the temp name; where the file system
 *    has no hard links, check that `path` is absent and rename.
 *
 * Does not sync the directory: call {@link syncDirectory} after, so the caller can tell "not
 * written" (this throws) from "written, durability unknown" (that throws).
 *
 * @throws KeystoreError `KEYSTORE_EXISTS` when `overwrite` is false and `path` exists;
 *   `KEYSTORE_WRITE_FAILED` otherwise. Either way the temp file is gone and `path` unchanged.
 */
export async function placeFileAtomic(
  fs: FsOps,
  path: string,
  data: Uint8Array,
  overwrite: boolean,
): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  let created = false;
  let linked = false;
  let placing = false;
  try {
    const fh = await fs.open(tmp, 'wx', 0o600);
    created = true;
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    placing = true;
    if (overwrite) {
      await fs.rename(tmp, path);
      created = false;
    } else {
      linked = await linkNoReplace(fs, tmp, path);
      if (!linked) created = false; // renamed into place
    }
  } catch (err) {
    if (created) await fs.unlink(tmp).catch(() => undefined); // best effort; the original error wins
    if (placing && !overwrite && errno(err) === 'EEXIST') {
      throw new KeystoreError('KEYSTORE_EXISTS', `${path} already exists; refusing to overwrite`);
    }
    throw new KeystoreError('KEYSTORE_WRITE_FAILED', `could not write ${path}; it is unchanged`, {
      cause: err,
    });
  }
  if (linked) {
    // The new file is in place under `path`; a leftover temp name only holds the same bytes.
    await fs.unlink(tmp).catch(() => undefined);
  }
}

/** Hard-links `tmp` to `path` (true), or renames it where links are unsupported (false). */
async function linkNoReplace(fs: FsOps, tmp: string, path: string): Promise<boolean> {
  try {
    await fs.link(tmp, path);
    return true;
  } catch (err) {
    const code = errno(err);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') {
      throw err;
    }
  }
  // No hard links here (FAT and some network file systems): check, then rename. Not atomic
  // against a concurrent creator, which the single agent process does not have.
  const exists = await fs.lstat(path).then(
    () => true,
    (err: unknown) => {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    },
  );
  if (exists) throw Object.assign(new Error(`${path} exists`), { code: 'EEXIST' });
  await fs.rename(tmp, path);
  return false;
}

/**
 * Makes a rename or link in `dir` durable by fsyncing the directory. Platforms that cannot
 * open or sync a directory (EISDIR, EINVAL) are skipped.
 *
 * @throws KeystoreError `KEYSTORE_WRITE_FAILED` with the cause.
 */
export async function syncDirectory(fs: FsOps, dir: string): Promise<void> {
  try {
    const dh = await fs.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (err) {
    const code = errno(err);
    if (code === 'EISDIR' || code === 'EINVAL') return;
    throw new KeystoreError(
      'KEYSTORE_WRITE_FAILED',
      `could not sync directory ${dir}; the new file is in place but may not survive a power cut`,
      { cause: err },
    );
  }
}

/** {@link placeFileAtomic} then {@link syncDirectory}. */
export async function writeFileAtomic(
  fs: FsOps,
  path: string,
  data: Uint8Array,
  overwrite: boolean,
): Promise<void> {
  await placeFileAtomic(fs, path, data, overwrite);
  await syncDirectory(fs, dirname(path));
}

/** The `code` of a Node system error, if any. */
export function errno(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const { code } = err as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
