import { describe, expect, it } from 'vitest';
import { SpoolError } from './errors.js';
import type { FileSpool } from './file-spool.js';
import { MemorySpoolFs } from './memory-spool-fs.js';
import type { Lane, QueuedRecord } from './queue.js';
import { encodeRecord, encodeSegmentHeader, scanSegment } from './segment-format.js';
import { MAX_GROUP_BYTES } from './segment-writer.js';
import {
  DIR,
  ManualClock,
  bodyId,
  drain,
  makeBody,
  openSpool,
  typeOf,
} from './spool-test-fixtures.js';

const seqs = (rs: QueuedRecord[]): number[] => rs.map((r) => r.seq);
const segments = (fs: MemorySpoolFs): string[] => fs.list(DIR).filter((n) => n.endsWith('.seg'));

async function fill(
  spool: FileSpool,
  lanes: Lane[],
  size = 40,
  firstId = 1,
): Promise<QueuedRecord[]> {
  const ps = lanes.map((lane, i) =>
    spool.append({ lane, type: typeOf(lane), body: makeBody(firstId + i, size) }),
  );
  await spool.flush();
  return Promise.all(ps);
}

/** One append at a time, each durable before the next (so the quota sees no pending bytes). */
async function fillOneByOne(
  spool: FileSpool,
  lanes: Lane[],
  size = 40,
  firstId = 1,
): Promise<QueuedRecord[]> {
  const out: QueuedRecord[] = [];
  for (const [i, lane] of lanes.entries()) {
    out.push(await spool.append({ lane, type: typeOf(lane), body: makeBody(firstId + i, size) }));
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<SpoolError> {
  const e = await p.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SpoolError);
  return e as SpoolError;
}

describe('FileSpool: queue behaviour', () => {
  it('numbers records from 1 and hands out alarms, then telemetry, then bulk, ascending within a lane', async () => {
    const spool = await openSpool(new MemorySpoolFs(), new ManualClock());
    await fill(spool, ['telemetry', 'bulk', 'telemetry', 'alarm', 'bulk', 'alarm', 'telemetry']);
    expect(seqs(spool.next(100))).toEqual([4, 6, 1, 3, 7, 2, 5]);
    expect(seqs(spool.next(3))).toEqual([4, 6, 1]);
    expect(seqs(spool.next(10, (s) => s === 4 || s === 1))).toEqual([6, 3, 7, 2, 5]);
    expect(spool.stats()).toMatchObject({
      records: 7,
      lastSeq: 7,
      byLane: { alarm: 2, telemetry: 3, bulk: 2 },
      bytes: 7 * 40,
    });
  });

  it('next() is O(limit): it looks at no more records than it returns plus those skipped', async () => {
    const spool = await openSpool(new MemorySpoolFs(), new ManualClock(), {
      groupCommitRecords: 512,
      segmentBytes: 1 << 20,
    });
    await fill(spool, Array<Lane>(3000).fill('telemetry'), 8);
    let asked = 0;
    const batch = spool.next(10, (s) => {
      asked++;
      return s <= 5;
    });
    expect(seqs(batch)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(asked).toBe(15);
  });

  it('ack(upTo) removes exactly the records at or below upTo, and never past what is durable', async () => {
    const spool = await openSpool(new MemorySpoolFs(), new ManualClock());
    await fill(spool, ['telemetry', 'alarm', 'telemetry', 'bulk', 'alarm']);
    expect(seqs(spool.ack(3)).sort()).toEqual([1, 2, 3]);
    expect(spool.ack(2)).toEqual([]);
    expect(seqs(spool.next(10))).toEqual([5, 4]);
    expect(seqs(spool.ack(1e9)).sort()).toEqual([4, 5]);
    expect(spool.stats()).toMatchObject({ records: 0, ackedSeq: 5, lastSeq: 5 });
    const [r] = await fill(spool, ['alarm'], 40, 9);
    expect(r!.seq).toBe(6); // the absurd ack did not swallow future seqs
  });

  it('rejects malformed, oversized and post-close appends with stable codes', async () => {
    const spool = await openSpool(new MemorySpoolFs(), new ManualClock(), { maxRecordBytes: 100 });
    const bad = { lane: 'urgent', type: 'alarm', body: new Uint8Array(1) } as unknown as Parameters<
      FileSpool['append']
    >[0];
    expect((await rejection(spool.append(bad))).code).toBe('SPOOL_INVALID_RECORD');
    expect(
      (
        await rejection(
          spool.append({ lane: 'alarm', type: 'alarm', body: new Uint8Array(1), samples: -1 }),
        )
      ).code,
    ).toBe('SPOOL_INVALID_RECORD');
    expect(
      (await rejection(spool.append({ lane: 'alarm', type: 'alarm', body: new Uint8Array(101) })))
        .code,
    ).toBe('SPOOL_TOO_LARGE');
    await spool.close();
    expect(
      (await rejection(spool.append({ lane: 'alarm', type: 'alarm', body: new Uint8Array(1) })))
        .code,
    ).toBe('SPOOL_CLOSED');
  });
});

describe('FileSpool: group commit', () => {
  it('resolves appends only after the fsync of their group, every groupCommitMs or groupCommitRecords', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { groupCommitRecords: 4, groupCommitMs: 20 });
    const synced = (): number => fs.count('sync');
    const base = synced();
    let resolved = 0;
    for (let i = 0; i < 3; i++)
      void spool
        .append({ lane: 'telemetry', type: 'telemetry', body: makeBody(i, 10) })
        .then(() => resolved++);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(resolved).toBe(0);
    expect(spool.next(10)).toEqual([]); // nothing unwritten is handed out
    clock.advance(19);
    await Promise.resolve();
    expect(synced()).toBe(base);
    clock.advance(1);
    await spool.flush();
    expect(resolved).toBe(3);
    expect(synced()).toBe(base + 1);
    // A full group goes at once, without waiting for the timer.
    const ps = Array.from({ length: 4 }, (_, i) =>
      spool.append({ lane: 'alarm', type: 'alarm', body: makeBody(10 + i, 10) }),
    );
    await Promise.all(ps);
    expect(synced()).toBe(base + 2);
  });

  it('while a group is being written, every append that arrives joins the next group: one write, one fsync', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, {
      groupCommitRecords: 4,
      groupCommitMs: 20,
      segmentBytes: 1 << 20,
    });
    const writes: number[] = [];
    fs.setFault((c) => {
      if (c.op === 'write' && c.path.endsWith('.seg')) writes.push(c.length ?? 0);
      return undefined;
    });
    const syncs = fs.count('sync');
    const append = (i: number): Promise<QueuedRecord> =>
      spool.append({ lane: 'telemetry', type: 'telemetry', body: makeBody(i, 100) });
    // Four pending: a group starts at once, without waiting for the timer...
    const first = Array.from({ length: 4 }, (_, i) => append(i + 1));
    // ...and the 13 appends made while it is being written all go in the next one, not in
    // groups of four.
    const second = Array.from({ length: 13 }, (_, i) => append(i + 5));
    expect(seqs(await Promise.all([...first, ...second]))).toEqual(
      Array.from({ length: 17 }, (_, i) => i + 1),
    );
    expect(writes).toHaveLength(2);
    expect(fs.count('sync') - syncs).toBe(2);
    expect(writes[1]).toBeGreaterThan(13 * 100);
    expect(spool.stats().pendingAppends).toBe(0);
    // Once nothing is being written, fewer than groupCommitRecords wait for groupCommitMs.
    await spool.flush();
    const lone = append(50);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(writes).toHaveLength(2);
    clock.advance(20);
    expect((await lone).seq).toBe(18);
    expect(writes).toHaveLength(3);
  });

  it('bounds one group to MAX_GROUP_BYTES: a larger backlog goes in several groups, in order', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      groupCommitRecords: 1,
      segmentBytes: 64 << 20,
      maxBytes: 64 << 20,
    });
    const writes: number[] = [];
    fs.setFault((c) => {
      if (c.op === 'write' && c.path.endsWith('.seg')) writes.push(c.length ?? 0);
      return undefined;
    });
    const size = Math.floor(MAX_GROUP_BYTES / 4.5); // four fit in a group, five do not
    const ps = Array.from({ length: 10 }, (_, i) =>
      spool.append({ lane: 'bulk', type: 'commandResult', body: makeBody(i + 1, size) }),
    );
    const recs = await Promise.all(ps);
    expect(seqs(recs)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    // The first starts alone (one pending), the nine that gathered meanwhile go as 4 + 4 + 1.
    expect(writes.map((w) => Math.round(w / size))).toEqual([1, 4, 4, 1]);
    expect(writes.every((w) => w <= MAX_GROUP_BYTES)).toBe(true);
  });

  it('fsyncPerRecord writes and syncs each record on its own', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      fsyncPerRecord: true,
      segmentBytes: 1 << 20,
    });
    const base = fs.count('sync');
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        spool.append({ lane: 'telemetry', type: 'telemetry', body: makeBody(i, 10) }),
      ),
    );
    expect(fs.count('sync') - base).toBe(6);
    expect(fs.count('write')).toBeGreaterThanOrEqual(6);
  });

  it('never throws from a timer: a group whose segment cannot be created rejects, the next one works', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { groupCommitRecords: 100 });
    fs.setFault((c) =>
      c.op === 'open' && c.path.endsWith('.seg') ? { error: 'EMFILE' } : undefined,
    );
    const p = spool.append({ lane: 'alarm', type: 'alarm', body: makeBody(1, 10) });
    clock.advance(10); // the group timer fires; the failure lands on the promise, not the timer
    const e = await rejection(p);
    expect(e.code).toBe('SPOOL_WRITE_FAILED');
    fs.setFault(undefined);
    const [r] = await fill(spool, ['alarm']);
    expect(r!.seq).toBe(1); // the failed record's seq was never used: no hole
  });
});

describe('FileSpool: durability and recovery', () => {
  it('reopens with the same stream, skipping acked records and continuing the seqs', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock());
    await fill(spool, ['telemetry', 'alarm', 'telemetry', 'bulk']);
    spool.ack(2);
    await spool.close();
    const again = await openSpool(fs, new ManualClock());
    expect(again.streamId).toBe(spool.streamId);
    expect(seqs(again.next(10))).toEqual([3, 4]);
    expect(again.next(10).map((r) => bodyId(r.body))).toEqual([3, 4]);
    const [r] = await fill(again, ['alarm'], 10, 50);
    expect(r!.seq).toBe(5);
  });

  it('batches acks into one atomic state write per persistDelayMs', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { persistDelayMs: 10 });
    await fill(spool, Array<Lane>(10).fill('telemetry'));
    await spool.settle();
    const renames = fs.count('rename');
    for (let s = 1; s <= 10; s++) spool.ack(s);
    clock.advance(9);
    await spool.flush();
    expect(fs.count('rename')).toBe(renames);
    clock.advance(1);
    await spool.settle();
    expect(fs.count('rename')).toBe(renames + 1);
    const again = await openSpool(fs.crash(), new ManualClock());
    expect(again.stats()).toMatchObject({ records: 0, ackedSeq: 10 });
  });

  it('never forgets a state write asked for while a background pass is ending', async () => {
    // The state timer fires (and asks for a pass) d microtasks after a pass started, for every d
    // up to well past the pass's length: whenever it lands, the ack must reach the disk without
    // any further trigger.
    for (let d = 0; d < 60; d++) {
      const fs = new MemorySpoolFs();
      const clock = new ManualClock();
      const spool = await openSpool(fs, clock, { persistDelayMs: 10 });
      await fill(spool, Array<Lane>(4).fill('telemetry'));
      await spool.settle();
      spool.ack(1);
      clock.advance(10);
      const pass = spool.settle();
      for (let i = 0; i < d; i++) await Promise.resolve();
      spool.ack(2); // arms the state timer ...
      clock.advance(10); // ... which fires now
      await pass;
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      const again = await openSpool(fs.crash(), new ManualClock());
      expect(again.stats().ackedSeq, `timer fired ${d} microtasks into the pass`).toBe(2);
    }
  });

  it('by default writes the state for a stream of acks at most every 100 ms', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { persistDelayMs: undefined });
    await fill(spool, Array<Lane>(10).fill('telemetry'));
    await spool.settle();
    const renames = fs.count('rename');
    for (let s = 1; s <= 9; s++) {
      spool.ack(s);
      clock.advance(10); // an ack every 10 ms, as from a hub under load
      await spool.flush();
    }
    expect(fs.count('rename')).toBe(renames); // 90 ms: not yet
    clock.advance(10);
    await spool.settle();
    expect(fs.count('rename')).toBe(renames + 1);
  });

  it('a crash before the ack is persisted re-delivers; the hub de-duplicates by seq', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), { persistDelayMs: 1000 });
    await fill(spool, ['telemetry', 'telemetry']);
    await spool.settle(); // settle persists whatever is due, and it is not due yet...
    spool.ack(2); // ...this ack waits for the timer
    const again = await openSpool(fs.crash(), new ManualClock());
    expect(seqs(again.next(10))).toEqual([1, 2]);
  });

  it('deletes sealed segments once all their records are acked and that is durable', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { segmentBytes: 300, groupCommitRecords: 2 });
    // Two at a time: each group of two fills a segment (a burst would be one or two groups).
    for (let i = 0; i < 6; i++) await fill(spool, ['telemetry', 'telemetry'], 60, 1 + 2 * i);
    const before = segments(fs);
    expect(before.length).toBeGreaterThan(3);
    spool.ack(8);
    await spool.flush();
    expect(segments(fs)).toEqual(before); // not before the ack is durable
    await spool.settle();
    const after = segments(fs);
    expect(after.length).toBeLessThan(before.length);
    expect(after[0]! > before[0]!).toBe(true);
    const again = await openSpool(fs.crash(), new ManualClock());
    expect(seqs(again.next(100))).toEqual([9, 10, 11, 12]);
  });

  it('truncates a torn tail silently and quarantines a damaged record in the middle, reporting its seq', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      segmentBytes: 1 << 20,
      groupCommitRecords: 1,
    });
    await fill(spool, ['telemetry', 'telemetry', 'alarm', 'telemetry']);
    const seg = `${DIR}/${segments(fs)[0]}`;
    const items = scanSegment(fs.contents(seg)!);
    const second = items.find((i) => i.kind === 'record' && i.record.seq === 2)!;
    fs.corrupt(seg, second.offset + second.size - 3);
    const f = await fs.open(seg, 'update');
    await f.write(Uint8Array.of(0x4f, 0x50, 0x53, 0x52, 9, 9), fs.contents(seg)!.length); // a torn frame
    await f.sync();
    const fs2 = fs.crash();
    const again = await openSpool(fs2, new ManualClock());
    expect(seqs(again.next(10))).toEqual([3, 1, 4]);
    expect(again.stats()).toMatchObject({ quarantined: 1, pendingGaps: 1 });
    expect(again.takeGaps()).toEqual([{ fromSeq: 2, toSeq: 2, records: 1, reason: 'corrupt' }]);
    // Until the hub acks past it, a restart reports it again; seq 2 is never delivered.
    await again.settle();
    const fs3 = fs2.crash();
    const third = await openSpool(fs3, new ManualClock());
    expect(third.stats().quarantined).toBe(1);
    expect(third.takeGaps()).toEqual([{ fromSeq: 2, toSeq: 2, records: 1, reason: 'corrupt' }]);
    expect(seqs(third.next(10))).toEqual([3, 1, 4]);
    third.ack(2);
    await third.settle();
    const fourth = await openSpool(fs3.crash(), new ManualClock());
    expect(fourth.takeGaps()).toEqual([]);
    expect(seqs(fourth.next(10))).toEqual([3, 4]);
  });

  it('a damaged last record of a sealed segment is corruption (the seal says so), not a torn write', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      segmentBytes: 300,
      groupCommitRecords: 3,
    });
    await fill(spool, Array<Lane>(3).fill('telemetry'), 60);
    const [seg] = segments(fs);
    const items = scanSegment(fs.contents(`${DIR}/${seg}`)!);
    expect(items[items.length - 1]!.kind).toBe('seal');
    const last = items[items.length - 2]!;
    fs.corrupt(`${DIR}/${seg}`, last.offset + 20);
    const again = await openSpool(fs.crash(), new ManualClock());
    expect(again.takeGaps()).toEqual([{ fromSeq: 3, toSeq: 3, records: 1, reason: 'corrupt' }]);
    expect(seqs(again.next(10))).toEqual([1, 2]);
  });

  it('a damaged segment header costs nothing; a lost state file is rebuilt from the segment headers', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      segmentBytes: 300,
      groupCommitRecords: 3,
    });
    await fill(spool, Array<Lane>(6).fill('telemetry'), 60);
    const [first, second] = segments(fs);
    fs.corrupt(`${DIR}/${first}`, 20); // header of the first segment
    fs.corrupt(`${DIR}/state`, 14); // and the state file
    const again = await openSpool(fs.crash(), new ManualClock());
    expect(again.streamId).toBe(spool.streamId); // from the second segment's header
    expect(again.takeGaps()).toEqual([]);
    expect(seqs(again.next(10))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second).toBeDefined();
  });

  it('leaves a segment of another stream alone', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), { streamId: 'mine' });
    await fill(spool, ['alarm']);
    await spool.close();
    const f = await fs.open(`${DIR}/0000000099.seg`, 'create');
    const header = encodeSegmentHeader({ stream: 'someone-else', segment: 99, firstSeq: 2 });
    const rec = encodeRecord({
      seq: 2,
      lane: 'alarm',
      type: 'alarm',
      body: makeBody(2, 10),
      samples: 0,
      acceptedAtMs: 1,
    });
    await f.write(new Uint8Array([...header, ...rec]), 0);
    await f.sync();
    await fs.syncDir(DIR);
    const again = await openSpool(fs, new ManualClock());
    expect(again.streamId).toBe('mine');
    expect(again.stats().foreignSegments).toBe(1);
    expect(seqs(again.next(10))).toEqual([1]);
    again.ack(1);
    await again.settle();
    expect(segments(fs)).toContain('0000000099.seg');
    const [r] = await fill(again, ['alarm']);
    expect(r!.seq).toBe(2); // its seqs are not ours
  });
});

describe('FileSpool: quota and gaps', () => {
  const small = { maxBytes: 1200, segmentBytes: 400, groupCommitRecords: 1 };

  it('evicts the oldest telemetry (then bulk), never alarms, and reports exact gaps once durable', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, small);
    // Each record is ~100-byte body + ~90 bytes of framing and keys.
    const lanes: Lane[] = ['telemetry', 'telemetry', 'alarm', 'telemetry', 'bulk', 'alarm'];
    await fillOneByOne(spool, lanes, 100);
    expect(spool.stats().evicted).toBe(0);
    await fillOneByOne(spool, ['telemetry', 'telemetry', 'telemetry'], 100, 10);
    const st = spool.stats();
    expect(st.evicted).toBe(3);
    expect(st.liveBytes).toBeLessThanOrEqual(1200);
    expect(spool.next(100).map((r) => r.lane)).not.toContain(undefined);
    expect(seqs(spool.next(100))).toEqual([3, 6, 7, 8, 9, 5].filter((s) => ![1, 2, 4].includes(s)));
    expect(spool.takeGaps()).toEqual([]); // not durable yet
    await spool.settle();
    // 1 and 2 are adjacent; 4 is separated from them by the live alarm 3: two gaps, never one over 3.
    expect(spool.takeGaps()).toEqual([
      { fromSeq: 1, toSeq: 2, records: 2, reason: 'quota' },
      { fromSeq: 4, toSeq: 4, records: 1, reason: 'quota' },
    ]);
    expect(spool.takeGaps()).toEqual([]); // handed out once per process
    await spool.settle();
    const fs2 = fs.crash();
    const again = await openSpool(fs2, new ManualClock(), small);
    expect(seqs(again.next(100))).toEqual([3, 6, 7, 8, 9, 5]);
    // Not acked past yet: reported again after a restart (at least once).
    expect(again.takeGaps().map((g) => [g.fromSeq, g.toSeq])).toEqual([
      [1, 2],
      [4, 4],
    ]);
    again.ack(4); // the hub got the gaps and alarm 3
    await again.settle();
    const third = await openSpool(fs2.crash(), new ManualClock(), small);
    expect(third.takeGaps()).toEqual([]);
  });

  it('refuses a non-alarm with SPOOL_QUOTA when only alarms are left, and takes alarms up to 1.1 × maxBytes', async () => {
    const spool = await openSpool(new MemorySpoolFs(), new ManualClock(), small);
    await fillOneByOne(spool, Array<Lane>(6).fill('alarm'), 100);
    const e = await rejection(
      spool.append({ lane: 'telemetry', type: 'telemetry', body: makeBody(50, 100) }),
    );
    expect(e.code).toBe('SPOOL_QUOTA');
    let accepted = 6;
    for (;;) {
      const r = await spool
        .append({ lane: 'alarm', type: 'alarm', body: makeBody(60 + accepted, 20) })
        .then(
          () => true,
          (err: unknown) => {
            expect((err as SpoolError).code).toBe('SPOOL_QUOTA');
            return false;
          },
        );
      if (!r) break;
      accepted++;
    }
    expect(spool.stats().liveBytes).toBeGreaterThan(1200);
    expect(spool.stats().liveBytes).toBeLessThanOrEqual(1320);
    expect(spool.stats().evicted).toBe(0);
  });

  it('re-reports gaps not yet taken after a crash, and drops a gap the hub acked past', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), small);
    await fillOneByOne(spool, Array<Lane>(9).fill('telemetry'), 100);
    await spool.settle();
    expect(spool.stats().pendingGaps).toBe(1);
    const again = await openSpool(fs.crash(), new ManualClock(), small);
    expect(again.stats().pendingGaps).toBe(1);
    again.ack(2); // the hub had seqs 1-2 after all (sent before they were evicted)
    expect(again.takeGaps()).toEqual([{ fromSeq: 3, toSeq: 3, records: 1, reason: 'quota' }]);
  });

  it('compacts a segment whose records were mostly evicted, keeping its alarms readable', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      maxBytes: 2400,
      segmentBytes: 900,
      groupCommitRecords: 1,
    });
    await fillOneByOne(spool, ['telemetry', 'alarm', 'telemetry', 'telemetry'], 150);
    const [seg] = segments(fs);
    const sizeBefore = fs.contents(`${DIR}/${seg}`)!.length;
    await fillOneByOne(spool, Array<Lane>(12).fill('telemetry'), 150, 10); // evicts the first segment's telemetry
    await spool.settle();
    const sizeAfter = fs.contents(`${DIR}/${seg}`)?.length ?? 0;
    expect(sizeAfter).toBeGreaterThan(0);
    expect(sizeAfter).toBeLessThan(sizeBefore / 2);
    const again = await openSpool(fs.crash(), new ManualClock(), { maxBytes: 2400 });
    const alarms = again.next(100).filter((r) => r.lane === 'alarm');
    expect(alarms.map((r) => [r.seq, bodyId(r.body)])).toEqual([[2, 2]]);
  });

  it('does not rewrite the segment holding the ack point: acks, not compaction, empty it', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      segmentBytes: 2000,
      groupCommitRecords: 1,
    });
    await fillOneByOne(spool, Array<Lane>(24).fill('telemetry'), 150); // ~10 per segment
    const [first] = segments(fs);
    const before = fs.contents(`${DIR}/${first}`)!.length;
    spool.ack(8); // most of the first (sealed) segment: dead bytes far above compactDeadRatio
    await spool.settle();
    await spool.settle(); // the removal is durable now: a rewrite would have been done
    expect(fs.contents(`${DIR}/${first}`)!.length).toBe(before);
    spool.ack(24);
    await spool.settle();
    expect(fs.contents(`${DIR}/${first}`)).toBeUndefined(); // deleted once all acked
  });
});

describe('FileSpool: bodies beyond memoryBytes', () => {
  it('reads bodies back from disk in order, calling onReadable, and never reorders lanes', async () => {
    const fs = new MemorySpoolFs();
    let readable = 0;
    const opts = {
      memoryBytes: 500,
      segmentBytes: 600,
      groupCommitRecords: 8,
      onReadable: () => readable++,
    };
    const spool = await openSpool(fs, new ManualClock(), opts);
    const lanes: Lane[] = Array.from({ length: 40 }, (_, i) =>
      i % 5 === 4 ? 'alarm' : i % 3 === 0 ? 'bulk' : 'telemetry',
    );
    await fill(spool, lanes, 100);
    expect(spool.stats().memoryBytes).toBeLessThanOrEqual(500);
    const again = await openSpool(fs.crash(), new ManualClock(), opts);
    expect(again.stats().memoryBytes).toBeLessThanOrEqual(500);
    // Like the tunnel: take what is ready, skip what is in flight, come back when told.
    const sent = new Set<number>();
    const order: QueuedRecord[] = [];
    for (let round = 0; round < 100 && order.length < lanes.length; round++) {
      const batch = again.next(7, (s) => sent.has(s));
      for (const r of batch) sent.add(r.seq);
      order.push(...batch);
      expect(again.stats().memoryBytes).toBeLessThanOrEqual(500 + 64 * 100);
      if (batch.length === 0) await again.settle();
    }
    const rank = (l: Lane): number => ['alarm', 'telemetry', 'bulk'].indexOf(l);
    const expected = [...order].sort((x, y) => rank(x.lane) - rank(y.lane) || x.seq - y.seq);
    expect(seqs(order)).toEqual(seqs(expected)); // priority order held across every batch
    expect(order.map((r) => bodyId(r.body))).toEqual(order.map((r) => r.seq));
    expect(order.length).toBe(lanes.length);
    expect(again.stats().bodiesRead).toBeGreaterThan(0);
    expect(readable).toBeGreaterThan(0);
  });

  it('detects a record damaged at rest when reading it back, and reports it', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      memoryBytes: 150,
      segmentBytes: 10_000,
      groupCommitRecords: 1,
    });
    await fill(spool, ['telemetry', 'telemetry', 'telemetry'], 100);
    const seg = `${DIR}/${segments(fs)[0]}`;
    const third = scanSegment(fs.contents(seg)!).find(
      (i) => i.kind === 'record' && i.record.seq === 3,
    )!;
    fs.corrupt(seg, third.offset + 50);
    const got = await drain(spool);
    expect(seqs(got)).toEqual([1, 2]);
    await spool.settle();
    expect(spool.takeGaps()).toEqual([{ fromSeq: 3, toSeq: 3, records: 1, reason: 'corrupt' }]);
  });
});

describe('FileSpool alarm fast path', () => {
  it('commits an alarm without waiting for the group timer, with what was appended alongside', async () => {
    const fs = new MemorySpoolFs();
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { groupCommitRecords: 64, groupCommitMs: 1000 });
    const base = fs.count('sync');
    const telemetry = spool.append({ lane: 'telemetry', type: 'telemetry', body: makeBody(1, 40) });
    const alarm = spool.append({ lane: 'alarm', type: 'alarm', body: makeBody(2, 40) });
    // The clock never moves: only the alarm can have started the group.
    await expect(alarm).resolves.toMatchObject({ seq: 2, lane: 'alarm' });
    await expect(telemetry).resolves.toMatchObject({ seq: 1 });
    expect(fs.count('sync') - base).toBe(1);
    // Telemetry alone still waits for the timer.
    let done = false;
    void spool
      .append({ lane: 'telemetry', type: 'telemetry', body: makeBody(3, 40) })
      .then(() => (done = true));
    for (let i = 0; i < 20; i++) await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1000);
    await spool.flush();
    expect(done).toBe(true);
    await spool.close();
  });
});
