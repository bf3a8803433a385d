import { randomBytes } from 'node:crypto';
import { BODY_FIELD } from '../codec/index.js';
import { systemClock, type Clock, type TimerHandle } from '../runtime/clock.js';
import { SpoolError, toSpoolError } from './errors.js';
import { recoverDirectory, type RecoveredDirectory } from './file-spool-open.js';
import {
  ALARM_HEADROOM,
  FILE_SPOOL_DEFAULTS,
  type FileSpoolOptions,
  type FileSpoolStats,
} from './file-spool-options.js';
import { GapBook, type SpoolGap } from './gaps.js';
import {
  LANES,
  type Lane,
  type NextFilter,
  type OutboundQueue,
  type QueuedRecord,
  type RecordInput,
} from './queue.js';
import { readBodies, rewriteSegment, segmentName, unlinkIfPresent } from './segment-files.js';
import { FRAME } from './segment-format.js';
import { SegmentWriter } from './segment-writer.js';
import type { SeqRanges } from './seq-ranges.js';
import { SpoolIndex, metadataOnly, type Entry, type Segment } from './spool-index.js';
import { nodeSpoolFs, type SpoolFs } from './spool-fs.js';
import type { RecoveredSegment } from './spool-recovery.js';
import { createReserve, releaseReserve } from './reserve.js';
import { encodeState, writeStateFile } from './state-file.js';

/** Upper bound of a record frame's size beyond its body (frame header, MessagePack keys and values). */
const FRAME_OVERHEAD = FRAME.headerBytes + 100;

/**
 * The durable, crash-safe {@link OutboundQueue}: append-only segment files of CRC-framed
 * records, group commit, priority lanes, a disk quota that evicts telemetry (never alarms)
 * and reports what it dropped as gaps. See `src/spool/README.md` for the format and the rules.
 *
 * "Accepted" means resolved: `append()` resolves only after the fsync that covers its record.
 */
export class FileSpool implements OutboundQueue {
  readonly streamId: string;
  readonly #fs: SpoolFs;
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #o: { -readonly [K in keyof typeof FILE_SPOOL_DEFAULTS]: number };
  readonly #onReadable: (() => void) | undefined;
  readonly #index: SpoolIndex;
  readonly #writer: SegmentWriter;
  readonly #segments = new Map<number, Segment>();
  #nextSegmentId: number;
  #phase: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<void> | undefined;

  /** Highest seq of a durable record. */
  #lastSeq: number;
  #acked: number;
  readonly #evictedUpTo: { telemetry: number; bulk: number };
  readonly #corrupt: SeqRanges;
  readonly #gaps: GapBook;

  /** Bumped by every change the state file must record; `#persistedEpoch` is the last written. */
  #epoch = 1;
  #persistedEpoch = 0;
  #stateDue = false;
  #stateTimer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #maintaining: Promise<void> | undefined;
  #maintainAgain = false;
  #loadRequested = false;
  /** The reserve file is in place; `#reserveDue`: try to (re)create it on the next pass. */
  #reserved = false;
  #reserveDue = true;

  #evicted = 0;
  #bodiesRead = 0;
  #quarantined = 0;
  #writeFailures = 0;
  #foreignSegments = 0;
  #lastError: SpoolError | undefined;

  /**
   * Opens (or creates) the spool in `options.dir` and recovers it: a torn tail is truncated,
   * damaged records are quarantined and reported as corrupt gaps, acked records skipped. Never
   * fails on file *contents*.
   *
   * @throws SpoolError `SPOOL_OPEN_FAILED` when the directory cannot be read or prepared.
   */
  static async open(options: FileSpoolOptions): Promise<FileSpool> {
    const fs = options.fs ?? nodeSpoolFs;
    const memoryBytes = options.memoryBytes ?? FILE_SPOOL_DEFAULTS.memoryBytes;
    const found = await recoverDirectory(fs, options.dir, memoryBytes);
    const spool = new FileSpool(options, found);
    try {
      await spool.#saveState(); // the stream id and any new corrupt gaps are durable before use
    } catch (err) {
      throw new SpoolError(
        'SPOOL_OPEN_FAILED',
        `could not write the spool state in ${options.dir}`,
        { cause: err },
      );
    }
    await spool.#keepReserve(); // best effort: a full disk at open just means no reserve yet
    void spool.#kick();
    return spool;
  }

  private constructor(options: FileSpoolOptions, found: RecoveredDirectory) {
    this.#fs = options.fs ?? nodeSpoolFs;
    this.#dir = options.dir;
    this.#clock = options.clock ?? systemClock;
    this.#onReadable = options.onReadable;
    const d = FILE_SPOOL_DEFAULTS;
    this.#o = {
      maxBytes: options.maxBytes ?? d.maxBytes,
      maxRecordBytes: options.maxRecordBytes ?? d.maxRecordBytes,
      segmentBytes: options.segmentBytes ?? d.segmentBytes,
      groupCommitMs: options.groupCommitMs ?? d.groupCommitMs,
      groupCommitRecords: options.groupCommitRecords ?? d.groupCommitRecords,
      memoryBytes: options.memoryBytes ?? d.memoryBytes,
      persistDelayMs: options.persistDelayMs ?? d.persistDelayMs,
      compactDeadRatio: options.compactDeadRatio ?? d.compactDeadRatio,
      retryDelayMs: options.retryDelayMs ?? d.retryDelayMs,
      reserveBytes: options.reserveBytes ?? d.reserveBytes,
    };
    const { state } = found;
    this.streamId = found.streamId ?? options.streamId ?? randomBytes(8).toString('hex');
    this.#lastSeq = found.lastSeq;
    this.#acked = state?.acked ?? 0;
    this.#evictedUpTo = { ...(state?.evictedUpTo ?? { telemetry: 0, bulk: 0 }) };
    this.#corrupt = found.corrupt;
    this.#gaps = new GapBook(state?.gaps ?? []);
    for (const [from, to] of found.newCorrupt) this.#gaps.addRange(from, to, 'corrupt', 0);
    this.#quarantined = found.quarantined;
    this.#nextSegmentId = found.nextSegmentId;
    this.#index = new SpoolIndex(this.#o.memoryBytes);
    for (const seg of found.segments) this.#adopt(seg);
    this.#writer = new SegmentWriter(
      {
        lastSeq: () => this.#lastSeq,
        newSegmentId: () => this.#nextSegmentId++,
        addSegment: (seg) => this.#segments.set(seg.id, seg),
        removeSegment: (seg) => this.#segments.delete(seg.id),
        committed: (seg, placed, sealed, continued) => {
          this.#lastSeq = seg.lastSeq;
          for (const x of placed)
            this.#index.add(x.rec, x.rec.body.length, seg, x.offset, x.size, true);
          // Persist highSeq soon, so a sealed segment left the newest never looks torn. Not
          // when the next group follows at once, in the next segment: once durable it settles
          // that (if it fails, `failed` persists the state), and a state write would only
          // compete with the group commits for the disk.
          if (sealed && !continued) this.#markDirty();
        },
        failed: (error) => {
          this.#writeFailures++;
          this.#lastError = error;
          this.#markDirty(); // highSeq: the newest durable segment may be one a seal ended
        },
        noteError: (err) => this.#noteError(err),
      },
      {
        fs: this.#fs,
        dir: this.#dir,
        clock: this.#clock,
        streamId: this.streamId,
        segmentBytes: this.#o.segmentBytes,
        groupRecords: options.fsyncPerRecord ? 1 : Math.max(1, this.#o.groupCommitRecords),
        groupMs: options.fsyncPerRecord ? 0 : Math.max(0, this.#o.groupCommitMs),
        maxGroupBytes: options.fsyncPerRecord ? 0 : undefined, // 0: one record per group
      },
    );
  }

  /** Registers a recovered segment and indexes its live records (they come in seq order). */
  #adopt(r: RecoveredSegment): void {
    const seg: Segment = {
      id: r.id,
      path: `${this.#dir}/${segmentName(r.id)}`,
      size: r.size,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      entries: new Set(),
      deadBytes: r.deadBytes,
      ackedBytes: 0,
      removalEpoch: 0,
      state: r.foreign ? 'foreign' : 'sealed',
    };
    this.#segments.set(seg.id, seg);
    if (r.foreign) this.#foreignSegments++;
    for (const x of r.records)
      this.#index.add(x.record, x.bodyLength, seg, x.offset, x.size, x.loaded);
  }

  // ---------------------------------------------------------------- the queue

  append(input: RecordInput): Promise<QueuedRecord> {
    if (this.#phase !== 'open')
      return Promise.reject(new SpoolError('SPOOL_CLOSED', 'the spool is closed'));
    const problem = invalid(input);
    if (problem) return Promise.reject(new SpoolError('SPOOL_INVALID_RECORD', problem));
    const estimate = FRAME_OVERHEAD + input.body.length;
    if (input.body.length > this.#o.maxRecordBytes || estimate > this.#o.maxBytes) {
      return Promise.reject(
        new SpoolError(
          'SPOOL_TOO_LARGE',
          `a ${input.body.length}-byte record exceeds the spool's limit ` +
            `(maxRecordBytes ${this.#o.maxRecordBytes}, maxBytes ${this.#o.maxBytes})`,
        ),
      );
    }
    const refused = this.#admit(input.lane, estimate);
    if (refused) return Promise.reject(refused);
    const record = {
      lane: input.lane,
      type: input.type,
      body: input.body,
      samples: input.samples ?? 0,
      acceptedAtMs: this.#clock.now(),
    };
    return new Promise<QueuedRecord>((resolve, reject) =>
      this.#writer.enqueue({ record, estimate, resolve, reject }),
    );
  }

  next(limit: number, skip?: (seq: number) => boolean, filter?: NextFilter): QueuedRecord[] {
    const { records, blocked } = this.#index.next(limit, skip, filter);
    if (blocked) {
      // Going past a record whose body is on disk would break priority order: read it back.
      this.#loadRequested = true;
      void this.#kick();
    }
    return records;
  }

  /**
   * The unacknowledged record with the lowest seq (see {@link OutboundQueue.oldest}); undefined
   * while its body is being read back from disk (`onReadable` fires once it is in memory).
   */
  oldest(): QueuedRecord | undefined {
    const e = this.#index.oldest();
    if (!e) return undefined;
    if (e.rec) return e.rec;
    this.#loadRequested = true;
    void this.#kick();
    return undefined;
  }

  ack(upTo: number): QueuedRecord[] {
    const limit = Math.min(Math.floor(upTo), this.#lastSeq); // never past what is durable
    if (!(limit > this.#acked)) return [];
    this.#acked = limit;
    this.#markDirty();
    this.#corrupt.pruneThrough(limit);
    // Records dropped (evicted, quarantined) while in flight whose gap was never reported:
    // the hub acked past them, so it has them, and they count as delivered.
    const inFlight = this.#gaps.dropThrough(limit);
    const removed = this.#index.takeThrough(limit, this.#epoch);
    removed.push(...inFlight);
    void this.#kick();
    return removed;
  }

  /**
   * Hands over the gaps to report (as `Gap` frames), each once per process. Only gaps whose
   * cause is durable are handed out, so a crash can never bring back a record already reported
   * lost. A gap is kept in the state file until the hub acks past its range; after a restart,
   * gaps not yet acked past are handed out again (at least once).
   */
  takeGaps(): SpoolGap[] {
    return this.#gaps.take(this.#persistedEpoch);
  }

  /** Commits pending appends and waits for them. Never rejects: each append settles itself. */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  // ---------------------------------------------------------------- quota

  /**
   * Makes room for `size` more bytes by evicting the oldest telemetry, then bulk. Returns the
   * refusal, or undefined when the record fits. Alarms may use the headroom up to the hard
   * limit, and only once nothing is left to evict.
   */
  #admit(lane: Lane, size: number): SpoolError | undefined {
    const max = this.#o.maxBytes;
    const hard = Math.floor(max * ALARM_HEADROOM);
    const total = (): number => this.#index.liveBytes + this.#writer.pendingBytes + size;
    if (total() <= max) return undefined;
    const floor = total() - this.#index.evictableBytes;
    if (lane !== 'alarm' && floor > max) {
      return new SpoolError(
        'SPOOL_QUOTA',
        `the spool is full: ${floor - size} of its ${max} bytes are alarms and appends not yet ` +
          `written, which are never evicted; a ${lane} record was refused`,
      );
    }
    if (lane === 'alarm' && floor > hard) {
      return new SpoolError(
        'SPOOL_QUOTA',
        `the spool is over its hard limit for alarms (${hard} bytes); the alarm was refused`,
      );
    }
    while (total() > max && this.#index.evictableBytes > 0) {
      this.#markDirty();
      const e = this.#index.takeOldestEvictable(this.#epoch)!;
      this.#evictedUpTo[e.lane as 'telemetry' | 'bulk'] = e.seq;
      this.#evicted++;
      this.#addGap(e, 'quota');
    }
    return undefined;
  }

  #addGap(e: Entry, reason: SpoolGap['reason']): void {
    // Joining is exact only if nothing between is live, and nothing between was delivered.
    this.#gaps.add(
      e.seq,
      reason,
      this.#epoch,
      (after) => this.#acked <= after && !this.#index.liveBetween(after, e.seq),
      metadataOnly(e),
    );
  }

  /** A live record that failed re-verification (read back, or rewritten). */
  #quarantine(e: Entry): void {
    this.#markDirty();
    if (!this.#index.remove(e, this.#epoch)) return;
    this.#quarantined++;
    this.#corrupt.add(e.seq, e.seq);
    this.#addGap(e, 'corrupt');
  }

  // ---------------------------------------------------------------- background work

  /** Something must be persisted: bump the epoch and write the state file soon. */
  #markDirty(): void {
    this.#epoch++;
    if (this.#stateTimer !== undefined || this.#phase === 'closed') return;
    this.#stateTimer = this.#clock.setTimeout(() => {
      this.#stateTimer = undefined;
      this.#stateDue = true;
      void this.#kick();
    }, this.#o.persistDelayMs);
  }

  async #writeState(): Promise<void> {
    const epoch = this.#epoch;
    const bytes = encodeState({
      streamId: this.streamId,
      acked: this.#acked,
      highSeq: this.#lastSeq,
      evictedUpTo: this.#evictedUpTo,
      corrupt: this.#corrupt.toArray(),
      gaps: this.#gaps.toArray(),
    });
    await writeStateFile(this.#fs, this.#dir, bytes);
    if (epoch > this.#persistedEpoch) this.#persistedEpoch = epoch;
  }

  /**
   * Writes the state file; on a full disk, gives up the reserve and tries once more: the
   * write that lets acked segments be deleted must not itself need the space they hold.
   */
  async #saveState(): Promise<void> {
    try {
      await this.#writeState();
    } catch (err) {
      if (toSpoolError(err, '').code !== 'SPOOL_DISK_FULL') throw err;
      // Only a write that lets space be freed may spend the reserve.
      const reclaimable = [...this.#segments.values()].some(
        (seg) => seg.state === 'sealed' && seg.entries.size === 0,
      );
      if (!reclaimable || !(await releaseReserve(this.#fs, this.#dir))) throw err;
      this.#reserved = false;
      await this.#writeState();
    }
  }

  /** Takes the reserve (back) when it is missing: at open, and after segments were deleted. */
  async #keepReserve(): Promise<void> {
    if (this.#reserved || !this.#reserveDue || this.#o.reserveBytes <= 0) return;
    this.#reserveDue = false;
    this.#reserved = await createReserve(this.#fs, this.#dir, this.#o.reserveBytes);
  }

  /**
   * Runs (or re-runs) the background pass; resolves when a pass that started after this call
   * ends. A call while a pass runs makes that pass go round once more: the pass decides to stop
   * and clears `#maintaining` in one synchronous step, so no call can land in between and be
   * forgotten.
   */
  #kick(): Promise<void> {
    if (this.#phase === 'closed') return Promise.resolve();
    this.#maintainAgain = true;
    this.#maintaining ??= this.#maintain();
    return this.#maintaining;
  }

  /** The state file when due, then segment deletion, rewriting and body loading. Never rejects. */
  async #maintain(): Promise<void> {
    // Start on a later microtask: `#kick` must have stored this promise before it can end.
    await Promise.resolve();
    try {
      while (this.#maintainAgain) {
        this.#maintainAgain = false;
        if (this.#phase === 'closed') return;
        try {
          if (this.#stateDue && this.#epoch > this.#persistedEpoch) {
            this.#stateDue = false;
            await this.#saveState();
            // Gaps waiting for this state file may now be handed out.
            if (this.#gaps.pending > 0) this.#readable();
          }
          await this.#deleteDeadSegments();
          await this.#keepReserve();
          if (await this.#rewriteOne()) this.#maintainAgain = true;
          if (await this.#loadBodies()) this.#maintainAgain = true;
        } catch (err) {
          this.#noteError(err);
          this.#scheduleRetry();
          return;
        }
      }
    } finally {
      this.#maintaining = undefined;
    }
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#phase === 'closed') return;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#stateDue = true;
      void this.#kick();
    }, this.#o.retryDelayMs);
  }

  #noteError(err: unknown): void {
    this.#lastError = toSpoolError(err, 'spool background work failed; it will be retried');
  }

  /** Removal from a segment is final once the state recording it is durable. */
  #settled(seg: Segment): boolean {
    return seg.state === 'sealed' && seg.removalEpoch <= this.#persistedEpoch;
  }

  /** Deletes sealed segments with no live record left. */
  async #deleteDeadSegments(): Promise<void> {
    let deleted = false;
    for (const seg of [...this.#segments.values()]) {
      if (!this.#settled(seg) || seg.entries.size > 0) continue;
      await unlinkIfPresent(this.#fs, seg.path);
      this.#segments.delete(seg.id);
      deleted = true;
    }
    if (deleted) {
      await this.#fs.syncDir(this.#dir);
      if (!this.#reserved) this.#reserveDue = true; // space came back: take the reserve again
    }
  }

  /**
   * Rewrites one sealed segment whose dead bytes reach `compactDeadRatio` of it, not counting
   * acked ones: the acked part of the segment that holds the ack point goes away with the ack's
   * next moves, and rewriting it under a steady stream would copy most of every segment again.
   */
  async #rewriteOne(): Promise<boolean> {
    const seg = [...this.#segments.values()].find(
      (s) =>
        this.#settled(s) &&
        s.entries.size > 0 &&
        s.deadBytes - s.ackedBytes >= this.#o.compactDeadRatio * s.size,
    );
    if (!seg) return false;
    const { bad } = await rewriteSegment(this.#fs, this.#dir, seg, this.streamId);
    if (bad.length > 0) {
      for (const e of bad) this.#quarantine(e);
      this.#stateDue = true; // persist the loss before the bytes go; the next pass rewrites
    }
    return true;
  }

  /** Reads bodies back into memory (see {@link SpoolIndex.planLoad}); true if it should go on. */
  async #loadBodies(): Promise<boolean> {
    const blocked = this.#loadRequested;
    const plan = this.#index.planLoad(blocked);
    if (plan.length === 0) {
      this.#loadRequested = false;
      return false;
    }
    const got = await readBodies(this.#fs, plan);
    const good = new Map<Entry, QueuedRecord>();
    for (const [e, r] of got) {
      if (r === 'bad') this.#quarantine(e);
      else good.set(e, r);
    }
    const n = this.#index.attach(good);
    this.#bodiesRead += n;
    if (blocked && n > 0) {
      this.#loadRequested = false;
      this.#readable();
    }
    return n > 0 && this.#index.memBytes < this.#o.memoryBytes;
  }

  #readable(): void {
    try {
      this.#onReadable?.();
    } catch (err) {
      this.#noteError(err);
    }
  }

  // ---------------------------------------------------------------- lifecycle and stats

  /**
   * Commits pending appends, persists the state and runs background work (deletion,
   * rewriting, loading) until idle. For tests and orderly shutdown; never rejects (see
   * `stats().lastError`).
   */
  async settle(): Promise<void> {
    await this.flush();
    this.#stateDue = true;
    await this.#kick();
  }

  stats(): FileSpoolStats {
    const byLane = {
      alarm: this.#index.count('alarm'),
      telemetry: this.#index.count('telemetry'),
      bulk: this.#index.count('bulk'),
    };
    let diskBytes = 0;
    for (const s of this.#segments.values()) diskBytes += s.size;
    return {
      records: byLane.alarm + byLane.telemetry + byLane.bulk,
      bytes: this.#index.bodyBytes,
      byLane,
      lastSeq: this.#lastSeq,
      ackedSeq: this.#acked,
      liveBytes: this.#index.liveBytes + this.#writer.pendingBytes,
      diskBytes,
      segments: this.#segments.size,
      evicted: this.#evicted,
      quarantined: this.#quarantined,
      pendingGaps: this.#gaps.pending,
      memoryBytes: this.#index.memBytes,
      bodiesRead: this.#bodiesRead,
      pendingAppends: this.#writer.pendingCount,
      writeFailures: this.#writeFailures,
      foreignSegments: this.#foreignSegments,
      lastError: this.#lastError,
    };
  }

  /**
   * Stops accepting appends, commits the pending ones, persists the state and closes files.
   * @throws SpoolError `SPOOL_WRITE_FAILED` if the final state could not be saved: the records
   *   are safe; some acked ones may be sent again after the next open.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#phase = 'closing';
    let failure: unknown;
    await this.#writer.close().catch((err: unknown) => {
      failure = err;
    });
    for (const t of [this.#stateTimer, this.#retryTimer])
      if (t !== undefined) this.#clock.clearTimeout(t);
    this.#stateTimer = this.#retryTimer = undefined;
    while (this.#maintaining) await this.#maintaining;
    if (this.#epoch > this.#persistedEpoch) {
      await this.#saveState().catch((err: unknown) => {
        failure ??= err;
      });
    }
    this.#phase = 'closed';
    if (failure !== undefined) {
      throw new SpoolError(
        'SPOOL_WRITE_FAILED',
        'could not save the spool state on close; records are safe, acked ones may be sent again',
        { cause: failure },
      );
    }
  }
}

function invalid(input: RecordInput): string | undefined {
  if (typeof input !== 'object' || input === null) return 'a record must be an object';
  if (!(LANES as readonly unknown[]).includes(input.lane))
    return `unknown lane ${String(input.lane)}`;
  if (typeof input.type !== 'string' || !Object.hasOwn(BODY_FIELD, input.type)) {
    return `unknown body type ${String(input.type)}`;
  }
  if (!(input.body instanceof Uint8Array)) return 'the body must be a Uint8Array';
  const s = input.samples;
  if (s !== undefined && !(Number.isSafeInteger(s) && s >= 0))
    return 'samples must be a non-negative integer';
  return undefined;
}
