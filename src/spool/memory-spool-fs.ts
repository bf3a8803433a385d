import { basename, dirname } from 'node:path';
import type { SpoolFile, SpoolFs } from './spool-fs.js';

/** The calls a {@link MemorySpoolFs} counts and can fail. */
export type SpoolFsOp =
  | 'mkdir'
  | 'readdir'
  | 'readFile'
  | 'read'
  | 'open'
  | 'write'
  | 'sync'
  | 'truncate'
  | 'close'
  | 'rename'
  | 'unlink'
  | 'syncDir';

/** A call about to be made, as the fault hook sees it. `n` counts calls of this `op`, from 1. */
export interface SpoolFsCall {
  op: SpoolFsOp;
  path: string;
  n: number;
  /** For `write`: how many bytes the call would write. */
  length?: number;
}

/**
 * What the fault hook makes a call do instead of succeeding:
 * - `{ error }`: reject with that errno (`'EIO'`, `'ENOSPC'`, ...), no effect;
 * - `{ tear, error? }` (write only): the first `tear` bytes land, then reject (default EIO);
 * - `{ crash: true, tear? }`: power cut during this call — a write lands its first `tear`
 *   bytes (default 0), any other call has no effect; the call rejects and the whole view is
 *   dead (every later call rejects with EIO). Get the restarted machine with {@link MemorySpoolFs.reboot}.
 */
export type SpoolFsFault =
  { error: string } | { tear: number; error?: string } | { crash: true; tear?: number };

export interface RebootOptions {
  /**
   * For a file whose current contents extend what was last synced: how many of the unsynced
   * bytes survive the power cut (clamped to [0, unsynced]). Default 0 — only synced data.
   */
  keepUnsynced?: (path: string, unsyncedBytes: number) => number;
  /** Surviving unsynced bytes read back as this byte instead of what was written. */
  garbage?: number;
}

export interface MemorySpoolFsOptions {
  /** Disk size in bytes (sum of file sizes); a write past it lands what fits, then ENOSPC. */
  capacity?: number;
  /** Called before every call; return a fault to inject it. */
  fault?: (call: SpoolFsCall) => SpoolFsFault | undefined;
}

class Inode {
  buf = new Uint8Array(64);
  len = 0;
  /** The contents as of the last sync: what a power cut leaves. */
  durable: Uint8Array = new Uint8Array(0);

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  resize(len: number): void {
    if (len > this.buf.length) {
      const next = new Uint8Array(Math.max(len, this.buf.length * 2));
      next.set(this.bytes());
      this.buf = next;
    } else if (len < this.len) {
      this.buf.fill(0, len, this.len);
    }
    this.len = len;
  }
}

interface Disk {
  dirs: Set<string>;
  /** Names as the running system sees them. */
  names: Map<string, Inode>;
  /** Names as a power cut leaves them (updated by syncDir). */
  durableNames: Map<string, Inode>;
}

function ioError(code: string, message = 'injected fault'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * An in-memory {@link SpoolFs} that is *stricter* than real hardware (the embassy-boot
 * practice): nothing written survives a crash unless its file was synced, and no create,
 * rename or unlink survives unless its directory was synced. It can fail the N-th call of any
 * kind, tear a write, run out of space and crash mid-call, and it can corrupt bytes at rest.
 *
 * `crash()` (or a `{crash: true}` fault) kills this view — every later call on it, including
 * on files it opened, rejects — and `reboot()` returns a new view of what survived. The dead
 * view is the old process: nothing it does can reach the restarted machine.
 *
 * For tests: every `sync` copies the file, so keep files small.
 */
export class MemorySpoolFs implements SpoolFs {
  readonly #disk: Disk;
  #dead = false;
  #fault: MemorySpoolFsOptions['fault'];
  #capacity: number | undefined;
  readonly #counts = new Map<SpoolFsOp, number>();

  constructor(options: MemorySpoolFsOptions = {}, disk?: Disk) {
    this.#disk = disk ?? { dirs: new Set(['/']), names: new Map(), durableNames: new Map() };
    this.#fault = options.fault;
    this.#capacity = options.capacity;
  }

  /** Replaces the fault hook (undefined: no faults). */
  setFault(fault: MemorySpoolFsOptions['fault']): void {
    this.#fault = fault;
  }

  /** Sets the disk size (undefined: unlimited). */
  setCapacity(capacity: number | undefined): void {
    this.#capacity = capacity;
  }

  /** How many calls of `op` this view has made (including failed ones). */
  count(op: SpoolFsOp): number {
    return this.#counts.get(op) ?? 0;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Power cut now: this view dies. Returns the restarted machine's view. */
  crash(options: RebootOptions = {}): MemorySpoolFs {
    this.#dead = true;
    return this.reboot(options);
  }

  /** The restarted machine after this (dead) view's power cut. */
  reboot(options: RebootOptions = {}): MemorySpoolFs {
    if (!this.#dead) throw new Error('reboot() needs a crashed view; call crash()');
    const names = new Map<string, Inode>();
    for (const [path, inode] of this.#disk.durableNames) {
      let contents = inode.durable;
      const current = inode.bytes();
      const unsynced = current.length - contents.length;
      if (options.keepUnsynced && unsynced > 0 && startsWith(current, contents)) {
        const keep = Math.max(
          0,
          Math.min(unsynced, Math.floor(options.keepUnsynced(path, unsynced))),
        );
        const next = new Uint8Array(contents.length + keep);
        next.set(contents);
        next.set(current.subarray(contents.length, contents.length + keep), contents.length);
        if (options.garbage !== undefined) next.fill(options.garbage, contents.length);
        contents = next;
      }
      const fresh = new Inode();
      fresh.resize(contents.length);
      fresh.buf.set(contents);
      fresh.durable = fresh.bytes().slice();
      names.set(path, fresh);
    }
    const disk: Disk = { dirs: new Set(this.#disk.dirs), names, durableNames: new Map(names) };
    return new MemorySpoolFs({ capacity: this.#capacity }, disk);
  }

  /** Media corruption: XORs the byte at `offset` of `path`, in memory and at rest. */
  corrupt(path: string, offset: number, xor = 0xff): void {
    const inode = this.#disk.names.get(path);
    if (!inode || offset < 0 || offset >= inode.len)
      throw new Error(`no byte ${offset} in ${path}`);
    inode.buf[offset]! ^= xor;
    if (offset < inode.durable.length) {
      const d = inode.durable.slice();
      d[offset]! ^= xor;
      inode.durable = d;
    }
  }

  /** Names in `dir` as the running system sees them, sorted. */
  list(dir: string): string[] {
    return [...this.#disk.names.keys()]
      .filter((p) => dirname(p) === dir)
      .map((p) => basename(p))
      .sort();
  }

  /** Names in `dir` that a power cut now would leave (synced directory entries), sorted. */
  listDurable(dir: string): string[] {
    return [...this.#disk.durableNames.keys()]
      .filter((p) => dirname(p) === dir)
      .map((p) => basename(p))
      .sort();
  }

  /** A copy of a file's current contents (undefined if absent). */
  contents(path: string): Uint8Array | undefined {
    return this.#disk.names.get(path)?.bytes().slice();
  }

  /** Sum of the current sizes of all files. */
  usedBytes(): number {
    let used = 0;
    for (const inode of new Set(this.#disk.names.values())) used += inode.len;
    return used;
  }

  async #enter(op: SpoolFsOp, path: string, length?: number): Promise<SpoolFsFault | undefined> {
    if (this.#dead) throw ioError('EIO', 'the machine crashed');
    const n = (this.#counts.get(op) ?? 0) + 1;
    this.#counts.set(op, n);
    const fault = this.#fault?.({ op, path, n, length });
    await Promise.resolve(); // a call is in progress across a turn: a crash can land in it
    this.#alive();
    if (fault && 'crash' in fault) {
      if (op !== 'write') {
        this.#dead = true;
        throw ioError('EIO', 'power cut');
      }
      return fault;
    }
    if (fault && 'error' in fault && !('tear' in fault)) throw ioError(fault.error);
    return fault;
  }

  /**
   * Callers check again right before the effect: the continuation after `await #enter()` runs
   * a turn later, and a crash may have landed in between.
   */
  #alive(): void {
    if (this.#dead) throw ioError('EIO', 'the machine crashed');
  }

  #inode(path: string): Inode {
    const inode = this.#disk.names.get(path);
    if (!inode) throw ioError('ENOENT', `no such file: ${path}`);
    return inode;
  }

  async mkdir(dir: string): Promise<void> {
    await this.#enter('mkdir', dir);
    this.#alive();
    for (let d = dir; !this.#disk.dirs.has(d); d = dirname(d)) this.#disk.dirs.add(d);
  }

  async readdir(dir: string): Promise<string[]> {
    await this.#enter('readdir', dir);
    this.#alive();
    if (!this.#disk.dirs.has(dir)) throw ioError('ENOENT', `no such directory: ${dir}`);
    return this.list(dir);
  }

  async readFile(path: string): Promise<Uint8Array> {
    await this.#enter('readFile', path);
    this.#alive();
    return this.#inode(path).bytes().slice();
  }

  async read(path: string, position: number, length: number): Promise<Uint8Array> {
    await this.#enter('read', path);
    this.#alive();
    const bytes = this.#inode(path).bytes();
    return bytes.slice(Math.min(position, bytes.length), Math.min(position + length, bytes.length));
  }

  async open(path: string, mode: 'create' | 'update'): Promise<SpoolFile> {
    await this.#enter('open', path);
    this.#alive();
    let inode = this.#disk.names.get(path);
    if (mode === 'create') {
      if (inode) throw ioError('EEXIST', `file exists: ${path}`);
      if (!this.#disk.dirs.has(dirname(path)))
        throw ioError('ENOENT', `no such directory: ${path}`);
      inode = new Inode();
      this.#disk.names.set(path, inode);
    } else if (!inode) {
      throw ioError('ENOENT', `no such file: ${path}`);
    }
    return this.#handle(path, inode);
  }

  #handle(path: string, inode: Inode): SpoolFile {
    let closed = false;
    const live = (): void => {
      if (closed) throw ioError('EBADF', `closed: ${path}`);
    };
    return {
      write: async (data, position) => {
        live();
        const fault = await this.#enter('write', path, data.length);
        this.#alive();
        live();
        let n = data.length;
        let error: NodeJS.ErrnoException | undefined;
        if (fault && 'tear' in fault) {
          n = Math.max(0, Math.min(n, fault.tear ?? 0));
          error = 'crash' in fault ? undefined : ioError(fault.error ?? 'EIO', 'torn write');
        }
        if (this.#capacity !== undefined) {
          const growth = Math.max(0, position + n - inode.len);
          const room = this.#capacity - this.usedBytes();
          if (growth > room) {
            n = Math.max(0, n - (growth - Math.max(0, room)));
            error = ioError('ENOSPC', 'no space left on device');
          }
        }
        if (n > 0) {
          if (position + n > inode.len) inode.resize(position + n);
          inode.buf.set(data.subarray(0, n), position);
        }
        if (fault && 'crash' in fault) {
          this.#dead = true;
          throw ioError('EIO', 'power cut');
        }
        if (error) throw error;
      },
      sync: async () => {
        live();
        await this.#enter('sync', path);
        this.#alive();
        live();
        inode.durable = inode.bytes().slice();
      },
      truncate: async (length) => {
        live();
        await this.#enter('truncate', path);
        this.#alive();
        live();
        inode.resize(length);
      },
      close: async () => {
        live();
        closed = true; // released even if the close reports an error
        await this.#enter('close', path);
        this.#alive();
      },
    };
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#enter('rename', to);
    this.#alive();
    const inode = this.#inode(from);
    this.#disk.names.delete(from);
    this.#disk.names.set(to, inode);
  }

  async unlink(path: string): Promise<void> {
    await this.#enter('unlink', path);
    this.#alive();
    this.#inode(path);
    this.#disk.names.delete(path);
  }

  async syncDir(dir: string): Promise<void> {
    await this.#enter('syncDir', dir);
    this.#alive();
    const { names, durableNames } = this.#disk;
    for (const path of [...durableNames.keys()]) {
      if (dirname(path) === dir && !names.has(path)) durableNames.delete(path);
    }
    for (const [path, inode] of names) if (dirname(path) === dir) durableNames.set(path, inode);
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
