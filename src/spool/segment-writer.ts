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
  /** A group is durable; called before its appends resolve, so `next()` already sees them. */
  committed(seg: Segment, records: Placed[], sealed: boolean): void;
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
  /** A group is written as soon as it has this many records... */
  groupRecords: number;
  /** ...or this long after its first append (0: at once). */
  groupMs: number;
}

/**
 * Group commit into append-only segment files. Appends are buffered and written together —
 * one write and one fsync per group (plus a directory fsync when the group starts a new
 * segment) — and resolve only after that fsync. Groups are written one at a time, back to back.
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
  #committing: Promise<void> | undefined;
  #inFlight = 0;
  #pendingBytes = 0;
  #timer: TimerHandle | undefined;
  #active: { seg: Segment; file: SpoolFile } | undefined;
  #failed: { seg: Segment; durableSize: number } | undefined;

  constructor(host: WriterHost, options: WriterOptions) {
    this.#host = host;
    this.#o = options;
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
    while (this.#buffer.length > 0) {
      const group = this.#buffer.splice(0, this.#o.groupRecords);
      this.#inFlight = group.length;
      try {
        await this.#commit(group);
      } catch (err) {
        this.#reject(group, err); // a bug guard: nothing may escape into a timer
      } finally {
        this.#inFlight = 0;
      }
    }
  }

  async #commit(group: PendingAppend[]): Promise<void> {
    try {
      await this.#recover();
      this.#active ??= await this.#create();
    } catch (err) {
      this.#reject(group, err);
      return;
    }
    const { seg, file } = this.#active;
    const before = seg.size;
    const fresh = before === 0;
    const parts: Uint8Array[] = [];
    if (fresh)
      parts.push(
        encodeSegmentHeader({ stream: this.#o.streamId, segment: seg.id, firstSeq: seg.firstSeq }),
      );
    let offset = before + (parts[0]?.length ?? 0);
    let seq = this.#host.lastSeq();
    const placed: Placed[] = [];
    for (const p of group) {
      const rec: QueuedRecord = { ...p.record, seq: ++seq };
      const frame = encodeRecord(rec);
      parts.push(frame);
      placed.push({ rec, offset, size: frame.length });
      offset += frame.length;
    }
    const sealed = offset >= this.#o.segmentBytes;
    if (sealed) parts.push(encodeSeal({ lastSeq: seq }));
    const bytes = concat(parts);
    try {
      await file.write(bytes, before);
      await file.sync();
      if (fresh) await this.#o.fs.syncDir(this.#o.dir); // the new segment's name is durable too
    } catch (err) {
      this.#failed = { seg, durableSize: before };
      seg.state = 'failed';
      this.#active = undefined;
      await file.close().catch(() => undefined); // the write error is the one that matters
      this.#reject(group, err);
      await this.#recover().catch(() => undefined); // retried before the next group
      return;
    }
    seg.size = before + bytes.length;
    seg.lastSeq = seq;
    for (const p of group) this.#pendingBytes -= p.estimate;
    if (sealed) {
      seg.state = 'sealed';
      this.#active = undefined;
    }
    this.#host.committed(seg, placed, sealed);
    placed.forEach((x, i) => group[i]!.resolve(x.rec));
    if (sealed) await file.close().catch((err: unknown) => this.#host.noteError(err));
  }

  #reject(group: PendingAppend[], err: unknown): void {
    const error = toSpoolError(err, 'could not write the record to the spool');
    this.#host.failed(error);
    for (const p of group) {
      this.#pendingBytes -= p.estimate;
      p.reject(error);
    }
  }

  async #create(): Promise<{ seg: Segment; file: SpoolFile }> {
    const id = this.#host.newSegmentId();
    const path = `${this.#o.dir}/${segmentName(id)}`;
    const file = await this.#o.fs.open(path, 'create');
    const last = this.#host.lastSeq();
    const seg: Segment = {
      id,
      path,
      size: 0,
      firstSeq: last + 1,
      lastSeq: last,
      entries: new Set(),
      deadBytes: 0,
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
