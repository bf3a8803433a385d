import type { BodyType } from '../codec/index.js';
import { LaneIndex } from './lane-index.js';
import { LANES, type Lane, type NextFilter, type QueuedRecord } from './queue.js';

/** A segment file as the spool tracks it. */
export interface Segment {
  readonly id: number;
  readonly path: string;
  size: number;
  /** From the header: every record here and later has a seq at least this. */
  firstSeq: number;
  /** Highest seq ever written here (for the seal of a rewrite). */
  lastSeq: number;
  /** Live (unacked, not dropped) records in this file. */
  readonly entries: Set<Entry>;
  /** Bytes of frames in the file that are no longer live. */
  deadBytes: number;
  /**
   * The part of `deadBytes` that left by a cumulative ack. Only the segment holding the ack
   * point can have any with live records left, and those go as the ack moves on: compaction
   * does not count them.
   */
  ackedBytes: number;
  /** Epoch of the latest removal from this segment; it may be deleted or rewritten once persisted. */
  removalEpoch: number;
  /** `active`: being appended to. `failed`: a write failed, to be cut back. `foreign`: another stream's. */
  state: 'active' | 'sealed' | 'failed' | 'foreign';
}

/** An unacknowledged record: where it is on disk and, while its body is in memory, the record. */
export interface Entry {
  readonly seq: number;
  readonly lane: Lane;
  readonly type: BodyType;
  readonly samples: number;
  readonly acceptedAtMs: number;
  readonly bodyLength: number;
  /** Frame size on disk; what the quota counts. */
  readonly size: number;
  seg: Segment;
  offset: number;
  rec: QueuedRecord | undefined;
}

const EMPTY = new Uint8Array(0);

/** Most records one background load reads; also how far past the cap a blocked `next()` may load. */
export const LOAD_BATCH = 64;

/**
 * The live records, per lane in ascending seq, with the accounting the quota and the memory
 * cap need. Per lane, the entries whose body is in memory are always a prefix of the lane:
 * `next()` can then stop at the first body it lacks without breaking priority order.
 */
export class SpoolIndex {
  readonly #lanes: Record<Lane, LaneIndex<Entry>> = {
    alarm: new LaneIndex(),
    telemetry: new LaneIndex(),
    bulk: new LaneIndex(),
  };
  readonly #loaded: Record<Lane, number> = { alarm: 0, telemetry: 0, bulk: 0 };
  readonly #laneBytes: Record<Lane, number> = { alarm: 0, telemetry: 0, bulk: 0 };
  /** Body bytes in memory, per lane. */
  readonly #laneMem: Record<Lane, number> = { alarm: 0, telemetry: 0, bulk: 0 };
  #liveBytes = 0;
  #bodyBytes = 0;
  #memBytes = 0;

  constructor(readonly memoryCap: number) {}

  /** Frame bytes of live records (the quota's measure). */
  get liveBytes(): number {
    return this.#liveBytes;
  }
  /** Body bytes of live records (`QueueStats.bytes`). */
  get bodyBytes(): number {
    return this.#bodyBytes;
  }
  /** Body bytes held in memory. */
  get memBytes(): number {
    return this.#memBytes;
  }
  /** Frame bytes a quota eviction could free (telemetry and bulk). */
  get evictableBytes(): number {
    return this.#laneBytes.telemetry + this.#laneBytes.bulk;
  }

  count(lane: Lane): number {
    return this.#lanes[lane].length;
  }

  /** Indexes a durable record; keeps its body in memory if the lane is fully loaded and it fits. */
  add(
    rec: QueuedRecord,
    bodyLength: number,
    seg: Segment,
    offset: number,
    size: number,
    inMemory: boolean,
  ): void {
    const lane = this.#lanes[rec.lane];
    const keep =
      inMemory &&
      this.#loaded[rec.lane] === lane.length &&
      this.#memBytes + bodyLength <= this.memoryCap;
    const e: Entry = {
      seq: rec.seq,
      lane: rec.lane,
      type: rec.type,
      samples: rec.samples,
      acceptedAtMs: rec.acceptedAtMs,
      bodyLength,
      size,
      seg,
      offset,
      rec: keep ? rec : undefined,
    };
    lane.push(e);
    seg.entries.add(e);
    if (keep) {
      this.#loaded[rec.lane]++;
      this.#laneMem[rec.lane] += bodyLength;
      this.#memBytes += bodyLength;
    }
    this.#liveBytes += size;
    this.#laneBytes[rec.lane] += size;
    this.#bodyBytes += bodyLength;
  }

  /**
   * Up to `limit` records in delivery order, skipping those `skip` names. `blocked` when it
   * stopped at a record whose body is on disk only (read it back, then ask again).
   */
  next(
    limit: number,
    skip?: (seq: number) => boolean,
    filter: NextFilter = {},
  ): { records: QueuedRecord[]; blocked: boolean } {
    const records: QueuedRecord[] = [];
    const lanes = filter.lanes ?? LANES;
    for (const lane of LANES) {
      if (!lanes.includes(lane)) continue;
      const idx = this.#lanes[lane];
      const after = filter.after?.[lane];
      const from = after === undefined ? 0 : idx.firstAbove(after);
      for (let i = from; i < idx.length && records.length < limit; i++) {
        const e = idx.at(i)!;
        if (skip?.(e.seq)) continue;
        if (!e.rec) return { records, blocked: true };
        records.push(e.rec);
      }
      if (records.length >= limit) break;
    }
    return { records, blocked: false };
  }

  /** Removes every record with seq <= `upTo` (an ack), stamping their segments with `epoch`. */
  takeThrough(upTo: number, epoch: number): QueuedRecord[] {
    const removed: QueuedRecord[] = [];
    for (const lane of LANES) {
      const idx = this.#lanes[lane];
      while (idx.length > 0 && idx.at(0)!.seq <= upTo) {
        const e = idx.shift()!;
        this.#forget(e, epoch, true);
        removed.push(e.rec ?? metadataOnly(e));
      }
    }
    return removed;
  }

  /** The live record with the lowest seq, whatever its lane. */
  oldest(): Entry | undefined {
    let best: Entry | undefined;
    for (const lane of LANES) {
      const e = this.#lanes[lane].at(0);
      if (e && (!best || e.seq < best.seq)) best = e;
    }
    return best;
  }

  /** Removes the oldest telemetry record, else the oldest bulk one (quota). */
  takeOldestEvictable(epoch: number): Entry | undefined {
    const lane =
      this.#lanes.telemetry.length > 0
        ? 'telemetry'
        : this.#lanes.bulk.length > 0
          ? 'bulk'
          : undefined;
    if (!lane) return undefined;
    const e = this.#lanes[lane].shift()!;
    this.#forget(e, epoch);
    return e;
  }

  /** Removes one entry wherever it is (quarantine). False if it is no longer live. */
  remove(e: Entry, epoch: number): boolean {
    const idx = this.#lanes[e.lane];
    const at = idx.indexOf(e.seq);
    if (at < 0 || idx.at(at) !== e) return false;
    idx.removeAt(at);
    this.#forget(e, epoch);
    return true;
  }

  /** Is any live record's seq strictly between `a` and `b`? */
  liveBetween(a: number, b: number): boolean {
    for (const lane of LANES) {
      const idx = this.#lanes[lane];
      const e = idx.at(idx.firstAbove(a));
      if (e && e.seq < b) return true;
    }
    return false;
  }

  /**
   * The next bodies to read back, in delivery order, within the memory cap; lower lanes give
   * up bodies for a higher lane's. `blocked` (next() is waiting) allows one batch past the cap.
   */
  planLoad(blocked: boolean): Entry[] {
    const plan: Entry[] = [];
    let room = this.memoryCap - this.#memBytes;
    let bytes = 0;
    for (const lane of LANES) {
      const idx = this.#lanes[lane];
      let i = this.#loaded[lane];
      for (; i < idx.length && plan.length < LOAD_BATCH; i++) {
        const e = idx.at(i)!;
        const need = bytes + e.bodyLength - room;
        if (need > 0) {
          // Lower lanes give way only if that makes it fit (or next() is waiting on this one).
          if (!blocked && this.#memBelow(lane) < need) break;
          room += this.#dropBodiesBelow(lane, need);
          if (bytes + e.bodyLength > room && !blocked) break;
        }
        plan.push(e);
        bytes += e.bodyLength;
      }
      if (i < idx.length) break; // this lane is not fully in memory: lower lanes must wait
    }
    return plan;
  }

  /** Attaches bodies read back from disk, keeping the loaded prefix of each lane. Returns how many. */
  attach(got: Map<Entry, QueuedRecord>): number {
    let n = 0;
    for (const lane of LANES) {
      const idx = this.#lanes[lane];
      for (let e = idx.at(this.#loaded[lane]); e && !e.rec; e = idx.at(this.#loaded[lane])) {
        const r = got.get(e);
        if (!r) break;
        e.rec = r;
        this.#loaded[lane]++;
        this.#laneMem[lane] += e.bodyLength;
        this.#memBytes += e.bodyLength;
        n++;
      }
    }
    return n;
  }

  /** Body bytes in memory in the lanes below `lane`. */
  #memBelow(lane: Lane): number {
    let n = 0;
    for (let l = LANES.indexOf(lane) + 1; l < LANES.length; l++) n += this.#laneMem[LANES[l]!];
    return n;
  }

  /** Drops bodies from the back of lanes below `lane` to free `need` bytes; returns what it freed. */
  #dropBodiesBelow(lane: Lane, need: number): number {
    let freed = 0;
    for (let l = LANES.length - 1; l > LANES.indexOf(lane) && freed < need; l--) {
      const name = LANES[l]!;
      const idx = this.#lanes[name];
      while (this.#loaded[name] > 0 && freed < need) {
        const e = idx.at(this.#loaded[name] - 1)!;
        e.rec = undefined;
        this.#loaded[name]--;
        this.#laneMem[name] -= e.bodyLength;
        this.#memBytes -= e.bodyLength;
        freed += e.bodyLength;
      }
    }
    return freed;
  }

  /** Accounting for an entry that has just left its lane. */
  #forget(e: Entry, epoch: number, acked = false): void {
    if (e.rec) {
      this.#loaded[e.lane]--;
      this.#laneMem[e.lane] -= e.bodyLength;
      this.#memBytes -= e.bodyLength;
    }
    this.#liveBytes -= e.size;
    this.#laneBytes[e.lane] -= e.size;
    this.#bodyBytes -= e.bodyLength;
    e.seg.entries.delete(e);
    e.seg.deadBytes += e.size;
    if (acked) e.seg.ackedBytes += e.size;
    e.seg.removalEpoch = epoch;
  }
}

/** A removed record whose body was not in memory: exact metadata, empty body. */
export function metadataOnly(e: Entry): QueuedRecord {
  return {
    seq: e.seq,
    lane: e.lane,
    type: e.type,
    body: EMPTY,
    samples: e.samples,
    acceptedAtMs: e.acceptedAtMs,
  };
}
