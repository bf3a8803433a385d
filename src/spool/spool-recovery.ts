import { FRAME, scanSegment, type ScanItem } from './segment-format.js';
import type { Lane, QueuedRecord } from './queue.js';
import type { SeqRanges } from './seq-ranges.js';

/** A live record found on open: where it is, and its body if it fit the memory budget. */
export interface RecoveredRecord {
  record: QueuedRecord;
  offset: number;
  size: number;
  bodyLength: number;
  /** False when the body was dropped to stay within the memory budget (`record.body` is empty). */
  loaded: boolean;
}

/** What recovery decided about one segment file. */
export interface RecoveredSegment {
  id: number;
  /** Size after recovery (after truncating a torn tail). */
  size: number;
  /** Set when the file must be truncated to this size (a torn tail) before anything is appended. */
  truncateTo?: number;
  /** The segment belongs to another stream: left alone, never read. */
  foreign: boolean;
  /** The header's firstSeq (or the best bound known). */
  firstSeq: number;
  /** Highest seq this segment held or claimed (seal, header, records). */
  lastSeq: number;
  records: RecoveredRecord[];
  /** Bytes of frames that are not live: acked, evicted, quarantined, duplicates. */
  deadBytes: number;
}

export interface RecoveryKnown {
  /** The stream id from the state file, if it was readable. */
  streamId: string | undefined;
  acked: number;
  highSeq: number;
  evictedUpTo: { telemetry: number; bulk: number };
  /** Ranges already reported as corrupt; extended with the ranges found now. */
  corrupt: SeqRanges;
  memoryBytes: number;
}

/**
 * Fewer bytes than any record frame the spool writes (a 12-byte frame header and a payload with
 * six named fields), so that `ceil(bad bytes / this)` never counts fewer records than a bad
 * region held.
 */
const MIN_RECORD_FRAME_BYTES = FRAME.headerBytes + 20;

/**
 * Replays segment files, oldest first, into the records to index and the corrupt seq ranges to
 * report. Pure (no I/O). Rules:
 * - a bad region with no verified frame after it in the newest segment is a torn tail:
 *   truncated, not reported — unless the state file says seqs up to `highSeq` were durable,
 *   in which case the missing ones are reported as corrupt;
 * - any other bad region is quarantined (counted) and the seqs between the neighbouring known
 *   seqs (records, segment header `firstSeq`, seal `lastSeq`) are reported as corrupt;
 * - records at or below `acked`, below the lane's eviction watermark, inside an already
 *   reported corrupt range, or not above the previous seq (a duplicate) are skipped.
 */
export class RecoveryScan {
  readonly #k: RecoveryKnown;
  #stream: string | undefined;
  /** Highest seq known to lie before the current position. */
  #prev = 0;
  /** Lower bound of bad regions waiting for the next known seq. */
  #openLower: number | undefined;
  /** Bytes of quarantined bad regions (not torn tails) since `#openLower` opened. */
  #openBadBytes = 0;
  #quarantined = 0;
  #memBytes = 0;
  readonly #fullyLoaded: Record<Lane, boolean> = { alarm: true, telemetry: true, bulk: true };
  readonly #newGaps: Array<[number, number]> = [];

  constructor(known: RecoveryKnown) {
    this.#k = known;
    this.#stream = known.streamId;
  }

  get streamId(): string | undefined {
    return this.#stream;
  }

  /** Adds the next segment (ascending id); `newest` marks the last one. */
  addSegment(id: number, bytes: Uint8Array, newest: boolean): RecoveredSegment {
    const items = scanSegment(bytes);
    const header = items.find((i) => i.kind === 'header');
    const seg: RecoveredSegment = {
      id,
      size: bytes.length,
      foreign: false,
      firstSeq: this.#prev + 1,
      lastSeq: this.#prev,
      records: [],
      deadBytes: 0,
    };
    if (header?.kind === 'header') {
      if (this.#stream === undefined) this.#stream = header.header.stream;
      if (header.header.stream !== this.#stream) return { ...seg, foreign: true };
      seg.firstSeq = header.header.firstSeq;
    }
    let end = items.length;
    const last = items[items.length - 1];
    if (newest && last?.kind === 'bad') {
      // Torn tail: bytes of a write that never completed. Truncated, not quarantined.
      end -= 1;
      seg.truncateTo = last.offset;
      seg.size = last.offset;
    }
    for (let i = 0; i < end; i++) this.#item(items[i]!, seg);
    if (seg.truncateTo !== undefined) this.#openLower ??= this.#prev + 1;
    seg.lastSeq = Math.max(seg.lastSeq, this.#prev);
    return seg;
  }

  #item(item: ScanItem, seg: RecoveredSegment): void {
    switch (item.kind) {
      case 'header':
        this.#bound(item.header.firstSeq - 1);
        return;
      case 'seal':
        this.#bound(item.seal.lastSeq);
        return;
      case 'bad':
        this.#quarantined++;
        seg.deadBytes += item.size;
        this.#openLower ??= this.#prev + 1;
        this.#openBadBytes += item.size;
        return;
      case 'record': {
        const r = item.record;
        if (r.seq <= this.#prev) {
          // Out of order or a duplicate: not what this spool writes. Quarantined, nothing lost.
          this.#quarantined++;
          seg.deadBytes += item.size;
          return;
        }
        this.#bound(r.seq - 1);
        this.#prev = r.seq;
        if (this.#skip(r)) {
          seg.deadBytes += item.size;
          return;
        }
        const fits =
          this.#fullyLoaded[r.lane] && this.#memBytes + r.body.length <= this.#k.memoryBytes;
        if (fits) this.#memBytes += r.body.length;
        else this.#fullyLoaded[r.lane] = false;
        seg.records.push({
          record: fits ? r : { ...r, body: new Uint8Array(0) },
          offset: item.offset,
          size: item.size,
          bodyLength: r.body.length,
          loaded: fits,
        });
        return;
      }
    }
  }

  #skip(r: QueuedRecord): boolean {
    const k = this.#k;
    if (r.seq <= k.acked || k.corrupt.has(r.seq)) return true;
    return r.lane !== 'alarm' && r.seq <= k.evictedUpTo[r.lane];
  }

  /** The next known seq after a bad region is `upper + 1`: the region held `[lower, upper]`. */
  #bound(upper: number): void {
    if (this.#openLower !== undefined) this.#corrupt(this.#openLower, upper);
    this.#openLower = undefined;
    this.#openBadBytes = 0;
    if (upper > this.#prev) this.#prev = upper;
  }

  #corrupt(lower: number, upper: number): void {
    const from = Math.max(lower, this.#k.acked + 1);
    if (from > upper) return;
    for (const [a, b] of this.#k.corrupt.uncovered(from, upper)) this.#newGaps.push([a, b]);
    this.#k.corrupt.add(from, upper);
  }

  /**
   * Ends the scan. Returns the new corrupt ranges (to report as gaps), how many bad regions
   * were quarantined, and the highest seq ever used (the next append gets the one after).
   */
  finish(extraHighs: number[]): {
    gaps: Array<[number, number]>;
    quarantined: number;
    lastSeq: number;
  } {
    // Bad bytes with nothing known after them. A torn tail alone loses only seqs the state file
    // knew were durable. Quarantined bad bytes (corruption in a complete part of a segment, or
    // a segment whose header is gone) held records that were accepted, and nothing tells how
    // many: the range covers as many as the bytes could have held, so that each one is
    // reported and no seq is handed out again.
    if (this.#openLower !== undefined) {
      const held = Math.ceil(this.#openBadBytes / MIN_RECORD_FRAME_BYTES);
      const upper = Math.max(this.#k.highSeq, this.#openLower - 1 + held);
      this.#corrupt(this.#openLower, upper);
      if (upper > this.#prev) this.#prev = upper;
    }
    this.#openLower = undefined;
    this.#openBadBytes = 0;
    const lastSeq = Math.max(this.#prev, this.#k.highSeq, this.#k.acked, ...extraHighs);
    return { gaps: this.#newGaps, quarantined: this.#quarantined, lastSeq };
  }
}
