/**
 * Crash safety at the byte level: a power cut tears the group being written at every byte
 * offset, the machine restarts, and the spool must hold every record whose append resolved,
 * exactly once, and nothing else but intact records of the torn group ("accepted means
 * resolved": an unresolved record may survive, but only whole).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpoolError } from './errors.js';
import type { FileSpool } from './file-spool.js';
import { MemorySpoolFs, type SpoolFsCall, type SpoolFsFault } from './memory-spool-fs.js';
import type { QueuedRecord } from './queue.js';
import { ManualClock, bodyId, drain, makeBody, openSpool } from './spool-test-fixtures.js';

type Keep = 'all' | 'none' | 'garbage';
interface Scenario {
  /** The torn group starts a new segment (its write carries the segment header). */
  fresh: boolean;
  /** 'write': the write itself is torn at k. 'sync': the write completes, the power goes during fsync and k unsynced bytes survive. */
  at: 'write' | 'sync';
  keep: Keep;
}

const GROUP = 5;

async function appendGroup(
  spool: FileSpool,
  firstId: number,
): Promise<Array<PromiseSettledResult<QueuedRecord>>> {
  const ps = Array.from({ length: GROUP }, (_, i) =>
    spool.append({
      lane: i === 2 ? 'alarm' : 'telemetry',
      type: i === 2 ? 'alarm' : 'telemetry',
      body: makeBody(firstId + i, 20 + 13 * i),
    }),
  );
  await spool.flush();
  return Promise.allSettled(ps);
}

const options = (s: Scenario) => ({
  streamId: 'torn0000torn0000',
  groupCommitRecords: GROUP,
  groupCommitMs: 1_000,
  segmentBytes: s.fresh ? 1 : 1 << 20,
});

/** Length of the torn group's write, measured on an identical machine. */
async function groupWriteLength(s: Scenario): Promise<number> {
  let length = 0;
  const fs = new MemorySpoolFs();
  const spool = await openSpool(fs, new ManualClock(), options(s));
  await appendGroup(spool, 1);
  fs.setFault((c) => {
    if (c.op === 'write' && c.path.endsWith('.seg')) length = c.length ?? 0;
    return undefined;
  });
  await appendGroup(spool, 100);
  return length;
}

async function tornAt(s: Scenario, k: number): Promise<void> {
  const fs = new MemorySpoolFs();
  const spool = await openSpool(fs, new ManualClock(), options(s));
  const first = await appendGroup(spool, 1);
  expect(first.every((r) => r.status === 'fulfilled')).toBe(true);
  let armed = true;
  fs.setFault((c: SpoolFsCall): SpoolFsFault | undefined => {
    if (!armed || !c.path.endsWith('.seg')) return undefined;
    if (s.at === 'write' && c.op === 'write') {
      armed = false;
      return { crash: true, tear: k };
    }
    if (s.at === 'sync' && c.op === 'sync') {
      armed = false;
      return { crash: true };
    }
    return undefined;
  });
  const torn = await appendGroup(spool, 100);
  expect(fs.dead).toBe(true);
  for (const r of torn) {
    expect(r.status).toBe('rejected');
    if (r.status === 'rejected') expect((r.reason as SpoolError).code).toBe('SPOOL_WRITE_FAILED');
  }
  const after = fs.reboot({
    keepUnsynced: s.keep === 'none' ? undefined : (_, n) => (s.at === 'sync' ? Math.min(k, n) : n),
    garbage: s.keep === 'garbage' ? 0 : undefined,
  });
  const reopened = await openSpool(after, new ManualClock(), options(s));
  const got = await drain(reopened);
  const ids = got.map((r) => bodyId(r.body));
  // Every accepted record, exactly once, under the seq it was accepted with.
  const accepted = first.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  for (const a of accepted)
    expect(got.filter((r) => r.seq === a!.seq).map((r) => bodyId(r.body))).toEqual([
      bodyId(a!.body),
    ]);
  // Anything else is an intact record of the torn group, a prefix of it, seqs continuing.
  const extra = got
    .filter((r) => !accepted.some((a) => a!.seq === r.seq))
    .sort((a, b) => a.seq - b.seq);
  expect(ids.every((id) => id !== undefined)).toBe(true);
  extra.forEach((r, i) => {
    expect(bodyId(r.body)).toBe(100 + i);
    expect(r.seq).toBe(GROUP + 1 + i);
  });
  // And the reopened spool keeps going from the right seq.
  const next = await appendGroup(reopened, 200);
  expect(next.map((r) => (r.status === 'fulfilled' ? r.value.seq : 0))).toEqual(
    Array.from({ length: GROUP }, (_, i) => GROUP + extra.length + 1 + i),
  );
}

describe('FileSpool crash safety: a power cut tears the group at every byte offset', () => {
  for (const fresh of [false, true]) {
    it(`write torn at every offset, unsynced bytes kept (${fresh ? 'new segment' : 'same segment'})`, async () => {
      const s: Scenario = { fresh, at: 'write', keep: 'all' };
      const len = await groupWriteLength(s);
      expect(len).toBeGreaterThan(200);
      for (let k = 0; k <= len; k++) await tornAt(s, k);
    });
  }

  it('property: any tear point, any survival of the unsynced tail', async () => {
    const scenario = fc.record({
      fresh: fc.boolean(),
      at: fc.constantFrom('write' as const, 'sync' as const),
      keep: fc.constantFrom<Keep>('all', 'none', 'garbage'),
    });
    await fc.assert(
      fc.asyncProperty(scenario, fc.double({ min: 0, max: 1, noNaN: true }), async (s, frac) => {
        const len = await groupWriteLength(s);
        await tornAt(s, Math.round(frac * len));
      }),
      { numRuns: 300 },
    );
  });
});

describe('FileSpool: a failed fsync', () => {
  it('rejects the whole group, never hands it out, and the next group goes to a fresh segment', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), { groupCommitRecords: GROUP });
    await appendGroup(spool, 1);
    fs.setFault((c) => (c.op === 'sync' && c.path.endsWith('.seg') ? { error: 'EIO' } : undefined));
    const failed = await appendGroup(spool, 100);
    for (const r of failed) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') {
        expect(r.reason).toBeInstanceOf(SpoolError);
        expect((r.reason as SpoolError).code).toBe('SPOOL_WRITE_FAILED');
        expect(((r.reason as SpoolError).cause as { code: string }).code).toBe('EIO');
      }
    }
    expect(spool.next(100).map((r) => bodyId(r.body))).toEqual([3, 1, 2, 4, 5]);
    expect(spool.stats()).toMatchObject({ writeFailures: 1, lastSeq: GROUP, pendingAppends: 0 });
    const segsBefore = fs.list('/spool').filter((n) => n.endsWith('.seg'));
    fs.setFault(undefined);
    const ok = await appendGroup(spool, 200);
    expect(ok.map((r) => (r.status === 'fulfilled' ? r.value.seq : 0))).toEqual([6, 7, 8, 9, 10]);
    const segsAfter = fs.list('/spool').filter((n) => n.endsWith('.seg'));
    expect(segsAfter.length).toBe(segsBefore.length + 1);
    // The failed group was cut away durably: after a power cut keeping everything, it is gone.
    const got = await drain(
      await openSpool(fs.crash({ keepUnsynced: (_, n) => n }), new ManualClock()),
    );
    expect(got.map((r) => bodyId(r.body)).sort((a, b) => a! - b!)).toEqual([
      1, 2, 3, 4, 5, 200, 201, 202, 203, 204,
    ]);
  });

  it('a group gathered (and encoded ahead) while a failing group was written gets the seqs the failed one did not use', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), {
      groupCommitRecords: GROUP,
      segmentBytes: 1 << 20,
    });
    await appendGroup(spool, 1);
    let armed = true;
    fs.setFault((c) => {
      if (armed && c.op === 'sync' && c.path.endsWith('.seg')) {
        armed = false;
        return { error: 'EIO' };
      }
      return undefined;
    });
    const body = (id: number): Uint8Array => makeBody(id, 30);
    // A full group starts at once; the next five arrive while it is written.
    const failing = Array.from({ length: GROUP }, (_, i) =>
      spool.append({ lane: 'telemetry', type: 'telemetry', body: body(100 + i) }),
    );
    const gathered = Array.from({ length: GROUP }, (_, i) =>
      spool.append({ lane: 'alarm', type: 'alarm', body: body(200 + i) }),
    );
    const [f, g] = await Promise.all([Promise.allSettled(failing), Promise.allSettled(gathered)]);
    expect(f.every((r) => r.status === 'rejected')).toBe(true);
    expect(
      g.map((r) => (r.status === 'fulfilled' ? [r.value.seq, bodyId(r.value.body)] : r)),
    ).toEqual(Array.from({ length: GROUP }, (_, i) => [GROUP + 1 + i, 200 + i]));
    // On disk too, under those seqs, after a power cut keeping everything.
    const got = await drain(
      await openSpool(fs.crash({ keepUnsynced: (_, n) => n }), new ManualClock()),
    );
    expect(got.map((r) => [r.seq, bodyId(r.body)]).sort((a, b) => a[0]! - b[0]!)).toEqual([
      ...Array.from({ length: GROUP }, (_, i) => [i + 1, 1 + i]),
      ...Array.from({ length: GROUP }, (_, i) => [GROUP + 1 + i, 200 + i]),
    ]);
  });

  it('holds back later groups until the failed segment is cut back; a crash before then may keep the failed records, whole', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), { groupCommitRecords: GROUP });
    await appendGroup(spool, 1);
    fs.setFault((c) => (c.op === 'sync' || c.op === 'truncate' ? { error: 'EIO' } : undefined));
    await appendGroup(spool, 100);
    const held = await appendGroup(spool, 300);
    expect(held.every((r) => r.status === 'rejected')).toBe(true);
    expect(spool.stats().lastSeq).toBe(GROUP);
    // Power cut now: the failed group's bytes were written (not synced) and may survive.
    const after = fs.crash({ keepUnsynced: (_, n) => n });
    const got = await drain(await openSpool(after, new ManualClock()));
    const ids = got.map((r) => bodyId(r.body)).sort((a, b) => a! - b!);
    expect(ids.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(ids.slice(5).every((id) => id! >= 100 && id! < 105)).toBe(true);
  });

  it('reports a full disk as SPOOL_DISK_FULL and recovers when space returns', async () => {
    const fs = new MemorySpoolFs();
    const spool = await openSpool(fs, new ManualClock(), { groupCommitRecords: GROUP });
    await appendGroup(spool, 1);
    fs.setCapacity(fs.usedBytes() + 50); // part of the next group fits, then ENOSPC
    const full = await appendGroup(spool, 100);
    expect(
      full.map((r) => (r.status === 'rejected' ? (r.reason as SpoolError).code : 'ok')),
    ).toEqual(Array(GROUP).fill('SPOOL_DISK_FULL'));
    fs.setCapacity(undefined);
    const ok = await appendGroup(spool, 200);
    expect(ok.every((r) => r.status === 'fulfilled')).toBe(true);
    expect((await drain(spool)).map((r) => r.seq).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });
});
