import type { SpoolFs } from './spool-fs.js';

/**
 * A few KB of disk the spool keeps for itself. On a full disk, acked segments can only be
 * deleted once the state file that says they are acked is written — which needs space. Without
 * a reserve a full disk wedges the spool for good; with it, the spool releases the reserve,
 * writes its state, deletes what the hub has acknowledged, and takes the reserve back later.
 */
export const RESERVE_FILE = 'reserve';

const CHUNK = 16 * 1024;

/** Creates the reserve file of `bytes` (synced, name durable). False if it could not. */
export async function createReserve(fs: SpoolFs, dir: string, bytes: number): Promise<boolean> {
  const path = `${dir}/${RESERVE_FILE}`;
  try {
    await (await fs.open(path, 'update')).close();
    return true; // kept from an earlier run
  } catch {
    // not there: create it
  }
  try {
    const fh = await fs.open(path, 'create');
    try {
      const zeros = new Uint8Array(Math.min(CHUNK, bytes));
      for (let at = 0; at < bytes; at += zeros.length) {
        await fh.write(zeros.subarray(0, Math.min(zeros.length, bytes - at)), at);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.syncDir(dir);
    return true;
  } catch {
    await fs.unlink(path).catch(() => undefined); // a partial reserve is no reserve
    return false;
  }
}

/** Deletes the reserve file, if any. True if one was there and is now gone. */
export async function releaseReserve(fs: SpoolFs, dir: string): Promise<boolean> {
  try {
    await fs.unlink(`${dir}/${RESERVE_FILE}`);
  } catch {
    return false;
  }
  await fs.syncDir(dir).catch(() => undefined);
  return true;
}
