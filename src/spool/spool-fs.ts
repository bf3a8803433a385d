import * as fsp from 'node:fs/promises';

/**
 * An open spool file (a segment or a temp file). Offsets are explicit; nothing is buffered in
 * user space.
 */
export interface SpoolFile {
  /**
   * Writes every byte of `data` at `position`. A rejection may leave any prefix of `data`
   * written (a short write followed by ENOSPC, or a torn write before a crash).
   */
  write(data: Uint8Array, position: number): Promise<void>;
  /** fsync: once this resolves, the contents and size survive a power cut (not the name). */
  sync(): Promise<void>;
  /** Sets the size; durable only after {@link sync}. */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls the spool makes — a seam so tests can fail the N-th call, tear a
 * write, fill the disk or crash (see `MemorySpoolFs`). Errors are Node-style: an `Error` with
 * a string `code` (`ENOENT`, `EEXIST`, `ENOSPC`, `EIO`, ...).
 *
 * Durability contract (POSIX, what the spool assumes and the fake enforces): file contents are
 * durable after `SpoolFile.sync`; a created, renamed or deleted *name* is durable only after
 * `syncDir` of its directory.
 */
export interface SpoolFs {
  /** Creates `dir` and missing parents; no error if it exists. */
  mkdir(dir: string): Promise<void>;
  /** Names (not paths) in `dir`. */
  readdir(dir: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Up to `length` bytes at `position` (fewer at end of file). */
  read(path: string, position: number, length: number): Promise<Uint8Array>;
  /** `create`: a new file (EEXIST if present), mode 0600. `update`: an existing file, read-write. */
  open(path: string, mode: 'create' | 'update'): Promise<SpoolFile>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync of the directory, making creates, renames and unlinks in it durable. */
  syncDir(dir: string): Promise<void>;
}

/** The real file system (`node:fs/promises`). */
export const nodeSpoolFs: SpoolFs = {
  async mkdir(dir) {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  },
  readdir: (dir) => fsp.readdir(dir),
  async readFile(path) {
    const b = await fsp.readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  async read(path, position, length) {
    const fh = await fsp.open(path, 'r');
    try {
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(out, got, length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return out.subarray(0, got);
    } finally {
      await fh.close();
    }
  },
  async open(path, mode) {
    const fh = await fsp.open(path, mode === 'create' ? 'wx' : 'r+', 0o600);
    return {
      async write(data, position) {
        let done = 0;
        while (done < data.length) {
          const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
          done += bytesWritten;
        }
      },
      sync: () => fh.sync(),
      truncate: (length) => fh.truncate(length),
      close: () => fh.close(),
    };
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  async syncDir(dir) {
    let dh: fsp.FileHandle;
    try {
      dh = await fsp.open(dir, 'r');
    } catch (err) {
      if (errnoOf(err) === 'EISDIR' || errnoOf(err) === 'EINVAL') return; // cannot sync a directory here
      throw err;
    }
    try {
      await dh.sync();
    } catch (err) {
      if (errnoOf(err) !== 'EISDIR' && errnoOf(err) !== 'EINVAL') throw err;
    } finally {
      await dh.close();
    }
  },
};

/** The `code` of a Node system error, if any. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const { code } = err as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
