import type { Clock } from '../runtime/clock.js';
import type { SpoolError } from './errors.js';
import type { QueueStats } from './queue.js';
import type { SpoolFs } from './spool-fs.js';

export interface FileSpoolOptions {
  /** The spool's directory (created if missing). The spool must be its only user. */
  dir: string;
  /** File-system seam; default the real one. Tests pass a `MemorySpoolFs`. */
  fs?: SpoolFs;
  /** Timers and `acceptedAtMs`; default the system clock. */
  clock?: Clock;
  /** Stream id for a *new* spool; an existing spool keeps the id in its state. Default random. */
  streamId?: string;
  /**
   * Quota on the bytes of unacknowledged records (frames on disk, plus appends not yet
   * written). Default 64 MiB. Alarms may go past it up to `maxBytes * 1.1` (see README).
   */
  maxBytes?: number;
  /** Largest record body accepted. Default 1 MiB (a frame's hard limit is 16 MiB). */
  maxRecordBytes?: number;
  /**
   * A segment is sealed, and the next group starts a new one, once a group takes it to this
   * size (it may pass it by up to that group). Default 4 MiB. Larger means fewer roll-overs,
   * but space is reclaimed in coarser steps (a segment is deleted or rewritten whole).
   */
  segmentBytes?: number;
  /**
   * When nothing is being written: how long the first pending append waits for others before
   * a group starts. Default 20 ms. (While a group is being written, the appends that arrive
   * wait for it instead, and go together the moment it is done.)
   */
  groupCommitMs?: number;
  /**
   * When nothing is being written: a group starts at once, without waiting `groupCommitMs`,
   * once this many appends are pending. A trigger, not a cap: while a group is being written
   * and synced, every append that arrives joins the next group (one write, one fsync),
   * however many — up to 4 MiB of records (`MAX_GROUP_BYTES`); a larger backlog goes as
   * several groups, back to back. Default 64. See README "Group commit".
   */
  groupCommitRecords?: number;
  /** One write and fsync per record (groups of one, no waiting); for benchmarks. */
  fsyncPerRecord?: boolean;
  /**
   * Soft cap on record bodies kept in memory; the rest are read back from disk when `next()`
   * reaches them. Default 8 MiB. See README "Memory".
   */
  memoryBytes?: number;
  /**
   * Acks, evictions and taken gaps are batched this long before the state file is rewritten
   * (write, fsync, rename, directory fsync). Default 100 ms: under a steady stream of acks, ten
   * state writes a second rather than a hundred, each two fsyncs competing with the group
   * commits. A crash loses at most this much of the acked position: those records are sent
   * again and the hub drops them as duplicates.
   */
  persistDelayMs?: number;
  /** A sealed segment is rewritten without its dead records once they are this share of it. Default 0.5. */
  compactDeadRatio?: number;
  /**
   * Disk kept in a `reserve` file so that a full disk cannot wedge the spool (its state must
   * be written before acked segments can be deleted). Default 16 KiB; 0: none.
   */
  reserveBytes?: number;
  /** Wait before background work (state write, deletion, compaction, loading) is retried after an I/O error. Default 1 s. */
  retryDelayMs?: number;
  /**
   * Called when `next()`/`oldest()` can return records they could not before (their bodies
   * were read back from disk), or `takeGaps()` has gaps to hand out (their state is durable).
   * Wire it to the tunnel's `notify()`. Exceptions are caught.
   */
  onReadable?: () => void;
}

export const FILE_SPOOL_DEFAULTS = {
  maxBytes: 64 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  segmentBytes: 4 * 1024 * 1024,
  groupCommitMs: 20,
  groupCommitRecords: 64,
  memoryBytes: 8 * 1024 * 1024,
  persistDelayMs: 100,
  compactDeadRatio: 0.5,
  retryDelayMs: 1000,
  reserveBytes: 16 * 1024,
} as const;

/** Alarms may take the spool up to this multiple of `maxBytes` when nothing else is left to evict. */
export const ALARM_HEADROOM = 1.1;

export interface FileSpoolStats extends QueueStats {
  /** Cumulative acked seq. */
  ackedSeq: number;
  /** Bytes counted against the quota: frames of unacked records plus appends not yet written. */
  liveBytes: number;
  /** Size of all segment files. */
  diskBytes: number;
  segments: number;
  /** Records evicted for quota since open. */
  evicted: number;
  /** Bad regions (and records that failed re-verification) quarantined since open. */
  quarantined: number;
  /** Gaps not yet handed out by `takeGaps()` (including ones not yet durable). */
  pendingGaps: number;
  /** Record bodies held in memory. */
  memoryBytes: number;
  /** Record bodies read back from disk since open (they did not fit `memoryBytes`). */
  bodiesRead: number;
  /** Appends waiting for their group commit. */
  pendingAppends: number;
  /** Group commits that failed since open. */
  writeFailures: number;
  /** Segment files of another stream found in the directory (left alone). */
  foreignSegments: number;
  /** The latest I/O error, from a group commit or background work. */
  lastError: SpoolError | undefined;
}
