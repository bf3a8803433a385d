import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** What one checkpoint did (SQLite's `PRAGMA wal_checkpoint` row). */
export interface CheckpointResult {
  /** 1 if the checkpoint could not run (another one held the lock). */
  busy: number;
  /** Frames in the WAL when it ran. */
  log: number;
  /** Frames of the WAL that are now in the database file. */
  checkpointed: number;
}

/**
 * The worker's code (plain JavaScript, evaluated: no loader, no bundler path to resolve). It
 * opens its own connection to the hub's database and runs a PASSIVE checkpoint whenever asked:
 * the WAL is fsynced, its frames are copied into the database file and that file is fsynced,
 * SQLite's own checkpoint, on this thread instead of inside a commit on the event loop. PASSIVE
 * never waits for, or blocks, the hub's writer.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// 1 once this thread holds no connection (never opened, or closed): what close() waits for.
const gone = new Int32Array(workerData.gone);
const release = () => {
  Atomics.store(gone, 0, 1);
  Atomics.notify(gone, 0);
};
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
} catch (err) {
  release();
  throw err;
}
db.pragma('synchronous = FULL');
// Waits here, on this thread, never on the hub's event loop.
db.pragma('busy_timeout = 5000');
// Test seam: a slow disk, as a pause before each checkpoint.
const pause = workerData.delayMs > 0 ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    release();
    parentPort.close();
    return;
  }
  if (pause) Atomics.wait(pause, 0, 0, workerData.delayMs);
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, row });
  } catch (err) {
    parentPort.postMessage({ ok: false, message: String(err && err.message || err) });
  }
});
`;

/**
 * How long {@link Checkpointer.close} waits for the worker to close its connection: its
 * checkpoint under way first (a slow disk), then the close.
 */
const CLOSE_WAIT_MS = 10_000;

/**
 * Runs the hub database's WAL checkpoints on a worker thread (see hub/README.md). One
 * checkpoint at a time; {@link request} returns false while one runs. If the worker fails to
 * start or a checkpoint throws, {@link failed} is set and the caller falls back to checkpointing
 * on its own connection.
 */
export class Checkpointer {
  readonly #worker: Worker;
  /** Set to 1 by the worker once it holds no connection to the database. */
  readonly #gone = new Int32Array(new SharedArrayBuffer(4));
  #exited = false;
  #running = false;
  #failed: Error | undefined;
  #done = 0;
  readonly #onResult: (r: CheckpointResult) => void;
  readonly #onFail: (err: Error) => void;

  /**
   * `onResult` after each checkpoint; `onFail` once, when the worker can no longer checkpoint.
   * `delayMs` (tests): the worker pauses this long before each checkpoint, as a slow disk.
   */
  constructor(
    path: string,
    onResult: (r: CheckpointResult) => void,
    onFail: (err: Error) => void = () => undefined,
    delayMs = 0,
  ) {
    this.#onResult = onResult;
    this.#onFail = onFail;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, driver, delayMs, gone: this.#gone.buffer },
      // No loader hooks of the parent (tsx, vitest): the code above is plain CommonJS.
      execArgv: [],
    });
    // The hub's lifetime is not the worker's: an idle checkpointer keeps no process alive.
    this.#worker.unref();
    this.#worker.on(
      'message',
      (m: { ok: true; row: CheckpointResult } | { ok: false; message: string }) => {
        this.#running = false;
        if (!m.ok) {
          this.#fail(new Error(`WAL checkpoint failed: ${m.message}`));
          return;
        }
        this.#done++;
        this.#onResult(m.row);
      },
    );
    // An error thrown in the worker arrives as a plain object of its fields (a SqliteError
    // opening the file has only its `code`).
    this.#worker.on('error', (err: unknown) =>
      this.#fail(
        err instanceof Error
          ? err
          : new Error(`WAL checkpoint worker failed: ${JSON.stringify(err)}`, { cause: err }),
      ),
    );
    this.#worker.on('exit', () => {
      this.#exited = true;
      if (!this.#closed) this.#fail(new Error('WAL checkpoint worker exited'));
    });
  }

  #closed = false;

  #fail(err: Error): void {
    this.#running = false;
    if (this.#failed) return;
    this.#failed = err;
    this.#onFail(err);
  }

  /** Why the worker can no longer checkpoint, if it cannot. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** A checkpoint is under way on the worker. */
  get running(): boolean {
    return this.#running;
  }

  /** Checkpoints the worker has completed. */
  get completed(): number {
    return this.#done;
  }

  /** Starts a checkpoint unless one runs (or the worker failed); true if one was started. */
  request(): boolean {
    if (this.#running || this.#failed || this.#closed) return false;
    this.#running = true;
    this.#worker.postMessage('checkpoint');
    return true;
  }

  /**
   * Closes the worker's connection once its current checkpoint (if any) is done, and returns
   * only when it has (at most {@link CLOSE_WAIT_MS}; false if that ran out). The caller closes
   * its own connection after: SQLite's last connection to a database deletes "<path>-wal" and
   * "-shm" by name as it closes, so a worker closing late could delete the files of a database
   * opened at the same path in the meantime (the one it had was replaced).
   */
  close(): boolean {
    if (this.#closed) return Atomics.load(this.#gone, 0) === 1 || this.#exited;
    this.#closed = true;
    if (this.#exited) return true;
    this.#worker.postMessage('close');
    // Blocks the event loop while the worker ends its checkpoint: close is the end of the hub.
    return Atomics.wait(this.#gone, 0, 0, CLOSE_WAIT_MS) !== 'timed-out';
  }
}
