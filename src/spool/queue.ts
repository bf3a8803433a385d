import type { BodyType } from '../codec/index.js';

/** Priority lanes: a record in a higher lane always goes out before any in a lower one. */
export type Lane = 'alarm' | 'telemetry' | 'bulk';
export const LANES: readonly Lane[] = ['alarm', 'telemetry', 'bulk'];

export interface RecordInput {
  lane: Lane;
  /** Which Envelope body the bytes encode. */
  type: BodyType;
  /** The encoded body message (the envelope header is added when it is sent). */
  body: Uint8Array;
  /** How many telemetry samples the record carries (0 for others); for accounting. */
  samples?: number;
}

/** A record accepted into the queue, with the sequence number it keeps until acknowledged. */
export interface QueuedRecord extends Required<RecordInput> {
  seq: number;
  acceptedAtMs: number;
}

/**
 * The agent's outbound queue: where records wait between being accepted and being
 * acknowledged by the hub. Sequence numbers are assigned on acceptance, start at 1 within a
 * stream, and are never reused, so a record resent after a reconnect is recognised by the hub.
 *
 * Contract for implementations:
 * - `append` resolves only once the record is accepted (for a durable spool: on disk and
 *   synced). A rejected append accepted nothing.
 * - `ack(upTo)` removes every record with `seq <= upTo` and nothing else.
 * - `next` returns unacknowledged records in lane priority order (alarm, telemetry, bulk),
 *   ascending seq within a lane, skipping those `skip` says are already in flight, within
 *   `filter` (see {@link NextFilter}).
 */
export interface OutboundQueue {
  /** Identifies this queue's record stream to the hub (see DeviceAuth.stream_id). */
  readonly streamId: string;
  append(record: RecordInput): Promise<QueuedRecord>;
  next(limit: number, skip?: (seq: number) => boolean, filter?: NextFilter): QueuedRecord[];
  ack(upTo: number): QueuedRecord[];
  /**
   * The unacknowledged record with the lowest seq, whatever its lane: the one the hub's
   * cumulative ack is waiting for. The tunnel always sends it, even past its window.
   */
  oldest?(): QueuedRecord | undefined;
  /**
   * Records accepted and then dropped (quota, corruption), to report to the hub as `Gap`
   * frames; each handed out once per process, and again after a restart until the hub acks
   * past its range. Queues that never drop anything leave it out.
   */
  takeGaps?(): QueueGap[];
  stats(): QueueStats;
  close(): Promise<void>;
}

/** Narrows what `next()` returns. */
export interface NextFilter {
  /** Only these lanes (default all): e.g. telemetry is left out outside a transmit window. */
  lanes?: readonly Lane[];
  /**
   * Per lane, only records with a seq above this one. The tunnel passes the highest seq it has
   * sent per lane on this connection, so `next()` need not walk the whole window of records in
   * flight on every call.
   */
  after?: Partial<Record<Lane, number>>;
}

/** Accepted records that were dropped: every seq in `[fromSeq, toSeq]`, none of them live. */
export interface QueueGap {
  fromSeq: number;
  toSeq: number;
  records: number;
  /**
   * quota, corrupt: dropped by the queue. hub-state-behind: reported by the tunnel, not the
   * queue: a hub acked these before and they were deleted, but the hub now connected has no
   * record of them (see GAP_REASON_HUB_STATE_BEHIND).
   */
  reason: 'quota' | 'corrupt' | 'hub-state-behind';
}

export interface QueueStats {
  records: number;
  bytes: number;
  byLane: Record<Lane, number>;
  /** Highest sequence number assigned so far (0 if none). */
  lastSeq: number;
}
