import type { Clock, TimerHandle } from '../runtime/clock.js';
import { toSpoolError, type SpoolError } from './errors.js';
import type { QueuedRecord } from './queue.js';
import { concat, segmentName, unlinkIfPresent } from './segment-files.js';
import { encodeRecord, encodeSeal, encodeSegmentHeader } from './segment-format.js';
import type { Segment } from './spool-index.js';
import type { SpoolFile, SpoolFs } from './spool-fs.js';

/** An append waiting for its group. */
export interface PendingAppend {
  record: Omit<QueuedRecord, 'seq'>;
  /** Upper bound of its frame size, reserved against the quota until it is written. */
  estimate: number;
  resolve(r: QueuedRecord): void;
  reject(e: SpoolError): void;
}

/** A record of a group, where it landed. */
export interface Placed {
  rec: QueuedRecord;
  offset: number;
  size: number;
}

/** What the writer needs from the spool around it. */
export interface WriterHost {
  /** Highest durable seq: the next group's records follow it. */
  lastSeq(): number;
  /** A fresh segment id (ids are never reused). */
  newSegmentId(): number;
  addSegment(seg: Segment): void;
  removeSegment(seg: Segment): void;
  /**
   * A group is durable; called before its appends resolve, so `next()` already sees them.
   * `continued`: the next group follows at once (after a seal: in a new segment).
   */
  committed(seg: Segment, records: Placed[], sealed: boolean, continued: boolean): void;
  /** A group failed; its appends reject with `error` right after. */
  failed(error: SpoolError): void;
  /** A harmless error worth recording (closing a file after its data was synced). */
  noteError(err: unknown): void;
}

export interface WriterOptions {
  fs: SpoolFs;
  dir: string;
  clock: Clock;
  streamId: string;
  segmentBytes: number;
  /**
   * When no group is being written, one starts as soon as this many appends are pending...
   * (while one is being written, the next takes every append that arrives meanwhile).
   */
  groupRecords: number;
  /** ...or this long after the first of them (0: at once). */
  groupMs: number;
  /** Most frame bytes (estimated) in one group, default {@link MAX_GROUP_BYTES}; a group always takes at least one record (0: exactly one). */
  maxGroupBytes?: number;
}

/**
 * Bound on one group's bytes (by the appends' estimates): a larger backlog is written as
 * several groups, back to back. Keeps the memory of a group (its records, their frames and
 * the one buffer written) bounded.
 */
export const MAX_GROUP_BYTES = 4 * 1024 * 1024;

/** A record of the next group, encoded ahead under the seq it gets if the groups before it succeed. */
interface Staged {
  rec: QueuedRecord;
  frame: Uint8Array;
}

/** A group of appends, from being taken off the buffer to being settled. */
interface Group {
  appends: PendingAppend[];
  /** Frames encoded ahead for its first appends (see `SegmentWriter.#stage`). */
  staged: Staged[];
  /** Its records are numbered from `after + 1`. */
  after: number;
  settled: boolean;
  /** Set once its write has started. */
  write?: {
    seg: Segment;
    file: SpoolFile;
    /** Segment size before the group: what is durable. */
    before: number;
    size: number;
    /** Seq of its last record. */
    seq: number;
    placed: Placed[];
    sealed: boolean;
    written: Promise<void>;
  };
}

/**
 * Group commit into append-only segment files. Appends are buffered and written together —
 * one write and one fsync per group (plus a directory fsync when the group starts a new
 * segment) — and resolve only after that fsync. Groups are written one at a time, back to
 * back: while one is being written and synced, every append that arrives joins the next
 * group (up to {@link MAX_GROUP_BYTES}), which goes as soon as the first is durable. The CPU
 * work overlaps the I/O: the next group's frames are encoded while the first one's write and
 * fsync are in flight, and its write starts before the first group's appends resolve.
 *
 * A failed group rejects all its appends and consumes no seq. Before the next group is
 * written, the segment is cut back to its last durable size (or a new segment removed) and
 * synced, so the failed records can never reappear under seqs that are then reused; until that
 * succeeds every group fails. The next group always starts a fresh segment.
 */
export class SegmentWriter {
  readonly #host: WriterHost;
  readonly #o: WriterOptions;
  #buffer: PendingAppend[] = [];
  /**
   * Frames of `#buffer[0 .. #staged.length)`, encoded ahead under seqs `#stagedAfter + 1`
   * onwards: valid only if every group before them succeeds (checked when a group starts).
   */
  #staged: Staged[] = [];
  #stagedAfter = 0;
  readonly #maxGroupBytes: number;
  #committing: Promise<void> | undefined;
  /** A group whose write was started as the one before it completed. */
  #next: Group | undefined;
  /** Appends taken into groups and not yet settled. */
  #inFlight = 0;
  #pendingBytes = 0;
  #timer: TimerHandle | undefined;
  #urgent = false;
  #active: { seg: Segment; file: SpoolFile } | undefined;
  #failed: { seg: Segment; durableSize: number } | undefined;

  constructor(host: WriterHost, options: WriterOptions) {
    this.#host = host;
    this.#o = options;
    this.#maxGroupBytes = options.maxGroupBytes ?? MAX_GROUP_BYTES;
  }

  /** Bytes reserved by appends not yet written. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Appends not yet settled. */
  get pendingCount(): number {
    return this.#buffer.length + this.#inFlight;
  }

  enqueue(p: PendingAppend): void {
    this.#buffer.push(p);
    this.#pendingBytes += p.estimate;
    if (this.#committing) return; // the running loop takes it next
    if (this.#buffer.length >= this.#o.groupRecords || this.#o.groupMs === 0) {
      this.#start();
    } else if (p.record.lane === 'alarm') {
      // An alarm does not wait for the group timer: its group starts as soon as the current
      // task ends, with every append made in the same task.
      if (!this.#urgent) {
        this.#urgent = true;
        queueMicrotask(() => {
          this.#urgent = false;
          this.#start();
        });
      }
    } else {
      this.#timer ??= this.#o.clock.setTimeout(() => {
        this.#timer = undefined;
        this.#start();
      }, this.#o.groupMs);
    }
  }

  /** Commits everything buffered and waits for it. Never rejects: the appends settle themselves. */
  async flush(): Promise<void> {
    for (;;) {
      this.#start();
      const running = this.#committing;
      if (!running) return;
      await running;
    }
  }

  /** Flushes, then closes the segment being written. */
  async close(): Promise<void> {
    await this.flush();
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const active = this.#active;
    this.#active = undefined;
    await active?.file.close();
  }

  #start(): void {
    if (this.#timer !== undefined) {
      this.#o.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#committing || this.#buffer.length === 0) return;
    this.#committing = this.#loop().finally(() => {
      this.#committing = undefined;
      if (this.#buffer.length > 0) this.#start(); // appended as the loop ended
    });
  }

  async #loop(): Promise<void> {
    for (;;) {
      let g = this.#next;
      this.#next = undefined;
      if (!g) {
        if (this.#buffer.length === 0) return;
        g = this.#take(this.#host.lastSeq());
      }
      try {
        if (!g.write) await this.#begin(g);
        if (g.write) await this.#complete(g);
      } catch (err) {
        this.#reject(g, err); // a bug guard: nothing may escape into a timer
      }
    }
  }

  /**
   * Takes the next group from the buffer (every append in it, up to the byte bound) to be
   * numbered after `after`, the highest durable seq.
   */
  #take(after: number): Group {
    const n = this.#groupSize();
    const appends = this.#buffer.splice(0, n);
    // Frames encoded ahead count only if they follow what is durable now (a failed group
    // before them consumed no seq, so they would be numbered wrong).
    if (this.#stagedAfter !== after) this.#staged = [];
    const staged = this.#staged.splice(0, n);
    this.#stagedAfter = after + n; // where the rest go if this group succeeds
    this.#inFlight += n;
    return { appends, staged, after, settled: false };
  }

  /** How many buffered appends the next group takes: all, up to the byte bound (at least one). */
  #groupSize(): number {
    const b = this.#buffer;
    if (b.length === 0) return 0;
    let bytes = b[0]!.estimate;
    let n = 1;
    while (n < b.length && bytes + b[n]!.estimate <= this.#maxGroupBytes) bytes += b[n++]!.estimate;
    return n;
  }

  /**
   * Encodes the appends the next group will take, while this group's I/O is in flight, under
   * the seqs they get if it succeeds. Only an optimisation: whatever is not staged (or staged
   * under seqs that turned out wrong) is encoded when its group is written.
   */
  #stage(): void {
    const b = this.#buffer;
    const limit = this.#groupSize();
    try {
      for (let i = this.#staged.length; i < limit; i++) {
        const rec = numbered(b[i]!, this.#stagedAfter + 1 + i);
        this.#staged.push({ rec, frame: encodeRecord(rec) });
      }
    } catch {
      // Left to the group itself, which rejects if its record cannot be encoded.
    }
  }

  /** Makes a segment ready (cutting back a failed one first, or creating one), then writes. */
  async #begin(g: Group): Promise<void> {
    try {
      await this.#recover();
      this.#active ??= await this.#create(g.after);
    } catch (err) {
      this.#reject(g, err);
      return;
    }
    this.#write(g, this.#active);
  }

  /** Encodes the group (using frames staged for it) and starts its write. Synchronous. */
  #write(g: Group, active: { seg: Segment; file: SpoolFile }): void {
    const { seg, file } = active;
    const before = seg.size;
    const fresh = before === 0;
    const parts: Uint8Array[] = [];
    if (fresh)
      parts.push(
        encodeSegmentHeader({ stream: this.#o.streamId, segment: seg.id, firstSeq: seg.firstSeq }),
      );
    let offset = before + (parts[0]?.length ?? 0);
    let seq = g.after;
    const placed: Placed[] = [];
    for (let i = 0; i < g.appends.length; i++) {
      seq++;
      const ahead = g.staged[i];
      let rec: QueuedRecord, frame: Uint8Array;
      if (ahead?.rec.seq === seq) ({ rec, frame } = ahead);
      else frame = encodeRecord((rec = numbered(g.appends[i]!, seq)));
      parts.push(frame);
      placed.push({ rec, offset, size: frame.length });
      offset += frame.length;
    }
    g.staged = [];
    const sealed = offset >= this.#o.segmentBytes;
    if (sealed) parts.push(encodeSeal({ lastSeq: seq }));
    const bytes = concat(parts);
    const written = file.write(bytes, before);
    written.catch(() => undefined); // awaited (and its error handled) in #complete
    g.write = { seg, file, before, size: bytes.length, seq, placed, sealed, written };
    this.#stage(); // the next group's frames, while this one is written
  }

  /**
   * Waits for the group's write, syncs it and settles its appends. On success the next group
   * (every append that arrived meanwhile) is encoded and its write started *before* this one's
   * appends resolve, so the work their callbacks cause overlaps the next group's I/O.
   */
  async #complete(g: Group): Promise<void> {
    const w = g.write!;
    const { seg, file, before } = w;
    try {
      await w.written;
      const synced = file.sync();
      // A group that starts a segment also makes the new file's name durable; both syncs run
      // together and both must succeed before any of its appends resolves.
      const named = before === 0 ? this.#o.fs.syncDir(this.#o.dir) : undefined;
      this.#stage(); // frames of appends that arrived during the write, while it is synced
      const [a, b] = await Promise.allSettled([synced, named]);
      if (a.status === 'rejected') throw a.reason;
      if (b.status === 'rejected') throw b.reason;
    } catch (err) {
      this.#failed = { seg, durableSize: before };
      seg.state = 'failed';
      this.#active = undefined;
      await file.close().catch(() => undefined); // the write error is the one that matters
      this.#reject(g, err);
      await this.#recover().catch(() => undefined); // retried before the next group
      return;
    }
    seg.size = before + w.size;
    seg.lastSeq = w.seq;
    if (w.sealed) {
      seg.state = 'sealed';
      this.#active = undefined;
    }
    // The next group — every append that arrived meanwhile — starts its write first.
    if (this.#active && this.#buffer.length > 0) this.#writeNext(this.#active, w.seq);
    // Before any await: a sealed segment must not look empty (deletable) to the spool.
    this.#host.committed(seg, w.placed, w.sealed, this.#buffer.length > 0 || !!this.#next);
    if (!this.#active && this.#buffer.length > 0) {
      // After a seal the next segment is created now (its name is synced along with its
      // first group), so the pipeline does not stall; if that fails, the loop tries again
      // and the group fails properly.
      this.#active = await this.#create(w.seq).catch(() => undefined);
      if (this.#active && this.#buffer.length > 0) this.#writeNext(this.#active, w.seq);
    }
    this.#settle(g);
    for (let i = 0; i < w.placed.length; i++) g.appends[i]!.resolve(w.placed[i]!.rec);
    if (w.sealed) await file.close().catch((err: unknown) => this.#host.noteError(err));
  }

  /** Takes the next group and starts its write, from a group that has just become durable. */
  #writeNext(active: { seg: Segment; file: SpoolFile }, after: number): void {
    const next = this.#take(after);
    try {
      this.#write(next, active);
      this.#next = next;
    } catch (err) {
      this.#reject(next, err); // a bug guard: never the durable group's appends instead
    }
  }

  /** Marks the group settled (once) and releases what it reserved; false if it already was. */
  #settle(g: Group): boolean {
    if (g.settled) return false;
    g.settled = true;
    this.#inFlight -= g.appends.length;
    for (const p of g.appends) this.#pendingBytes -= p.estimate;
    return true;
  }

  #reject(g: Group, err: unknown): void {
    if (!this.#settle(g)) return;
    const error = toSpoolError(err, 'could not write the record to the spool');
    this.#host.failed(error);
    for (const p of g.appends) p.reject(error);
  }

  /** A new, empty segment for records after `last`. */
  async #create(last: number): Promise<{ seg: Segment; file: SpoolFile }> {
    const id = this.#host.newSegmentId();
    const path = `${this.#o.dir}/${segmentName(id)}`;
    const file = await this.#o.fs.open(path, 'create');
    const seg: Segment = {
      id,
      path,
      size: 0,
      firstSeq: last + 1,
      lastSeq: last,
      entries: new Set(),
      deadBytes: 0,
      ackedBytes: 0,
      removalEpoch: 0,
      state: 'active',
    };
    this.#host.addSegment(seg);
    return { seg, file };
  }

  /** Cuts a failed segment back to what was durable (a new one is removed), durably. */
  async #recover(): Promise<void> {
    const f = this.#failed;
    if (!f) return;
    if (f.durableSize === 0) {
      await unlinkIfPresent(this.#o.fs, f.seg.path);
      await this.#o.fs.syncDir(this.#o.dir);
      this.#host.removeSegment(f.seg);
    } else {
      const fh = await this.#o.fs.open(f.seg.path, 'update');
      try {
        await fh.truncate(f.durableSize);
        await fh.sync();
      } finally {
        await fh.close().catch((err: unknown) => this.#host.noteError(err));
      }
      f.seg.size = f.durableSize;
      f.seg.state = 'sealed';
    }
    this.#failed = undefined;
  }
}

/** The append's record under `seq`. */
function numbered(p: PendingAppend, seq: number): QueuedRecord {
  const r = p.record;
  return {
    seq,
    lane: r.lane,
    type: r.type,
    body: r.body,
    samples: r.samples,
    acceptedAtMs: r.acceptedAtMs,
  };
}
