import { describe, expect, it } from 'vitest';
import type { QueuedRecord } from './queue.js';
import { encodeRecord, encodeSeal, encodeSegmentHeader } from './segment-format.js';
import { SeqRanges } from './seq-ranges.js';
import { RecoveryScan } from './spool-recovery.js';

const STREAM = 'stream-1';

function record(seq: number): QueuedRecord {
  return {
    seq,
    lane: 'alarm',
    type: 'alarm',
    body: new Uint8Array(40).fill(seq),
    samples: 0,
    acceptedAtMs: 1,
  } as QueuedRecord;
}

function segment(firstSeq: number, seqs: number[], sealed = false): Uint8Array {
  const parts = [
    encodeSegmentHeader({ stream: STREAM, segment: firstSeq, firstSeq }),
    ...seqs.map((s) => encodeRecord(record(s))),
    ...(sealed ? [encodeSeal({ lastSeq: seqs.at(-1) ?? firstSeq - 1 })] : []),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Flips the first byte of the frame that starts at `offset` (its magic). */
function rot(bytes: Uint8Array, offset: number): Uint8Array {
  const out = bytes.slice();
  out[offset]! ^= 0x01;
  return out;
}

function scan(highSeq = 0): RecoveryScan {
  return new RecoveryScan({
    streamId: STREAM,
    acked: 0,
    highSeq,
    evictedUpTo: { telemetry: 0, bulk: 0 },
    corrupt: new SeqRanges(),
    memoryBytes: 1 << 20,
  });
}

describe('RecoveryScan', () => {
  const header = encodeSegmentHeader({ stream: STREAM, segment: 1, firstSeq: 1 }).length;

  it('truncates a torn tail of the newest segment without reporting it', () => {
    const s = scan();
    const bytes = segment(1, [1, 2]);
    const torn = bytes.subarray(0, bytes.length - 5);
    const seg = s.addSegment(1, torn, true);
    expect(seg.truncateTo).toBeDefined();
    expect(s.finish([])).toMatchObject({ gaps: [], lastSeq: 1 });
  });

  it('reports a bad record in an older segment up to the next segment header', () => {
    const s = scan();
    s.addSegment(1, rot(segment(1, [1, 2, 3]), header), false);
    s.addSegment(2, segment(4, [4]), true);
    expect(s.finish([])).toMatchObject({ gaps: [[1, 1]], lastSeq: 4 });
  });

  it('reports a bad tail of an older segment when nothing after it tells how far it went', () => {
    // The newest segment's header never reached the disk (created on a full disk, then a power
    // cut): nothing bounds the bad region, and the state file knew no seq (highSeq 0).
    const s = scan();
    s.addSegment(1, rot(segment(1, [1]), header), false);
    s.addSegment(2, new Uint8Array(0), true);
    const { gaps, lastSeq } = s.finish([]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]![0]).toBe(1);
    // The range covers at least the record that was there, and no seq in it is used again.
    expect(gaps[0]![1]).toBeGreaterThanOrEqual(1);
    expect(lastSeq).toBe(gaps[0]![1]);
  });
});
