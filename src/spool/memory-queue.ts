import { randomBytes } from 'node:crypto';
import type {
  Lane,
  NextFilter,
  OutboundQueue,
  QueueStats,
  QueuedRecord,
  RecordInput,
} from './queue.js';
import { LANES } from './queue.js';

/**
 * An in-memory {@link OutboundQueue}. NOT crash-safe: everything not yet acknowledged is
 * lost when the process dies. It is the stand-in until the durable spool lands, and the
 * reference the spool's model-based tests compare against. A new instance starts a new
 * stream, so the hub never mistakes its records for already-stored ones.
 */
export class MemoryQueue implements OutboundQueue {
  readonly streamId: string;
  readonly #lanes: Record<Lane, QueuedRecord[]> = { alarm: [], telemetry: [], bulk: [] };
  #lastSeq = 0;
  #bytes = 0;
  readonly #now: () => number;

  constructor(options: { streamId?: string; now?: () => number } = {}) {
    this.streamId = options.streamId ?? randomBytes(8).toString('hex');
    this.#now = options.now ?? Date.now;
  }

  append(input: RecordInput): Promise<QueuedRecord> {
    const record: QueuedRecord = {
      lane: input.lane,
      type: input.type,
      body: input.body,
      samples: input.samples ?? 0,
      seq: ++this.#lastSeq,
      acceptedAtMs: this.#now(),
    };
    this.#lanes[record.lane].push(record);
    this.#bytes += record.body.length;
    return Promise.resolve(record);
  }

  next(limit: number, skip?: (seq: number) => boolean, filter: NextFilter = {}): QueuedRecord[] {
    const out: QueuedRecord[] = [];
    for (const lane of LANES) {
      if (filter.lanes && !filter.lanes.includes(lane)) continue;
      const after = filter.after?.[lane] ?? 0;
      for (const r of this.#lanes[lane]) {
        if (out.length >= limit) return out;
        if (r.seq > after && !skip?.(r.seq)) out.push(r);
      }
    }
    return out;
  }

  ack(upTo: number): QueuedRecord[] {
    const removed: QueuedRecord[] = [];
    for (const lane of LANES) {
      const keep: QueuedRecord[] = [];
      for (const r of this.#lanes[lane]) (r.seq <= upTo ? removed : keep).push(r);
      this.#lanes[lane] = keep;
    }
    for (const r of removed) this.#bytes -= r.body.length;
    return removed;
  }

  oldest(): QueuedRecord | undefined {
    let best: QueuedRecord | undefined;
    for (const lane of LANES) {
      const head = this.#lanes[lane][0];
      if (head && (!best || head.seq < best.seq)) best = head;
    }
    return best;
  }

  stats(): QueueStats {
    const byLane = {
      alarm: this.#lanes.alarm.length,
      telemetry: this.#lanes.telemetry.length,
      bulk: this.#lanes.bulk.length,
    };
    return {
      records: byLane.alarm + byLane.telemetry + byLane.bulk,
      bytes: this.#bytes,
      byLane,
      lastSeq: this.#lastSeq,
    };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
