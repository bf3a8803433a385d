import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Frame } from '../src/codec/index.js';
import { Checkpointer, type CheckpointResult } from './checkpointer.js';
import { ReceivedSeqs } from './received-seqs.js';
import { float32FromBits } from './values.js';

export interface StreamPosition {
  /** Highest seq stored with nothing missing below it. */
  acked: number;
  /**
   * Seqs accounted for above `acked`: stored out of order (alarms overtake telemetry), or
   * inside a Gap the device reported (records it accepted and then had to drop).
   */
  above: ReceivedSeqs;
}

/** One data frame to store (see {@link HubStore.storeBatch}). */
export interface StoreItem {
  readonly deviceId: string;
  readonly streamId: string;
  readonly frame: Frame;
  /** Size of the frame on the wire. */
  readonly bytes: number;
  readonly receivedAtMs: number;
}

export interface StoredAlarm {
  deviceId: string;
  seq: number;
  code: number;
  state: 'raised' | 'cleared';
  severity: number;
  subsystem: string;
  text: string;
  observedAtMs: number;
  storedAtMs: number;
  missedRaises: number;
}

export interface StoredGap {
  streamId: string;
  fromSeq: number;
  toSeq: number;
  records: number;
  reason: 'quota' | 'corrupt' | 'hub-state-behind' | 'unspecified';
  storedAtMs: number;
}

export interface StoredSample {
  deviceId: string;
  tMs: number;
  values: Record<string, number | null>;
}

export interface SecurityEvent {
  atMs: number;
  kind: string;
  deviceId: string | null;
  remote: string | null;
  detail: string;
}

export type StoreResult = { outcome: 'stored'; samples: number } | { outcome: 'duplicate' };

/** A store failure with a stable code. */
export class HubStoreError extends Error {
  override readonly name = 'HubStoreError';
  readonly code: 'OUTPOST_HUB_SYNC_FAILED';

  constructor(code: HubStoreError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * What the hub keeps of a data frame (see hub/README.md, "Storage modes"):
 * - `rows`: everything: a `frames` row (the de-duplication key) and its derived rows (alarms,
 *   samples, error events, command results, gaps).
 * - `seqs-only`: no data rows. Per stream only the cumulative ack and the seq ranges received
 *   above it (and Gap rows, the loss reports); the frames reach only the hub's `stored` event
 *   listeners. De-duplication by (device, stream, seq) and the ack after the commit work as in
 *   `rows`; what was acknowledged is gone unless a listener kept it.
 */
export type DataMode = 'rows' | 'seqs-only';

export interface HubStoreOptions {
  /** Default `rows`. */
  data?: DataMode;
  /**
   * WAL checkpoint policy of a file database (tests): the worker checkpoints after about
   * `everyBytes` written (default 16 MiB, SQLite's 1 000 pages of 16 KiB), and past
   * `restartFrames` WAL frames data commits are held (see {@link HubStore.commitsHeld}) while it
   * finishes a checkpoint so the WAL restarts (default {@link WAL_RESTART_FRAMES}), for at most
   * `holdMs` (default {@link HOLD_MAX_MS}). `worker: false`: SQLite's autocheckpoint, in the
   * commits, as before the worker.
   */
  checkpoint?: {
    everyBytes?: number;
    restartFrames?: number;
    holdMs?: number;
    worker?: boolean;
    /** Test seam: the file the worker opens instead of the store's (a missing one fails it). */
    workerPath?: string;
    /** Test seam: the worker pauses this long before each checkpoint (a slow disk). */
    workerDelayMs?: number;
  };
}

/** SQLite's default autocheckpoint, in pages: what the hub falls back to without its worker. */
const WAL_AUTOCHECKPOINT_PAGES = 1000;
/** WAL written between two checkpoints by the worker: SQLite's default, 1 000 pages. */
const CHECKPOINT_BYTES = WAL_AUTOCHECKPOINT_PAGES * 16_384;
/** What a stored frame adds to the WAL besides its own bytes (its rows' keys, the indexes). */
const ROW_OVERHEAD_BYTES = 100;
/** At most this long between checkpoints while anything is written. */
const CHECKPOINT_MAX_MS = 1000;
/** WAL frames (pages) past which data commits wait for a checkpoint that lets the WAL restart. */
export const WAL_RESTART_FRAMES = 4096;
/**
 * Longest hold of the data commits for that checkpoint; past it they go on, and the event loop
 * finishes the checkpoint itself once the worker's ends.
 */
export const HOLD_MAX_MS = 1000;
/** After a hold ran out, this long without holds (the event loop checkpoints instead). */
export const HOLD_BACKOFF_MS = 60_000;

/** SQLite page size of a new hub database. */
export const PAGE_SIZE = 16_384;

const DUPLICATE: StoreResult = Object.freeze({ outcome: 'duplicate' });
const STORED_NO_SAMPLES: StoreResult = Object.freeze({ outcome: 'stored', samples: 0 });

const FRAME_COLUMNS = [
  'device_id',
  'stream_id',
  'seq',
  'type',
  'bytes',
  'sent_at_ms',
  'received_at_ms',
] as const;
const ALARM_COLUMNS = [
  'device_id',
  'stream_id',
  'seq',
  'code',
  'state',
  'severity',
  'subsystem',
  'text',
  'observed_at_ms',
  'stored_at_ms',
  'missed_raises',
] as const;

/** Rows per multi-row INSERT: the largest of these that fits what is left (few statements). */
const CHUNK_SIZES = [32, 8, 1] as const;

function chunkRows(left: number): number {
  for (const n of CHUNK_SIZES) if (left >= n) return n;
  return 1;
}

/**
 * The hub's durable state in SQLite (better-sqlite3, WAL, synchronous=FULL): a frame is acked
 * only after the transaction that stores it has committed. Every data frame is recorded in
 * `frames` under its (device, stream, seq) key, which is what makes a resent frame a no-op.
 */
export class HubStore {
  readonly #db: Database.Database;
  readonly #stmt;

  /** The WAL file, opened read-only for {@link syncData}; undefined for an in-memory store. */
  #walFd: number | undefined;
  /** A WAL fsync failed: nothing stored since can be promised, so every later batch fails. */
  #syncError: Error | undefined;
  /** Batches committed with a deferred fsync, and how many of them a finished fsync covers. */
  #deferredCommits = 0;
  #syncedCommits = 0;
  #walSyncs = 0;
  readonly #data: DataMode;
  /**
   * `seqs-only`: what each stream (key `device\0stream`) holds, as committed: the store's own
   * de-duplication, as the `frames` key is in `rows` mode. Loaded by openStream.
   */
  readonly #seqs = new Map<string, StreamPosition>();

  constructor(path = ':memory:', options: HubStoreOptions = {}) {
    this.#data = options.data ?? 'rows';
    this.#checkpointBytes = options.checkpoint?.everyBytes ?? CHECKPOINT_BYTES;
    this.#restartFrames = options.checkpoint?.restartFrames ?? WAL_RESTART_FRAMES;
    this.#holdMaxMs = options.checkpoint?.holdMs ?? HOLD_MAX_MS;
    this.#db = new Database(path);
    // Before anything creates the file (no effect on an existing database): a 2 KB alarm row
    // fills a 4 KiB page on its own, so with the default page size every such frame costs
    // 4 KiB in the WAL and again in the checkpoint; 16 KiB pages hold seven.
    this.#db.pragma(`page_size = ${PAGE_SIZE}`);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('foreign_keys = ON');
    // 64 MiB of page cache (the default is 2 MiB: 125 pages of 16 KiB, fewer than one busy
    // batch dirties, so pages went out and came back from the WAL). storeBatch on a file,
    // batches of 300 alarms: 42-54 -> 32-39 us wall per frame, user CPU 12-13 -> 11.
    this.#db.pragma('cache_size = -65536');
    this.#db.exec(SCHEMA);
    if (!this.#db.memory) {
      this.#walFd = openSync(`${this.#db.name}-wal`, 'r');
      if (options.checkpoint?.worker !== false)
        this.#startCheckpointer(
          options.checkpoint?.workerPath ?? this.#db.name,
          options.checkpoint?.workerDelayMs,
        );
    }
    const db = this.#db;
    this.#stmt = {
      upsertDevice: db.prepare(
        `INSERT INTO devices (device_id, first_seen_ms, last_seen_ms, agent_version) VALUES (?, ?, ?, ?)
         ON CONFLICT(device_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, agent_version = excluded.agent_version`,
      ),
      upsertStream: db.prepare(
        `INSERT INTO streams (device_id, stream_id, acked_seq, opened_ms) VALUES (?, ?, 0, ?)
         ON CONFLICT(device_id, stream_id) DO NOTHING`,
      ),
      deviceVersion: db.prepare(`SELECT agent_version FROM devices WHERE device_id = ?`),
      getAcked: db.prepare(`SELECT acked_seq FROM streams WHERE device_id = ? AND stream_id = ?`),
      setAcked: db.prepare(
        `UPDATE streams SET acked_seq = ? WHERE device_id = ? AND stream_id = ? AND acked_seq < ?`,
      ),
      above: db.prepare(`SELECT seq FROM frames WHERE device_id = ? AND stream_id = ? AND seq > ?`),
      framesIn: db.prepare(
        `SELECT count(*) AS n FROM frames WHERE device_id = ? AND stream_id = ? AND seq BETWEEN ? AND ?`,
      ),
      gapsAbove: db.prepare(
        `SELECT from_seq, to_seq FROM gaps WHERE device_id = ? AND stream_id = ? AND to_seq > ?`,
      ),
      seqRanges: db.prepare(
        `SELECT ranges_json FROM stream_seqs WHERE device_id = ? AND stream_id = ?`,
      ),
      setSeqRanges: db.prepare(
        `INSERT INTO stream_seqs (device_id, stream_id, ranges_json) VALUES (?, ?, ?)
         ON CONFLICT(device_id, stream_id) DO UPDATE SET ranges_json = excluded.ranges_json`,
      ),
      clearSeqRanges: db.prepare(`DELETE FROM stream_seqs WHERE device_id = ? AND stream_id = ?`),
      insertFrame: db.prepare(
        `INSERT OR IGNORE INTO frames (device_id, stream_id, seq, type, bytes, sent_at_ms, received_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertSample: db.prepare(
        `INSERT INTO samples (device_id, t_ms, values_json) VALUES (?, ?, ?)`,
      ),
      insertEvent: db.prepare(
        `INSERT INTO error_events (device_id, code, state, at_ms) VALUES (?, ?, ?, ?)`,
      ),
      insertAlarm: db.prepare(
        `INSERT INTO alarms (device_id, stream_id, seq, code, state, severity, subsystem, text, observed_at_ms, stored_at_ms, missed_raises)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertGap: db.prepare(
        `INSERT OR IGNORE INTO gaps (device_id, stream_id, from_seq, to_seq, records, reason, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertCommandResult: db.prepare(
        `INSERT INTO command_results (device_id, command_id, status, output, error_code, error_message, stored_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      // Prepared once: db.pragma() prepares its statement on every call.
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
      setHealth: db.prepare(`UPDATE devices SET health_json = ? WHERE device_id = ?`),
      insertSecurity: db.prepare(
        `INSERT INTO security_events (at_ms, kind, device_id, remote, detail) VALUES (?, ?, ?, ?, ?)`,
      ),
    };
  }

  /** Checkpoints off the event loop (a file database); undefined: SQLite's autocheckpoint. */
  #checkpointer: Checkpointer | undefined;
  /** Roughly what was written to the WAL since the last checkpoint was started. */
  #walBytes = 0;
  #lastCheckpointMs = 0;
  readonly #checkpointBytes: number;
  readonly #restartFrames: number;
  /** Checkpoints run on the event loop to bound the WAL (see #checkpointed). */
  #loopCheckpoints = 0;
  readonly #holdMaxMs: number;
  /** Set while data commits wait for the worker's restart checkpoint (see #checkpointed). */
  #hold: { promise: Promise<void>; release: () => void; timer: NodeJS.Timeout } | undefined;
  #holds = 0;
  #heldMs = 0;
  /** total_changes() when the last hold began: did anything write during it? */
  #changesAtHold = 0;
  /**
   * Until then (ms), no hold: the last one ran out ({@link HOLD_BACKOFF_MS}); the restart
   * checkpoints run on the event loop, as without a worker.
   */
  #noHoldUntil = 0;
  #holdTimeouts = 0;

  #startCheckpointer(path: string, delayMs?: number): void {
    try {
      this.#checkpointer = new Checkpointer(
        path,
        (r) => this.#checkpointed(r),
        () => this.#checkpointerFailed(),
        delayMs,
      );
    } catch {
      return; // SQLite's own autocheckpoint stays on
    }
    // Commits no longer checkpoint (copy 16 MiB into the database file and fsync it, on the
    // event loop, every 1 000 pages): the worker does, and only #checkpointed below runs one
    // here, for what the worker could not reach.
    this.#db.pragma('wal_autocheckpoint = 0');
  }

  /** Counts `bytes` written to the WAL; asks the worker for a checkpoint when it is due. */
  #wrote(bytes: number): void {
    const c = this.#checkpointer;
    if (!c) return;
    this.#walBytes += bytes;
    if (c.failed) {
      this.#checkpointerFailed();
      return;
    }
    if (c.running) return;
    const now = Date.now();
    if (this.#walBytes < this.#checkpointBytes && now - this.#lastCheckpointMs < CHECKPOINT_MAX_MS)
      return;
    if (c.request()) {
      this.#walBytes = 0;
      this.#lastCheckpointMs = now;
    }
  }

  /** The worker failed: back to SQLite's own checkpoints, in the commits; a hold ends now. */
  #checkpointerFailed(): void {
    this.#checkpointer = undefined;
    this.#release();
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  }

  /** Rows changed by this connection so far, every write included (SQLite's total_changes()). */
  #changes(): number {
    return this.#stmt.totalChanges.get() as number;
  }

  /**
   * A worker checkpoint ended. The WAL starts over from its beginning only when a transaction
   * begins with every frame of it in the database file; under a steady flow of commits the
   * worker never quite catches up (commits land while it copies), so the WAL would grow without
   * bound. Past `restartFrames` ({@link WAL_RESTART_FRAMES}) the data commits are held
   * ({@link commitsHeld}: the commit queue waits, the event loop goes on receiving and decoding)
   * while the worker checkpoints once more; with nothing landing meanwhile that one reaches the
   * end of the WAL, and the next commit restarts it. Whatever did land meanwhile (last-seen
   * times, security events, new devices: they are not held) the event loop checkpoints itself,
   * a few pages. Without a worker to ask, or for {@link HOLD_BACKOFF_MS} after a hold ran out
   * ({@link HOLD_MAX_MS}: a disk too slow for the worker to finish in time, where holding again
   * would only pause the commits again while the WAL grows), the event loop finishes the
   * checkpoint itself, as it did before the hold existed.
   */
  #checkpointed(r: CheckpointResult): void {
    const held = this.#hold !== undefined;
    if (held) this.#release();
    if (!this.#db.open || r.busy) return;
    if (held) {
      if (r.checkpointed < r.log || this.#changes() !== this.#changesAtHold) this.#loopCheckpoint();
      return;
    }
    if (r.log < this.#restartFrames) return;
    if (Date.now() < this.#noHoldUntil || !this.#holdCommits()) this.#loopCheckpoint();
  }

  /**
   * A PASSIVE checkpoint on the hub's own connection, where nothing else runs meanwhile: it
   * copies what the worker did not reach (nothing, if nothing landed since).
   */
  #loopCheckpoint(): void {
    this.#db.pragma('wal_checkpoint(PASSIVE)');
    this.#loopCheckpoints++;
  }

  /** Holds data commits and asks the worker for the checkpoint that lets the WAL restart. */
  #holdCommits(): boolean {
    if (this.#holdMaxMs <= 0 || !this.#checkpointer?.request()) return false;
    this.#walBytes = 0;
    this.#lastCheckpointMs = Date.now();
    this.#changesAtHold = this.#changes();
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    const started = performance.now();
    const timer = setTimeout(() => {
      // The worker is slow (a slow disk): commits go on; when its checkpoint ends, #checkpointed
      // sees no hold and, if the WAL is still past the bound, checkpoints here, and holds no
      // more for a while.
      this.#holdTimeouts++;
      this.#noHoldUntil = Date.now() + HOLD_BACKOFF_MS;
      this.#release();
    }, this.#holdMaxMs);
    this.#hold = {
      promise,
      timer,
      release: () => {
        this.#heldMs += performance.now() - started;
        release();
      },
    };
    this.#holds++;
    return true;
  }

  #release(): void {
    const h = this.#hold;
    if (!h) return;
    this.#hold = undefined;
    clearTimeout(h.timer);
    h.release();
  }

  /**
   * While set, data commits should wait for it (the {@link CommitQueue} does): the worker is
   * finishing a checkpoint so the WAL can restart. It settles within {@link HOLD_MAX_MS}, and on
   * close. Commits made anyway are still correct; they only keep the WAL from restarting.
   */
  get commitsHeld(): Promise<void> | undefined {
    return this.#hold?.promise;
  }

  /** The connection's `wal_autocheckpoint` (pages; 0: commits never checkpoint). */
  get autocheckpoint(): number {
    return this.#db.pragma('wal_autocheckpoint', { simple: true }) as number;
  }

  /**
   * WAL checkpoints so far: by the worker, and on the event loop to bound the WAL; how often data
   * commits were held for a restart checkpoint, for how long in all, and how many holds ran out.
   */
  get checkpoints(): {
    worker: number;
    loop: number;
    holds: number;
    heldMs: number;
    holdTimeouts: number;
    offLoop: boolean;
  } {
    return {
      worker: this.#checkpointer?.completed ?? 0,
      loop: this.#loopCheckpoints,
      holds: this.#holds,
      heldMs: Math.round(this.#heldMs),
      holdTimeouts: this.#holdTimeouts,
      offLoop: this.#checkpointer !== undefined,
    };
  }

  /** Registers a connection's stream and returns where it stands. */
  openStream(
    deviceId: string,
    streamId: string,
    agentVersion: string,
    nowMs: number,
  ): StreamPosition {
    // What this reads (the stream's acked seq, the frames above it) becomes what the device is
    // told is stored: it must be durable first, including batches whose fsync is still running.
    this.#syncDeferredNow();
    // A reconnect of a known device on a known stream writes nothing here (no commit, no fsync
    // per handshake); its last-seen time is batched. New devices and streams are committed.
    const known = this.#stmt.deviceVersion.get(deviceId) as { agent_version: string } | undefined;
    let row = this.#stmt.getAcked.get(deviceId, streamId) as { acked_seq: number } | undefined;
    if (!known || known.agent_version !== agentVersion || !row) {
      row = this.#db.transaction(() => {
        this.#stmt.upsertDevice.run(deviceId, nowMs, nowMs, agentVersion);
        this.#stmt.upsertStream.run(deviceId, streamId, nowMs);
        return this.#stmt.getAcked.get(deviceId, streamId) as { acked_seq: number };
      })();
    } else {
      this.#touch(deviceId, nowMs);
    }
    const acked = row.acked_seq;
    const above = new ReceivedSeqs();
    for (const r of this.#stmt.above.iterate(deviceId, streamId, acked) as Iterable<{
      seq: number;
    }>) {
      above.add(r.seq, r.seq);
    }
    for (const g of this.#stmt.gapsAbove.iterate(deviceId, streamId, acked) as Iterable<{
      from_seq: number;
      to_seq: number;
    }>) {
      above.add(Math.max(g.from_seq, acked + 1), g.to_seq);
    }
    const kept = this.#stmt.seqRanges.get(deviceId, streamId) as
      { ranges_json: string } | undefined;
    if (kept) {
      for (const [a, b] of JSON.parse(kept.ranges_json) as Array<[number, number]>)
        above.add(Math.max(a, acked + 1), b);
    }
    if (this.#data === 'seqs-only') {
      const key = streamKey(deviceId, streamId);
      const held = this.#seqs.get(key);
      // Batches of an earlier connection may have committed since the rows above were written
      // (they are in the map already): keep the one that has seen the most.
      if (!held || held.acked < acked) this.#seqs.set(key, { acked, above: above.clone() });
      const pos = this.#seqs.get(key)!;
      return { acked: pos.acked, above: pos.above.clone() };
    }
    return { acked, above };
  }

  /** The data mode this store was opened with. */
  get dataMode(): DataMode {
    return this.#data;
  }

  readonly #lastSeen = new Map<string, number>();
  #lastSeenTimer: NodeJS.Timeout | undefined;

  /** Records a device's last-seen time, written in one batch every second. */
  #touch(deviceId: string, nowMs: number): void {
    this.#lastSeen.set(deviceId, nowMs);
    this.#lastSeenTimer ??= setTimeout(() => this.flushLastSeen(), 1000).unref();
  }

  /** Writes pending last-seen times now. */
  flushLastSeen(): void {
    if (this.#lastSeenTimer) clearTimeout(this.#lastSeenTimer);
    this.#lastSeenTimer = undefined;
    if (this.#lastSeen.size === 0 || !this.#db.open) return;
    const pending = [...this.#lastSeen];
    this.#lastSeen.clear();
    const update = this.#db.prepare(
      `UPDATE devices SET last_seen_ms = max(last_seen_ms, ?) WHERE device_id = ?`,
    );
    this.#db.transaction(() => {
      for (const [id, at] of pending) update.run(at, id);
    })();
    this.#wrote(pending.length * ROW_OVERHEAD_BYTES);
  }

  /**
   * Stores a batch of data frames, and each stream's new cumulative ack, in one transaction:
   * one durable commit (one fsync) for the whole batch. Returns, per item, `duplicate` when
   * (device, stream, seq) — or, for a Gap, (device, stream, range) — was already stored, and
   * then changes nothing for it. Throws if the transaction fails; then nothing is stored.
   */
  storeBatch(
    items: readonly StoreItem[],
    streams: ReadonlyArray<{ deviceId: string; streamId: string; acked: number }>,
    options: { deferSync?: boolean } = {},
  ): StoreResult[] {
    if (this.#syncError) throw this.#syncError;
    const defer = options.deferSync === true && this.#walFd !== undefined;
    let results: StoreResult[];
    if (!defer) {
      results = this.#storeBatch(items, streams);
    } else {
      // Committed without the fsync (synchronous=NORMAL for this one transaction): the caller
      // makes it durable with syncData() before anything depends on it.
      this.#stmt.syncNormal.run();
      try {
        results = this.#storeBatch(items, streams);
        this.#deferredCommits++;
      } finally {
        this.#stmt.syncFull.run();
      }
    }
    let bytes = 0;
    for (const item of items) bytes += item.bytes + ROW_OVERHEAD_BYTES;
    this.#wrote(bytes);
    return results;
  }

  /**
   * Whether data batches stored with `deferSync` need {@link syncData} to be durable (a file
   * database); false for an in-memory store, whose commit is all there is.
   */
  get defersSync(): boolean {
    return this.#walFd !== undefined;
  }

  /**
   * Makes every transaction committed so far durable: an fsync of the WAL file, on libuv's
   * thread pool, so the event loop goes on decoding while the disk syncs. It is the fsync a
   * synchronous=FULL commit does in WAL mode; the WAL is only ever checkpointed into the
   * database after it was synced, and never truncated or deleted while the store is open. A
   * failed fsync poisons the store: the pages it was to write may be gone from the page cache,
   * so no later batch could be promised either (every later storeBatch throws it).
   */
  syncData(): Promise<void> {
    const fd = this.#walFd;
    if (this.#syncError) return Promise.reject(this.#syncError);
    if (fd === undefined) return Promise.resolve();
    const covers = this.#deferredCommits;
    this.#walSyncs++;
    return new Promise((resolve, reject) =>
      fsync(fd, (err) => {
        if (!err) {
          this.#syncedCommits = Math.max(this.#syncedCommits, covers);
          return resolve();
        }
        reject(this.#poison(err));
      }),
    );
  }

  /** WAL fsyncs started so far (thread pool and synchronous ones). */
  get walSyncs(): number {
    return this.#walSyncs;
  }

  /** A synchronous WAL fsync if a batch committed with a deferred fsync is not yet covered. */
  #syncDeferredNow(): void {
    if (this.#syncError) throw this.#syncError;
    if (this.#walFd === undefined || this.#syncedCommits >= this.#deferredCommits) return;
    const covers = this.#deferredCommits;
    this.#walSyncs++;
    try {
      fsyncSync(this.#walFd);
    } catch (err) {
      throw this.#poison(err as Error);
    }
    this.#syncedCommits = covers;
  }

  #poison(err: Error): HubStoreError {
    this.#syncError = new HubStoreError(
      'OUTPOST_HUB_SYNC_FAILED',
      `fsync of the hub's WAL failed (${err.message}); the hub must restart`,
      { cause: err },
    );
    return this.#syncError as HubStoreError;
  }

  #storeBatch(
    items: readonly StoreItem[],
    streams: ReadonlyArray<{ deviceId: string; streamId: string; acked: number }>,
  ): StoreResult[] {
    if (this.#data === 'seqs-only') return this.#storeSeqs(items, streams);
    return this.#db.transaction((): StoreResult[] => {
      const results = new Array<StoreResult>(items.length);
      // Data frames go in runs: one multi-row INSERT per chunk of a run (a Gap ends a run, as
      // it must see the frames stored before it).
      let runStart = 0;
      for (let i = 0; i < items.length; i++) {
        if (items[i]!.frame.type !== 'gap') continue;
        this.#storeRun(items, runStart, i, results);
        results[i] = this.#storeGap(items[i]!);
        runStart = i + 1;
      }
      this.#storeRun(items, runStart, items.length, results);
      for (const s of streams) this.#stmt.setAcked.run(s.acked, s.deviceId, s.streamId, s.acked);
      return results;
    })();
  }

  /**
   * `seqs-only`: de-duplicates `items` against each stream's committed seqs, stores Gap rows,
   * and writes each stream's ack and the ranges held above it; the seq state in memory changes
   * only once the transaction has committed.
   */
  #storeSeqs(
    items: readonly StoreItem[],
    streams: ReadonlyArray<{ deviceId: string; streamId: string; acked: number }>,
  ): StoreResult[] {
    const next = new Map<string, StreamPosition>();
    const results = this.#db.transaction((): StoreResult[] => {
      const out = new Array<StoreResult>(items.length);
      // A commit's items come in runs from one tunnel: look the stream up once per run.
      let runDevice: string | undefined;
      let runStream = '';
      let pos: StreamPosition = { acked: 0, above: new ReceivedSeqs() };
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (item.deviceId !== runDevice || item.streamId !== runStream) {
          runDevice = item.deviceId;
          runStream = item.streamId;
          const key = streamKey(item.deviceId, item.streamId);
          let p = next.get(key);
          if (!p) {
            const held = this.#seqs.get(key) ?? { acked: 0, above: new ReceivedSeqs() };
            p = { acked: held.acked, above: held.above.clone() };
            next.set(key, p);
          }
          pos = p;
        }
        const frame = item.frame;
        if (frame.type === 'gap') {
          const from = frame.gap.fromSeq ?? 0;
          const to = frame.gap.toSeq ?? 0;
          // Records of the range that arrived after all (in flight when the agent dropped
          // them) are not lost: the same count `rows` takes from its frames rows.
          const held =
            Math.max(0, Math.min(to, pos.acked) - from + 1) +
            pos.above.countIn(Math.max(from, pos.acked + 1), to);
          out[i] = this.#storeGap(item, held);
          if (out[i]!.outcome === 'stored') pos.above.add(Math.max(from, pos.acked + 1), to);
          continue;
        }
        const seq = frame.seq;
        if (seq <= pos.acked || pos.above.has(seq)) {
          out[i] = DUPLICATE;
          continue;
        }
        pos.above.add(seq, seq);
        out[i] =
          frame.type === 'telemetry'
            ? { outcome: 'stored', samples: frame.telemetry.samples?.length ?? 0 }
            : STORED_NO_SAMPLES;
      }
      for (const s of streams) this.#stmt.setAcked.run(s.acked, s.deviceId, s.streamId, s.acked);
      for (const [key, pos] of next) {
        pos.acked = pos.above.advance(pos.acked);
        const [deviceId, streamId] = key.split('\0') as [string, string];
        const ranges = pos.above.toArray();
        if (ranges.length > 0)
          this.#stmt.setSeqRanges.run(deviceId, streamId, JSON.stringify(ranges));
        else if (this.#seqs.get(key)?.above.ranges)
          this.#stmt.clearSeqRanges.run(deviceId, streamId);
      }
      return out;
    })();
    for (const [key, pos] of next) this.#seqs.set(key, pos);
    return results;
  }

  /** Multi-row statements, prepared once per (table, rows). */
  readonly #multi = new Map<string, Database.Statement>();

  #multiRow(kind: 'frames' | 'alarms', rows: number): Database.Statement {
    const key = `${kind}:${rows}`;
    let stmt = this.#multi.get(key);
    if (!stmt) {
      const cols = kind === 'frames' ? FRAME_COLUMNS : ALARM_COLUMNS;
      const tuple = `(${cols.map(() => '?').join(', ')})`;
      // Plain INSERT (conflict = ABORT): a chunk holding an already stored key fails as a
      // whole, statement-level, and is then stored row by row with INSERT OR IGNORE.
      stmt = this.#db.prepare(
        `INSERT INTO ${kind} (${cols.join(', ')}) VALUES ${Array<string>(rows).fill(tuple).join(', ')}`,
      );
      this.#multi.set(key, stmt);
    }
    return stmt;
  }

  /**
   * Stores `items[from..to)` (no Gap among them): their `frames` rows in multi-row INSERTs of
   * up to 32 (`CHUNK_SIZES`), then the derived rows of those that were new (alarms likewise
   * multi-row; samples, events, command results one by one).
   */
  #storeRun(items: readonly StoreItem[], from: number, to: number, out: StoreResult[]): void {
    for (let start = from; start < to;) {
      const n = chunkRows(to - start);
      if (n === 1 || !this.#insertFrames(items, start, n)) {
        for (let i = start; i < start + n; i++) out[i] = this.#storeOneFrame(items[i]!);
      } else {
        let alarms = 0;
        for (let i = start; i < start + n; i++) {
          const item = items[i]!;
          if (item.frame.type === 'alarm') alarms++;
          else out[i] = { outcome: 'stored', samples: this.#storeDerived(item) };
        }
        if (alarms > 0) this.#insertAlarms(items, start, alarms, out);
      }
      start += n;
    }
  }

  /** One multi-row INSERT of `n` frames rows; false (nothing stored) if a key was already there. */
  #insertFrames(items: readonly StoreItem[], start: number, n: number): boolean {
    const args: Array<string | number> = new Array(n * FRAME_COLUMNS.length);
    let k = 0;
    for (let i = start; i < start + n; i++) {
      const { deviceId, streamId, frame, bytes, receivedAtMs } = items[i]!;
      args[k++] = deviceId;
      args[k++] = streamId;
      args[k++] = frame.seq;
      args[k++] = frame.type;
      args[k++] = bytes;
      args[k++] = frame.sentAtMs;
      args[k++] = receivedAtMs;
    }
    try {
      this.#multiRow('frames', n).run(args);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return false;
      throw err;
    }
  }

  /** The alarms rows of the first `count` alarm frames from `items[start]` on, all new. */
  #insertAlarms(
    items: readonly StoreItem[],
    start: number,
    count: number,
    out: StoreResult[],
  ): void {
    let done = 0;
    let i = start;
    while (done < count) {
      const rows = chunkRows(count - done);
      const args: Array<string | number> = new Array(rows * ALARM_COLUMNS.length);
      let k = 0;
      for (let r = 0; r < rows; i++) {
        const item = items[i]!;
        const frame = item.frame;
        if (frame.type !== 'alarm') continue;
        const a = frame.alarm;
        args[k++] = item.deviceId;
        args[k++] = item.streamId;
        args[k++] = frame.seq;
        args[k++] = a.code ?? 0;
        args[k++] = a.state === 2 ? 'cleared' : 'raised';
        args[k++] = a.severity ?? 0;
        args[k++] = a.subsystem ?? '';
        args[k++] = a.text ?? '';
        args[k++] = a.observedAtMs ?? 0;
        args[k++] = item.receivedAtMs;
        args[k++] = a.missedRaises ?? 0;
        out[i] = STORED_NO_SAMPLES;
        r++;
      }
      if (rows === 1) this.#stmt.insertAlarm.run(args);
      else this.#multiRow('alarms', rows).run(args);
      done += rows;
    }
  }

  #storeGap(
    { deviceId, streamId, frame, receivedAtMs: nowMs }: StoreItem,
    heldOfRange?: number,
  ): StoreResult {
    // A Gap is not a record: it has no seq of its own, and is keyed by its range. A record
    // dropped while in flight may have arrived before the gap did; what is stored is the
    // number of records of the range the hub really lacks.
    if (frame.type !== 'gap') throw new TypeError('not a gap');
    const g = frame.gap;
    const from = g.fromSeq ?? 0;
    const to = g.toSeq ?? 0;
    const held =
      heldOfRange ?? (this.#stmt.framesIn.get(deviceId, streamId, from, to) as { n: number }).n;
    const inserted = this.#stmt.insertGap.run(
      deviceId,
      streamId,
      from,
      to,
      Math.max(0, (g.records ?? 0) - held),
      g.reason ?? 0,
      nowMs,
    );
    return inserted.changes === 0 ? DUPLICATE : { outcome: 'stored', samples: 0 };
  }

  /** One data frame on its own: its frames row (if new) and its derived rows. */
  #storeOneFrame(item: StoreItem): StoreResult {
    const { deviceId, streamId, frame, bytes, receivedAtMs } = item;
    const inserted = this.#stmt.insertFrame.run(
      deviceId,
      streamId,
      frame.seq,
      frame.type,
      bytes,
      frame.sentAtMs,
      receivedAtMs,
    );
    if (inserted.changes === 0) return DUPLICATE;
    return { outcome: 'stored', samples: this.#storeDerived(item) };
  }

  /** The rows derived from a newly stored data frame; returns the samples stored. */
  #storeDerived({ deviceId, streamId, frame, receivedAtMs: nowMs }: StoreItem): number {
    switch (frame.type) {
      case 'telemetry':
        return this.#storeTelemetry(deviceId, frame.telemetry);
      case 'alarm': {
        const a = frame.alarm;
        this.#stmt.insertAlarm.run(
          deviceId,
          streamId,
          frame.seq,
          a.code ?? 0,
          a.state === 2 ? 'cleared' : 'raised',
          a.severity ?? 0,
          a.subsystem ?? '',
          a.text ?? '',
          a.observedAtMs ?? 0,
          nowMs,
          a.missedRaises ?? 0,
        );
        return 0;
      }
      case 'commandResult': {
        const r = frame.commandResult;
        this.#stmt.insertCommandResult.run(
          deviceId,
          r.commandId ?? '',
          r.status ?? 0,
          Buffer.from(r.output ?? new Uint8Array()),
          r.errorCode ?? '',
          r.errorMessage ?? '',
          nowMs,
        );
        return 0;
      }
      default:
        return 0;
    }
  }

  #storeTelemetry(deviceId: string, t: Extract<Frame, { type: 'telemetry' }>['telemetry']): number {
    const counters = t.counters ?? [];
    const base = t.baseTimeMs ?? 0;
    for (const s of t.samples ?? []) {
      const missing = new Set(s.missing ?? []);
      const values: Record<string, number | null> = {};
      counters.forEach((c, i) => {
        const raw = s.raw?.[i];
        if (missing.has(i) || raw === undefined || !c.name) {
          if (c.name) values[c.name] = null;
          return;
        }
        const x = c.kind === 1 ? float32FromBits(raw) : raw;
        values[c.name] = Number((x * (c.scale || 1) + (c.offset ?? 0)).toPrecision(12));
      });
      this.#stmt.insertSample.run(deviceId, base + (s.offsetMs ?? 0), JSON.stringify(values));
    }
    for (const e of t.events ?? []) {
      this.#stmt.insertEvent.run(
        deviceId,
        e.code ?? 0,
        e.state === 2 ? 'cleared' : 'raised',
        e.atMs ?? 0,
      );
    }
    if (t.health) this.#stmt.setHealth.run(JSON.stringify(t.health), deviceId);
    return t.samples?.length ?? 0;
  }

  setting(key: string): string | undefined {
    const row = this.#db.prepare(`SELECT value FROM hub_settings WHERE key = ?`).get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.#db
      .prepare(
        `INSERT INTO hub_settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      )
      .run(key, value);
  }

  /** Registers (or re-registers, un-revoking) a device's Ed25519 identity key. */
  registerDeviceKey(deviceId: string, publicKey: Uint8Array, nowMs: number): void {
    this.#db
      .prepare(
        `INSERT INTO device_keys (device_id, public_key, status, registered_ms) VALUES (?, ?, 'active', ?)
         ON CONFLICT(device_id) DO UPDATE SET public_key = excluded.public_key, status = 'active', registered_ms = excluded.registered_ms, revoked_ms = NULL`,
      )
      .run(deviceId, Buffer.from(publicKey), nowMs);
  }

  deviceKey(deviceId: string): { publicKey: Uint8Array; status: 'active' | 'revoked' } | undefined {
    const row = this.#db
      .prepare(`SELECT public_key, status FROM device_keys WHERE device_id = ?`)
      .get(deviceId) as { public_key: Buffer; status: 'active' | 'revoked' } | undefined;
    return row && { publicKey: new Uint8Array(row.public_key), status: row.status };
  }

  /** How many devices hold an active (not revoked) identity key: the fleet this hub serves. */
  activeDeviceCount(): number {
    const row = this.#db
      .prepare(`SELECT count(*) AS n FROM device_keys WHERE status = 'active'`)
      .get() as { n: number };
    return row.n;
  }

  /** Marks a device revoked. Returns false if it was not registered. */
  revokeDevice(deviceId: string, nowMs: number): boolean {
    return (
      this.#db
        .prepare(`UPDATE device_keys SET status = 'revoked', revoked_ms = ? WHERE device_id = ?`)
        .run(nowMs, deviceId).changes > 0
    );
  }

  commandResults(deviceId: string): Array<{
    commandId: string;
    status: number;
    output: Uint8Array;
    errorCode: string;
    errorMessage: string;
  }> {
    return (
      this.#db
        .prepare(`SELECT * FROM command_results WHERE device_id = ? ORDER BY id`)
        .all(deviceId) as Array<{
        command_id: string;
        status: number;
        output: Buffer | null;
        error_code: string;
        error_message: string;
      }>
    ).map((r) => ({
      commandId: r.command_id,
      status: r.status,
      output: new Uint8Array(r.output ?? Buffer.alloc(0)),
      errorCode: r.error_code,
      errorMessage: r.error_message,
    }));
  }

  /** Stores an enrolment token's hash (the token itself is never stored). */
  addEnrolmentToken(tokenHash: string, deviceId: string, nowMs: number, expiresMs: number): void {
    this.#db
      .prepare(
        `INSERT INTO enrolment_tokens (token_hash, device_id, created_ms, expires_ms) VALUES (?, ?, ?, ?)`,
      )
      .run(tokenHash, deviceId, nowMs, expiresMs);
  }

  /**
   * Marks a token used, atomically: returns the device it was for, or why it cannot be used.
   * A token is good once, before it expires.
   */
  consumeEnrolmentToken(
    tokenHash: string,
    deviceId: string,
    nowMs: number,
  ): { deviceId: string } | { refused: 'unknown' | 'used' | 'expired' } {
    return this.#db.transaction(() => {
      const row = this.#db
        .prepare(`SELECT device_id, expires_ms, used_ms FROM enrolment_tokens WHERE token_hash = ?`)
        .get(tokenHash) as
        { device_id: string; expires_ms: number; used_ms: number | null } | undefined;
      if (!row || row.device_id !== deviceId) return { refused: 'unknown' as const };
      if (row.used_ms !== null) return { refused: 'used' as const };
      if (row.expires_ms <= nowMs) return { refused: 'expired' as const };
      this.#db
        .prepare(`UPDATE enrolment_tokens SET used_ms = ? WHERE token_hash = ?`)
        .run(nowMs, tokenHash);
      return { deviceId: row.device_id };
    })();
  }

  /** Records a newly issued certificate; earlier ones of the device stay accepted until `overlapUntilMs`. */
  recordIssuedCertificate(
    deviceId: string,
    fingerprint: string,
    notAfterMs: number,
    nowMs: number,
    overlapUntilMs: number,
  ): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `UPDATE device_certs SET accept_until_ms = ? WHERE device_id = ? AND accept_until_ms IS NULL`,
        )
        .run(overlapUntilMs, deviceId);
      this.#db
        .prepare(
          `INSERT INTO device_certs (fingerprint, device_id, not_after_ms, issued_ms) VALUES (?, ?, ?, ?)`,
        )
        .run(fingerprint, deviceId, notAfterMs, nowMs);
    })();
  }

  #acceptUntil: Database.Statement | undefined;

  /** When a superseded certificate stops being accepted (undefined: current or unknown). */
  certificateAcceptUntil(fingerprint: string): number | undefined {
    // Read on every tunnel upgrade: prepared once, not per call.
    this.#acceptUntil ??= this.#db.prepare(
      `SELECT accept_until_ms FROM device_certs WHERE fingerprint = ?`,
    );
    const row = this.#acceptUntil.get(fingerprint) as
      { accept_until_ms: number | null } | undefined;
    return row?.accept_until_ms ?? undefined;
  }

  readonly #pendingEvents: SecurityEvent[] = [];
  #eventsTimer: NodeJS.Timeout | undefined;

  /**
   * Records a security event. Events are committed in batches (every 100 ms, or at once when
   * 500 are waiting), so a flood of refused handshakes costs one commit, not one each; readers
   * (`securityEvents`) always see every event recorded so far.
   */
  recordSecurityEvent(e: SecurityEvent): void {
    // Late events from connections torn down during shutdown have nowhere to go.
    if (!this.#db.open) return;
    this.#pendingEvents.push(e);
    if (this.#pendingEvents.length >= 500) this.flushSecurityEvents();
    else this.#eventsTimer ??= setTimeout(() => this.flushSecurityEvents(), 100).unref();
  }

  /** Commits pending security events now. */
  flushSecurityEvents(): void {
    if (this.#eventsTimer) clearTimeout(this.#eventsTimer);
    this.#eventsTimer = undefined;
    if (this.#pendingEvents.length === 0 || !this.#db.open) return;
    const batch = this.#pendingEvents.splice(0);
    this.#db.transaction(() => {
      for (const e of batch)
        this.#stmt.insertSecurity.run(e.atMs, e.kind, e.deviceId, e.remote, e.detail);
    })();
    this.#wrote(batch.length * 2 * ROW_OVERHEAD_BYTES);
  }

  securityEvents(): SecurityEvent[] {
    this.flushSecurityEvents();
    return (
      this.#db
        .prepare(`SELECT at_ms, kind, device_id, remote, detail FROM security_events ORDER BY id`)
        .all() as Array<{
        at_ms: number;
        kind: string;
        device_id: string | null;
        remote: string | null;
        detail: string;
      }>
    ).map((r) => ({
      atMs: r.at_ms,
      kind: r.kind,
      deviceId: r.device_id,
      remote: r.remote,
      detail: r.detail,
    }));
  }

  counts(deviceId?: string): { samples: number; alarms: number; frames: number; events: number } {
    const where = deviceId === undefined ? '' : ' WHERE device_id = ?';
    const args = deviceId === undefined ? [] : [deviceId];
    const count = (table: string): number =>
      (this.#db.prepare(`SELECT count(*) AS n FROM ${table}${where}`).get(...args) as { n: number })
        .n;
    return {
      samples: count('samples'),
      alarms: count('alarms'),
      frames: count('frames'),
      events: count('error_events'),
    };
  }

  /** Gaps a device reported (records it accepted and then dropped), in the order stored. */
  gaps(deviceId: string): StoredGap[] {
    const rows = this.#db
      .prepare(
        `SELECT stream_id, from_seq, to_seq, records, reason, at_ms FROM gaps WHERE device_id = ? ORDER BY id`,
      )
      .all(deviceId) as Array<Record<string, number | string>>;
    return rows.map((r) => ({
      streamId: r.stream_id as string,
      fromSeq: r.from_seq as number,
      toSeq: r.to_seq as number,
      records: r.records as number,
      reason:
        r.reason === 1
          ? 'quota'
          : r.reason === 2
            ? 'corrupt'
            : r.reason === 3
              ? 'hub-state-behind'
              : 'unspecified',
      storedAtMs: r.at_ms as number,
    }));
  }

  alarms(deviceId: string): StoredAlarm[] {
    const rows = this.#db
      .prepare(`SELECT * FROM alarms WHERE device_id = ? ORDER BY id`)
      .all(deviceId) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      deviceId: r.device_id as string,
      seq: r.seq as number,
      code: r.code as number,
      state: r.state as 'raised' | 'cleared',
      severity: r.severity as number,
      subsystem: r.subsystem as string,
      text: r.text as string,
      observedAtMs: r.observed_at_ms as number,
      storedAtMs: r.stored_at_ms as number,
      missedRaises: r.missed_raises as number,
    }));
  }

  samples(deviceId: string, limit = 1000): StoredSample[] {
    const rows = this.#db
      .prepare(
        `SELECT t_ms, values_json FROM samples WHERE device_id = ? ORDER BY t_ms, id LIMIT ?`,
      )
      .all(deviceId, limit) as Array<{ t_ms: number; values_json: string }>;
    return rows.map((r) => ({
      deviceId,
      tMs: r.t_ms,
      values: JSON.parse(r.values_json) as Record<string, number | null>,
    }));
  }

  /** The adapter health the device last reported with its telemetry (reads, failures, codes). */
  deviceHealth(deviceId: string): Record<string, unknown> | undefined {
    const row = this.#db
      .prepare(`SELECT health_json FROM devices WHERE device_id = ?`)
      .get(deviceId) as { health_json: string | null } | undefined;
    return row?.health_json ? (JSON.parse(row.health_json) as Record<string, unknown>) : undefined;
  }

  devices(): Array<{ deviceId: string; lastSeenMs: number; agentVersion: string }> {
    return (
      this.#db
        .prepare(`SELECT device_id, last_seen_ms, agent_version FROM devices ORDER BY device_id`)
        .all() as Array<{
        device_id: string;
        last_seen_ms: number;
        agent_version: string;
      }>
    ).map((r) => ({
      deviceId: r.device_id,
      lastSeenMs: r.last_seen_ms,
      agentVersion: r.agent_version,
    }));
  }

  close(): void {
    this.flushLastSeen();
    this.flushSecurityEvents();
    this.#release();
    this.#checkpointer?.close();
    this.#checkpointer = undefined;
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
    this.#db.close();
  }
}

function streamKey(deviceId: string, streamId: string): string {
  return `${deviceId}\0${streamId}`;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS enrolment_tokens (
  token_hash TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS device_certs (
  fingerprint TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  not_after_ms INTEGER NOT NULL,
  issued_ms INTEGER NOT NULL,
  accept_until_ms INTEGER
);
CREATE INDEX IF NOT EXISTS device_certs_device ON device_certs (device_id);
CREATE TABLE IF NOT EXISTS command_results (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  command_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  output BLOB,
  error_code TEXT NOT NULL,
  error_message TEXT NOT NULL,
  stored_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hub_settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_keys (
  device_id TEXT PRIMARY KEY,
  public_key BLOB NOT NULL,
  status TEXT NOT NULL DEFAULT 'active',
  registered_ms INTEGER NOT NULL,
  revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  agent_version TEXT NOT NULL DEFAULT '',
  health_json TEXT
);
CREATE TABLE IF NOT EXISTS streams (
  device_id TEXT NOT NULL REFERENCES devices(device_id),
  stream_id TEXT NOT NULL,
  acked_seq INTEGER NOT NULL,
  opened_ms INTEGER NOT NULL,
  PRIMARY KEY (device_id, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frames (
  device_id TEXT NOT NULL,
  stream_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sent_at_ms INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  PRIMARY KEY (device_id, stream_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_seqs (
  device_id TEXT NOT NULL,
  stream_id TEXT NOT NULL,
  ranges_json TEXT NOT NULL,
  PRIMARY KEY (device_id, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  t_ms INTEGER NOT NULL,
  values_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_device_time ON samples (device_id, t_ms);
CREATE TABLE IF NOT EXISTS error_events (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  code INTEGER NOT NULL,
  state TEXT NOT NULL,
  at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  stream_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  code INTEGER NOT NULL,
  state TEXT NOT NULL,
  severity INTEGER NOT NULL,
  subsystem TEXT NOT NULL,
  text TEXT NOT NULL,
  observed_at_ms INTEGER NOT NULL,
  stored_at_ms INTEGER NOT NULL,
  missed_raises INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alarms_device ON alarms (device_id, id);
CREATE TABLE IF NOT EXISTS gaps (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  stream_id TEXT NOT NULL,
  from_seq INTEGER NOT NULL,
  to_seq INTEGER NOT NULL,
  records INTEGER NOT NULL,
  reason INTEGER NOT NULL,
  at_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS gaps_range ON gaps (device_id, stream_id, from_seq, to_seq);
CREATE TABLE IF NOT EXISTS security_events (
  id INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  device_id TEXT,
  remote TEXT,
  detail TEXT NOT NULL
);
`;
