import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QueuedRecord } from './queue.js';
import {
  FRAME,
  decodeFrameAt,
  encodeFrame,
  encodeRecord,
  encodeRecordPacked,
  encodeSeal,
  encodeSegmentHeader,
  scanSegment,
  verifyFrameAt,
  type ScanItem,
} from './segment-format.js';
import { decodeState, encodeState, type SpoolState } from './state-file.js';

const recordArb: fc.Arbitrary<Omit<QueuedRecord, 'seq'>> = fc.record({
  lane: fc.constantFrom('alarm' as const, 'telemetry' as const, 'bulk' as const),
  type: fc.constantFrom(
    'alarm' as const,
    'telemetry' as const,
    'commandResult' as const,
    'gap' as const,
  ),
  body: fc.uint8Array({ maxLength: 120 }),
  samples: fc.nat({ max: 1000 }),
  acceptedAtMs: fc.integer({ min: 0, max: 2 ** 45 }),
});

/** A segment image: header, records with ascending seqs, optionally a seal. */
function segment(
  records: Array<Omit<QueuedRecord, 'seq'>>,
  firstSeq = 1,
  sealed = true,
): {
  bytes: Uint8Array;
  written: QueuedRecord[];
} {
  const written = records.map((r, i) => ({ ...r, seq: firstSeq + i }));
  const parts = [
    encodeSegmentHeader({ stream: 'abc123', segment: 1, firstSeq }),
    ...written.map(encodeRecord),
    ...(sealed ? [encodeSeal({ lastSeq: firstSeq + records.length - 1 })] : []),
  ];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, written };
}

const recordsOf = (items: ScanItem[]): QueuedRecord[] =>
  items.flatMap((i) => (i.kind === 'record' ? [i.record] : []));

describe('segment format', () => {
  it('frames are magic, length, CRC-32C and payload', () => {
    const f = encodeFrame(Uint8Array.of(1, 2, 3));
    expect([...f.subarray(0, 4)]).toEqual([...FRAME.recordMagic]);
    expect(new DataView(f.buffer).getUint32(4, true)).toBe(3);
    expect(f.length).toBe(FRAME.headerBytes + 3);
    expect(verifyFrameAt(f, 0)).toBe(3);
    for (let i = 0; i < f.length; i++) {
      const bad = f.slice();
      bad[i]! ^= 0x10;
      expect(verifyFrameAt(bad, 0), `flip at ${i}`).toBeUndefined();
    }
  });

  it('writes records byte for byte as msgpackr does, and reads them back', () => {
    const uint = fc.oneof(
      fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32),
      fc.constantFrom(Number.MAX_SAFE_INTEGER),
      fc.nat(),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    );
    const bodyArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 0xff00, max: 0x10100 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
    );
    fc.assert(
      fc.property(recordArb, uint, uint, uint, bodyArb, (r, seq, samples, at, body) => {
        const rec: QueuedRecord = { ...r, seq: seq + 1, samples, acceptedAtMs: at, body };
        if (!Number.isSafeInteger(rec.seq)) return;
        const direct = decodeFrameAt(encodeRecord(rec), 0);
        const packed = decodeFrameAt(encodeRecordPacked(rec), 0);
        // Bodies compared as bytes: deep equality of 64 KiB arrays is slow.
        const meta = (d: typeof direct): unknown =>
          d?.kind === 'record'
            ? { ...d.record, body: Buffer.from(d.record.body).toString('hex').length }
            : d;
        expect(meta(direct)).toEqual({ ...rec, body: body.length * 2 });
        expect(meta(direct)).toEqual(meta(packed));
        expect(Buffer.from(encodeRecord(rec)).equals(encodeRecordPacked(rec))).toBe(true);
        expect(direct?.kind === 'record' && Buffer.from(direct.record.body).equals(body)).toBe(
          true,
        );
      }),
      { numRuns: 200 },
    );
    // Values the direct encoder leaves to msgpackr still round-trip.
    const odd: QueuedRecord = {
      seq: 5,
      lane: 'alarm',
      type: 'alarm',
      body: Uint8Array.of(1),
      samples: 0,
      acceptedAtMs: 1.5,
    };
    expect(decodeFrameAt(encodeRecord(odd), 0)).toEqual({ kind: 'record', record: odd });
  });

  it('round-trips records, the header and the seal', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 20 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (recs, first) => {
          const { bytes, written } = segment(recs, first);
          const items = scanSegment(bytes);
          expect(items[0]).toMatchObject({
            kind: 'header',
            header: { stream: 'abc123', firstSeq: first },
          });
          expect(items[items.length - 1]).toMatchObject({
            kind: 'seal',
            seal: { lastSeq: first + recs.length - 1 },
          });
          expect(recordsOf(items)).toEqual(written);
          expect(items.some((i) => i.kind === 'bad')).toBe(false);
        },
      ),
    );
  });

  it('every prefix (a torn write at any offset) yields a prefix of the records and one bad tail at most', () => {
    const { bytes, written } = segment(
      Array.from({ length: 6 }, (_, i) => ({
        lane: 'telemetry' as const,
        type: 'telemetry' as const,
        body: new Uint8Array(i * 7).fill(i),
        samples: i,
        acceptedAtMs: 1000 + i,
      })),
      1,
      false,
    );
    for (let cut = 0; cut <= bytes.length; cut++) {
      const items = scanSegment(bytes.subarray(0, cut));
      const got = recordsOf(items);
      expect(got).toEqual(written.slice(0, got.length));
      const bad = items.filter((i) => i.kind === 'bad');
      expect(bad.length).toBeLessThanOrEqual(1);
      if (bad[0]) expect(bad[0].offset + bad[0].size).toBe(cut);
    }
  });

  it('random corruption never yields a record that was not written, and never throws', () => {
    const edit = fc.oneof(
      fc.record({
        k: fc.constant('flip' as const),
        at: fc.nat(),
        bits: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({
        k: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }),
      }),
      fc.record({
        k: fc.constant('delete' as const),
        at: fc.nat(),
        n: fc.integer({ min: 1, max: 30 }),
      }),
      fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ k: fc.constant('magic' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 1, maxLength: 12 }),
        fc.array(edit, { minLength: 1, maxLength: 6 }),
        (recs, edits) => {
          const { bytes, written } = segment(recs);
          let b = Array.from(bytes);
          for (const e of edits) {
            const at = b.length === 0 ? 0 : e.at % b.length;
            if (e.k === 'flip' && b.length > 0) b[at]! ^= e.bits;
            if (e.k === 'insert') b.splice(at, 0, ...e.bytes);
            if (e.k === 'delete') b.splice(at, e.n);
            if (e.k === 'truncate') b = b.slice(0, at);
            if (e.k === 'magic') b.splice(at, 0, ...FRAME.recordMagic, 0, 0, 0, 0);
          }
          const items = scanSegment(Uint8Array.from(b));
          for (const r of recordsOf(items)) expect(written).toContainEqual(r);
          // Items tile the file: nothing is skipped or read twice.
          let at = 0;
          for (const i of items) {
            expect(i.offset).toBe(at);
            at += i.size;
          }
          expect(at).toBe(b.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('resyncs after a damaged record: every other record survives a flipped byte', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { minLength: 2, maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (recs, pick, bits) => {
          const { bytes, written } = segment(recs);
          const frames = scanSegment(bytes).filter((i) => i.kind === 'record');
          const victim = frames[pick % frames.length]!;
          const damaged = bytes.slice();
          damaged[victim.offset + (pick % victim.size)]! ^= bits;
          const got = recordsOf(scanSegment(damaged));
          const lost = victim.kind === 'record' ? victim.record.seq : -1;
          expect(got).toEqual(written.filter((r) => r.seq !== lost));
        },
      ),
    );
  });

  it('never throws on garbage, and bounds the work on adversarial magic-dense input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (junk) => {
        for (const i of scanSegment(junk)) expect(i.kind).toBe('bad');
      }),
    );
    // 2 MiB of back-to-back magics with lengths that all fit: quadratic without the budget.
    const n = 2 * 1024 * 1024;
    const evil = new Uint8Array(n);
    for (let i = 0; i + 8 <= n; i += 8) {
      evil.set(FRAME.recordMagic, i);
      new DataView(evil.buffer).setUint32(i + 4, Math.max(0, n - i - 64), true);
    }
    const t0 = performance.now();
    const items = scanSegment(evil);
    expect(items).toEqual([{ kind: 'bad', offset: 0, size: n }]);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe('state file', () => {
  const state: SpoolState = {
    streamId: 'feedbeef',
    acked: 41,
    highSeq: 99,
    evictedUpTo: { telemetry: 50, bulk: 7 },
    corrupt: [
      [60, 61],
      [70, 70],
    ],
    gaps: [{ fromSeq: 45, toSeq: 50, records: 4, reason: 'quota' }],
  };

  it('round-trips', () => {
    expect(decodeState(encodeState(state))).toEqual(state);
  });

  it('any damage reads as "no state", never as a different state, and never throws', () => {
    const bytes = encodeState(state);
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i]! ^= 0x04;
      expect(decodeState(bad)).toBeUndefined();
    }
    for (let cut = 0; cut < bytes.length; cut++)
      expect(decodeState(bytes.subarray(0, cut))).toBeUndefined();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => void decodeState(junk)));
  });
});
