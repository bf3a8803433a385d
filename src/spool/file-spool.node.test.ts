/** FileSpool on the real file system (node:fs, a temp directory). */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSpool } from './file-spool.js';
import type { FileSpoolOptions } from './file-spool-options.js';
import type { Lane, QueuedRecord } from './queue.js';
import { bodyId, makeBody, typeOf } from './spool-test-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-spool-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (o: Partial<FileSpoolOptions> = {}): Promise<FileSpool> =>
  FileSpool.open({ dir: join(dir, 'spool'), groupCommitMs: 2, persistDelayMs: 2, ...o });

const segs = async (): Promise<string[]> =>
  (await readdir(join(dir, 'spool'))).filter((n) => n.endsWith('.seg')).sort();

describe('FileSpool on node:fs', () => {
  it('creates the directory, appends, survives close and reopen, acks and deletes segments', async () => {
    const spool = await open({ segmentBytes: 2048, groupCommitRecords: 8 });
    const lanes: Lane[] = Array.from({ length: 60 }, (_, i) =>
      i % 10 === 0 ? 'alarm' : 'telemetry',
    );
    // In waves of ten (a single burst would be written as two groups, filling one segment).
    const recs: QueuedRecord[] = [];
    for (let w = 0; w < lanes.length; w += 10) {
      const wave = lanes.slice(w, w + 10);
      recs.push(
        ...(await Promise.all(
          wave.map((lane, i) =>
            spool.append({ lane, type: typeOf(lane), body: makeBody(w + i + 1, 100) }),
          ),
        )),
      );
    }
    expect(recs.map((r) => r.seq)).toEqual(lanes.map((_, i) => i + 1));
    const before = await segs();
    expect(before.length).toBeGreaterThan(2);
    expect((await stat(join(dir, 'spool', before[0]!))).mode & 0o077).toBe(0);
    await spool.close();

    const again = await open({ segmentBytes: 2048 });
    expect(again.streamId).toBe(spool.streamId);
    const all = again.next(1000);
    expect(all.slice(0, 6).map((r) => r.lane)).toEqual(Array(6).fill('alarm'));
    expect(all.map((r) => bodyId(r.body)).sort((a, b) => a! - b!)).toEqual(
      lanes.map((_, i) => i + 1),
    );
    again.ack(40);
    await again.settle();
    const after = await segs();
    expect(after.length).toBeLessThan(before.length);
    await again.close();

    const third = await open();
    expect(third.next(1000).map((r) => r.seq)).toEqual([
      41, 51, 42, 43, 44, 45, 46, 47, 48, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 60,
    ]);
    third.ack(60);
    await third.settle();
    await third.close();
    expect(await segs()).toEqual([]);
  });

  it('recovers from a torn tail and ignores leftover temp files', async () => {
    const spool = await open({ segmentBytes: 1 << 20 });
    await Promise.all(
      [1, 2, 3].map((i) =>
        spool.append({ lane: 'telemetry', type: 'telemetry', body: makeBody(i, 50) }),
      ),
    );
    await spool.close();
    const [seg] = await segs();
    const path = join(dir, 'spool', seg!);
    const { appendFile } = await import('node:fs/promises');
    await appendFile(path, Uint8Array.of(0x4f, 0x50, 0x53, 0x52, 0xff, 0, 0, 0, 1, 2)); // a torn frame
    await writeFile(join(dir, 'spool', 'state.tmp'), 'half-written');
    const again = await open();
    expect(again.next(10).map((r) => bodyId(r.body))).toEqual([1, 2, 3]);
    expect(again.stats().quarantined).toBe(0);
    expect((await readdir(join(dir, 'spool'))).includes('state.tmp')).toBe(false);
    const r = await again.append({ lane: 'alarm', type: 'alarm', body: makeBody(4, 10) });
    expect(r.seq).toBe(4);
    await again.close();
  });

  it('fails to open with SPOOL_OPEN_FAILED when the directory cannot be made', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await expect(FileSpool.open({ dir: join(dir, 'file', 'spool') })).rejects.toMatchObject({
      code: 'SPOOL_OPEN_FAILED',
    });
  });
});
