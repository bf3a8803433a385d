/**
 * A `SpoolFs` over the real file system that misbehaves on cue, inside the agent process:
 * kill -9 itself at a chosen moment of an append (inside an fsync, right after one, in the
 * middle of a write), fail fsyncs with EIO, fail writes with ENOSPC. Everything else is the
 * real `nodeSpoolFs`, so what survives a kill is what a real disk would keep.
 */
import { nodeSpoolFs, type SpoolFile, type SpoolFs } from '../../src/spool/spool-fs.js';
import type { SpoolFsFaults } from './protocol.js';

export class FaultySpoolFs implements SpoolFs {
  /** While true every write fails with ENOSPC (after writing a random prefix). */
  enospc = false;
  /** The next this-many fsyncs fail with EIO. */
  failSyncs = 0;
  readonly counts = { writes: 0, syncs: 0, syncFailures: 0, writeFailures: 0 };
  readonly #inner: SpoolFs;

  constructor(
    readonly kills: SpoolFsFaults = {},
    readonly kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
    inner: SpoolFs = nodeSpoolFs,
  ) {
    this.#inner = inner;
  }

  mkdir(dir: string): Promise<void> {
    return this.#inner.mkdir(dir);
  }
  readdir(dir: string): Promise<string[]> {
    return this.#inner.readdir(dir);
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.#inner.readFile(path);
  }
  read(path: string, position: number, length: number): Promise<Uint8Array> {
    return this.#inner.read(path, position, length);
  }
  rename(from: string, to: string): Promise<void> {
    return this.#inner.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return this.#inner.unlink(path);
  }
  syncDir(dir: string): Promise<void> {
    return this.#inner.syncDir(dir);
  }

  async open(path: string, mode: 'create' | 'update'): Promise<SpoolFile> {
    const file = await this.#inner.open(path, mode);
    return {
      write: async (data, position) => {
        const n = ++this.counts.writes;
        if (this.kills.killMidWrite === n && data.length > 1) {
          const cutAt = 1 + Math.floor(Math.random() * (data.length - 1));
          await file.write(data.subarray(0, cutAt), position);
          this.kill();
        }
        if (this.enospc) {
          this.counts.writeFailures++;
          const cutAt = Math.floor(Math.random() * data.length);
          if (cutAt > 0) await file.write(data.subarray(0, cutAt), position);
          throw errno('ENOSPC', 'no space left on device (injected)');
        }
        await file.write(data, position);
      },
      sync: async () => {
        const n = ++this.counts.syncs;
        if (this.kills.killInSync === n) this.kill();
        if (this.failSyncs > 0) {
          this.failSyncs--;
          this.counts.syncFailures++;
          throw errno('EIO', 'i/o error (injected fsync failure)');
        }
        await file.sync();
        if (this.kills.killAfterSync === n) this.kill();
      },
      truncate: (length) => file.truncate(length),
      close: () => file.close(),
    };
  }
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${message}`);
  e.code = code;
  return e;
}
