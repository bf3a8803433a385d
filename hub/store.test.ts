import { describe, expect, it } from 'vitest';
import { encodeFrame, decodeFrame, type Body } from '../src/codec/index.js';
import { HubStore, PAGE_SIZE } from './store.js';

function item(seq: number, body: Body) {
  const bytes = encodeFrame({ deviceId: 'D1', seq, sentAtMs: 1 }, body);
  return {
    deviceId: 'D1',
    streamId: 'S1',
    frame: decodeFrame(bytes),
    bytes: bytes.length,
    receivedAtMs: 2,
  };
}

describe('HubStore gaps', () => {
  it('stores a gap once per range, counting only the records of it the hub really lacks', () => {
    const store = new HubStore();
    store.openStream('D1', 'S1', 'test', 1);
    const alarm: Body = { type: 'alarm', alarm: { code: 2002, state: 1 } };
    const gap: Body = { type: 'gap', gap: { fromSeq: 4, toSeq: 6, records: 3, reason: 1 } };
    // seq 5 was in flight when the agent evicted it, and arrived before the gap did.
    const results = store.storeBatch(
      [item(5, alarm), item(0, gap), item(0, gap)],
      [{ deviceId: 'D1', streamId: 'S1', acked: 0 }],
    );
    expect(results.map((r) => r.outcome)).toEqual(['stored', 'stored', 'duplicate']);
    expect(store.gaps('D1')).toMatchObject([
      { streamId: 'S1', fromSeq: 4, toSeq: 6, records: 2, reason: 'quota' },
    ]);
    // After a restart the range counts as received above the ack.
    const pos = store.openStream('D1', 'S1', 'test', 3);
    expect([4, 5, 6].map((s) => pos.above.has(s))).toEqual([true, true, true]);
    expect(pos.above.has(7)).toBe(false);
    store.close();
  });
});

describe('HubStore batches', () => {
  const alarm = (code: number): Body => ({
    type: 'alarm',
    alarm: { code, state: 1, severity: 2, subsystem: 'gen', text: `t${code}`, observedAtMs: code },
  });

  it('stores a large batch of alarms once each, in order, with every field', () => {
    const store = new HubStore();
    store.openStream('D1', 'S1', 'test', 1);
    const items = Array.from({ length: 77 }, (_, i) => item(i + 1, alarm(1000 + i)));
    const results = store.storeBatch(items, [{ deviceId: 'D1', streamId: 'S1', acked: 77 }]);
    expect(results.every((r) => r.outcome === 'stored')).toBe(true);
    const stored = store.alarms('D1');
    expect(stored.map((a) => a.seq)).toEqual(items.map((_, i) => i + 1));
    expect(stored[40]).toMatchObject({
      code: 1040,
      state: 'raised',
      severity: 2,
      subsystem: 'gen',
      text: 't1040',
      observedAtMs: 1040,
      storedAtMs: 2,
    });
    expect(store.counts('D1')).toMatchObject({ frames: 77, alarms: 77 });
    store.close();
  });

  it('reports each already stored seq in a batch as a duplicate and stores the rest once', () => {
    const store = new HubStore();
    store.openStream('D1', 'S1', 'test', 1);
    store.storeBatch([item(5, alarm(5)), item(20, alarm(20))], []);
    // 40 frames (one multi-row chunk and more) holding seq 5 and 20 again, and seq 30 twice.
    const seqs = Array.from({ length: 40 }, (_, i) => i + 1);
    seqs.push(30);
    const telemetry: Body = {
      type: 'telemetry',
      telemetry: {
        baseTimeMs: 1000,
        counters: [{ name: 'kv', scale: 1 }],
        samples: [{ offsetMs: 0, raw: [7] }],
      },
    };
    const results = store.storeBatch(
      seqs.map((s) => item(s, s % 3 === 0 ? telemetry : alarm(s))),
      [{ deviceId: 'D1', streamId: 'S1', acked: 40 }],
    );
    const dup = results.flatMap((r, i) => (r.outcome === 'duplicate' ? [seqs[i]] : []));
    expect(dup).toEqual([5, 20, 30]);
    expect(results[2]).toEqual({ outcome: 'stored', samples: 1 });
    const alarms = store.alarms('D1').map((a) => a.seq);
    expect(alarms).toHaveLength(new Set(alarms).size);
    expect(store.counts('D1')).toMatchObject({ frames: 40, alarms: 27, samples: 13 });
    store.close();
  });
});

describe('HubStore file', () => {
  it('creates a new database with 16 KiB pages, so 2 KB alarm rows share a page', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { default: Database } = await import('better-sqlite3');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-hub-store-'));
    try {
      const path = join(dir, 'hub.db');
      new HubStore(path).close();
      const db = new Database(path, { readonly: true });
      expect(db.pragma('page_size', { simple: true })).toBe(PAGE_SIZE);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
      // A data batch committed without its fsync is there, and syncData() makes it durable.
      const store = new HubStore(path);
      expect(store.defersSync).toBe(true);
      store.openStream('D1', 'S1', 'test', 1);
      store.storeBatch([item(1, { type: 'alarm', alarm: { code: 7 } })], [], { deferSync: true });
      await store.syncData();
      store.close();
      const again = new HubStore(path);
      expect(again.alarms('D1').map((a) => a.code)).toEqual([7]);
      again.close();
      expect(new HubStore().defersSync).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a device reconnecting while a batch awaits its fsync is told only what is durable', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-hub-reopen-'));
    try {
      const store = new HubStore(join(dir, 'hub.db'));
      store.openStream('D1', 'S1', 'test', 1);
      const syncs = store.walSyncs;
      // Committed, its thread-pool fsync not started yet: the ack it carries is not durable.
      store.storeBatch(
        [item(1, { type: 'alarm', alarm: { code: 7 } })],
        [{ deviceId: 'D1', streamId: 'S1', acked: 1 }],
        { deferSync: true },
      );
      expect(store.walSyncs).toBe(syncs);
      // The reconnecting session reads acked = 1, which it will tell the device: fsync first.
      expect(store.openStream('D1', 'S1', 'test', 2).acked).toBe(1);
      expect(store.walSyncs).toBe(syncs + 1);
      store.openStream('D1', 'S1', 'test', 3);
      expect(store.walSyncs).toBe(syncs + 1); // nothing new to make durable
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HubStore checkpoints (file database)', () => {
  const text = 'x'.repeat(2000);
  /** `batches` batches of 64 2 KB alarms, each committed and fsynced as the commit queue does. */
  async function fill(store: HubStore, from: number, batches: number): Promise<number> {
    let seq = from;
    for (let b = 0; b < batches; b++) {
      const items = Array.from({ length: 64 }, () =>
        item(++seq, { type: 'alarm', alarm: { code: 1, state: 1, text } }),
      );
      store.storeBatch(items, [{ deviceId: 'D1', streamId: 'S1', acked: seq }], {
        deferSync: true,
      });
      await store.syncData();
      // A turn of the event loop between batches, as between the queue's commits.
      await new Promise((r) => setImmediate(r));
    }
    return seq;
  }

  async function withDir(fn: (path: string) => Promise<void>): Promise<void> {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-hub-ckpt-'));
    try {
      await fn(join(dir, 'hub.db'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function until(cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  }

  it('checkpoints on a worker thread, not in the commits, and keeps the WAL bounded', async () => {
    const { statSync } = await import('node:fs');
    const { default: Database } = await import('better-sqlite3');
    await withDir(async (path) => {
      // 1 MiB between checkpoints; past 100 frames (1.6 MiB of WAL) the WAL must restart.
      const store = new HubStore(path, { checkpoint: { everyBytes: 1 << 20, restartFrames: 100 } });
      store.openStream('D1', 'S1', 'test', 1);
      // SQLite's autocheckpoint is off: a commit never checkpoints on the event loop.
      expect(store.autocheckpoint).toBe(0);
      let seq = 0;
      let maxWal = 0;
      // 100 batches of 64 x 2 KB: about 14 MB, 9 times the WAL bound.
      for (let round = 0; round < 10; round++) {
        seq = await fill(store, seq, 10);
        maxWal = Math.max(maxWal, statSync(`${path}-wal`).size);
      }
      await until(() => store.checkpoints.worker >= 5);
      const { worker, offLoop } = store.checkpoints;
      expect(offLoop).toBe(true);
      expect(worker).toBeGreaterThanOrEqual(5);
      // Without a restart the WAL would hold all 14 MB (it is never truncated while open).
      expect(maxWal).toBeLessThan(8 << 20);
      expect(store.counts('D1')).toMatchObject({ frames: seq, alarms: seq });
      store.close();
      // Everything is there after a reopen, and in the database file once closed.
      const db = new Database(path, { readonly: true });
      expect(db.prepare('SELECT count(*) AS n FROM alarms').get()).toEqual({ n: seq });
      db.close();
    });
  });

  it('closes its worker before its own connection: a database put back at the same path right after keeps its WAL', async () => {
    // Found by bench/alarm-latency-backlog, which puts a pristine hub database back between
    // rounds. When the worker's connection closed after the store's, it was SQLite's last one and
    // deleted "<path>-wal" and "-shm" by name, by then the next database's: ENOENT at the next
    // open, or commits going to an unlinked WAL.
    const { copyFileSync, existsSync, rmSync } = await import('node:fs');
    const { default: Database } = await import('better-sqlite3');
    await withDir(async (path) => {
      new HubStore(path).close();
      const pristine = `${path}.pristine`;
      copyFileSync(path, pristine);
      for (let round = 0; round < 8; round++) {
        const store = new HubStore(path, { checkpoint: { everyBytes: 1 << 18 } });
        store.openStream('D1', 'S1', 'test', 1);
        await fill(store, 0, 4);
        await until(() => store.checkpoints.worker >= 1);
        store.close();
        for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
        copyFileSync(pristine, path);
        const next = new HubStore(path, { checkpoint: { worker: false } });
        next.openStream('D1', 'S1', 'test', 1);
        const seq = await fill(next, 0, 2);
        await new Promise((r) => setTimeout(r, 30));
        expect(existsSync(`${path}-wal`), `round ${round}`).toBe(true);
        next.close();
        const db = new Database(path, { readonly: true });
        expect(db.prepare('SELECT count(*) AS n FROM alarms').get()).toEqual({ n: seq });
        db.close();
      }
    });
  });

  it('holds data commits while the worker finishes a checkpoint, and the WAL restarts with none on the event loop', async () => {
    const { statSync } = await import('node:fs');
    await withDir(async (path) => {
      const store = new HubStore(path, { checkpoint: { everyBytes: 1 << 20, restartFrames: 100 } });
      store.openStream('D1', 'S1', 'test', 1);
      let seq = 0;
      let maxWal = 0;
      let waited = 0;
      // About 14 MB again, but each batch waits for a hold first, as the commit queue does.
      for (let b = 0; b < 100; b++) {
        const held = store.commitsHeld;
        if (held) {
          waited++;
          await held;
          expect(store.commitsHeld).toBeUndefined();
        }
        seq = await fill(store, seq, 1);
        maxWal = Math.max(maxWal, statSync(`${path}-wal`).size);
      }
      const c = store.checkpoints;
      expect(c.holds).toBeGreaterThanOrEqual(1);
      expect(waited).toBeGreaterThanOrEqual(1);
      expect(c.holdTimeouts).toBe(0);
      // Nothing landed during a hold, so the worker's checkpoint reached the end of the WAL
      // every time: the event loop never had to copy a page.
      expect(c.loop).toBe(0);
      expect(maxWal).toBeLessThan(8 << 20);
      expect(store.counts('D1')).toMatchObject({ frames: seq, alarms: seq });
      store.close();
    });
  });

  /** Batches as the commit queue makes them: each one waits for a hold to end first. */
  async function fillHeld(store: HubStore, from: number, batches: number): Promise<number> {
    let seq = from;
    for (let b = 0; b < batches; b++) {
      const held = store.commitsHeld;
      if (held) await held;
      seq = await fill(store, seq, 1);
    }
    return seq;
  }

  /**
   * A store on `path` with 1 MiB between worker checkpoints and a 100-frame WAL bound (plus
   * `checkpoint`), filled until it holds commits; the hold, and the last seq written.
   */
  async function untilHeld(
    path: string,
    checkpoint: { holdMs?: number; workerDelayMs?: number },
  ): Promise<{ store: HubStore; held: Promise<void>; seq: number }> {
    const store = new HubStore(path, {
      checkpoint: { everyBytes: 1 << 20, restartFrames: 100, ...checkpoint },
    });
    store.openStream('D1', 'S1', 'test', 1);
    let seq = 0;
    const end = Date.now() + 20_000;
    while (!store.commitsHeld && Date.now() < end) seq = await fill(store, seq, 1);
    const held = store.commitsHeld;
    expect(held).toBeDefined();
    return { store, held: held!, seq };
  }

  it('ends a hold after holdMs when the worker is slow, then checkpoints on the event loop so the WAL restarts', async () => {
    const { readFileSync } = await import('node:fs');
    await withDir(async (path) => {
      // The worker takes 400 ms per checkpoint (a slow disk); a hold lasts at most 30 ms.
      const {
        store,
        held,
        seq: filled,
      } = await untilHeld(path, { holdMs: 30, workerDelayMs: 400 });
      let seq = filled;
      const before = store.checkpoints;
      await held;
      // It ended on its time limit, while the worker was still in its checkpoint.
      expect(store.checkpoints.holdTimeouts).toBe(before.holdTimeouts + 1);
      expect(store.checkpoints.worker).toBe(before.worker);
      expect(store.commitsHeld).toBeUndefined();
      // Writing on: after a hold that ran out the event loop checkpoints instead of holding
      // again (for HOLD_BACKOFF_MS), and the WAL starts over. A WAL that restarts gets a new
      // salt in its header (bytes 16-23): it is written again from its beginning.
      const salt = (): string => readFileSync(`${path}-wal`).subarray(16, 24).toString('hex');
      const holds = store.checkpoints.holds;
      const loop = store.checkpoints.loop;
      const salts = new Set([salt()]);
      for (let b = 0; b < 150 && (salts.size < 2 || store.checkpoints.loop === loop); b++) {
        seq = await fillHeld(store, seq, 1);
        salts.add(salt());
      }
      expect(store.checkpoints.holds).toBe(holds);
      expect(store.checkpoints.loop).toBeGreaterThan(loop);
      expect(salts.size).toBeGreaterThanOrEqual(2);
      expect(store.counts('D1')).toMatchObject({ frames: seq });
      store.close();
    });
  });

  it('checkpoints on the event loop after a hold during which something else was written', async () => {
    await withDir(async (path) => {
      const { store, held } = await untilHeld(path, { workerDelayMs: 200 });
      const loop = store.checkpoints.loop;
      // A new device's stream: a write the hold does not stop (not a data batch).
      store.openStream('D2', 'S2', 'test', 1);
      await held;
      expect(store.checkpoints.holdTimeouts).toBe(0);
      expect(store.checkpoints.loop).toBe(loop + 1);
      store.close();
    });
  });

  it('a hold still open at close is ended by it', async () => {
    await withDir(async (path) => {
      const { store, held: open } = await untilHeld(path, { holdMs: 60_000, workerDelayMs: 2000 });
      store.close();
      await open; // would hang the test if close left it pending
      expect(store.checkpoints.holdTimeouts).toBe(0);
    });
  });

  it('goes back to SQLite checkpointing in the commits when the worker fails', async () => {
    const { join, dirname } = await import('node:path');
    await withDir(async (path) => {
      const store = new HubStore(path, {
        checkpoint: { everyBytes: 1 << 20, workerPath: join(dirname(path), 'missing.db') },
      });
      expect(store.autocheckpoint).toBe(0);
      store.openStream('D1', 'S1', 'test', 1);
      // The worker fails opening its file; the next write sees it.
      await until(() => {
        store.flushLastSeen();
        store.storeBatch([], []);
        return !store.checkpoints.offLoop;
      });
      expect(store.checkpoints.offLoop).toBe(false);
      expect(store.autocheckpoint).toBe(1000);
      const seq = await fill(store, 0, 3);
      expect(store.alarms('D1')).toHaveLength(seq);
      store.close();
    });
  });

  it('falls back to SQLite checkpointing in the commits if the worker is not there', async () => {
    await withDir(async (path) => {
      const store = new HubStore(path, { checkpoint: { worker: false } });
      expect(store.checkpoints.offLoop).toBe(false);
      expect(store.autocheckpoint).toBe(1000);
      store.openStream('D1', 'S1', 'test', 1);
      const seq = await fill(store, 0, 3);
      expect(store.alarms('D1')).toHaveLength(seq);
      store.close();
    });
  });
});

describe("HubStore data mode 'seqs-only'", () => {
  const alarm: Body = { type: 'alarm', alarm: { code: 2002, state: 1, text: 'x'.repeat(500) } };

  it('stores no data rows, and reports a seq it already holds as a duplicate', () => {
    const store = new HubStore(':memory:', { data: 'seqs-only' });
    expect(store.dataMode).toBe('seqs-only');
    store.openStream('D1', 'S1', 'test', 1);
    const first = store.storeBatch(
      [item(1, alarm), item(2, alarm), item(4, alarm), item(2, alarm)],
      [{ deviceId: 'D1', streamId: 'S1', acked: 2 }],
    );
    expect(first.map((r) => r.outcome)).toEqual(['stored', 'stored', 'stored', 'duplicate']);
    // Seq 1 (at or below the ack) and 4 (held above it) again, and 3 new.
    const second = store.storeBatch(
      [item(1, alarm), item(4, alarm), item(3, alarm)],
      [{ deviceId: 'D1', streamId: 'S1', acked: 4 }],
    );
    expect(second.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate', 'stored']);
    expect(store.counts('D1')).toEqual({ samples: 0, alarms: 0, frames: 0, events: 0 });
    expect(store.openStream('D1', 'S1', 'test', 2).acked).toBe(4);
    store.close();
  });

  it('counts telemetry samples it passes on without storing them', () => {
    const store = new HubStore(':memory:', { data: 'seqs-only' });
    store.openStream('D1', 'S1', 'test', 1);
    const telemetry: Body = {
      type: 'telemetry',
      telemetry: {
        baseTimeMs: 1000,
        counters: [{ name: 'kv', scale: 1 }],
        samples: [
          { offsetMs: 0, raw: [7] },
          { offsetMs: 60_000, raw: [8] },
        ],
      },
    };
    expect(store.storeBatch([item(1, telemetry)], [])).toEqual([{ outcome: 'stored', samples: 2 }]);
    expect(store.samples('D1')).toEqual([]);
    store.close();
  });

  it('keeps the seqs above the ack and the gaps across a restart (file database)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-hub-seqs-'));
    try {
      const path = join(dir, 'hub.db');
      const store = new HubStore(path, { data: 'seqs-only' });
      store.openStream('D1', 'S1', 'test', 1);
      const gap: Body = { type: 'gap', gap: { fromSeq: 10, toSeq: 12, records: 3, reason: 1 } };
      // 1-2 in order, 5 and 7 ahead of 3-4 and 6 (alarms overtaking), 11 arrived before the gap
      // 10-12 that reports it evicted.
      store.storeBatch(
        [item(1, alarm), item(2, alarm), item(5, alarm), item(7, alarm), item(11, alarm)],
        [{ deviceId: 'D1', streamId: 'S1', acked: 2 }],
        { deferSync: true },
      );
      store.storeBatch([item(0, gap)], [{ deviceId: 'D1', streamId: 'S1', acked: 2 }], {
        deferSync: true,
      });
      await store.syncData();
      store.close();
      const again = new HubStore(path, { data: 'seqs-only' });
      const pos = again.openStream('D1', 'S1', 'test', 2);
      expect(pos.acked).toBe(2);
      expect([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].filter((s) => pos.above.has(s))).toEqual([
        5, 7, 10, 11, 12,
      ]);
      // Seq 11 came after all: the gap counts the two records that are really lost.
      expect(again.gaps('D1')).toMatchObject([{ fromSeq: 10, toSeq: 12, records: 2 }]);
      const results = again.storeBatch(
        [item(5, alarm), item(3, alarm), item(4, alarm), item(6, alarm), item(11, alarm)],
        [{ deviceId: 'D1', streamId: 'S1', acked: 12 }],
      );
      expect(results.map((r) => r.outcome)).toEqual([
        'duplicate',
        'stored',
        'stored',
        'stored',
        'duplicate',
      ]);
      expect(again.openStream('D1', 'S1', 'test', 3)).toMatchObject({ acked: 12 });
      expect(again.openStream('D1', 'S1', 'test', 3).above.ranges).toBe(0);
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('changes no seq state when the transaction fails', () => {
    const store = new HubStore(':memory:', { data: 'seqs-only' });
    store.openStream('D1', 'S1', 'test', 1);
    // A value SQLite cannot bind fails the transaction after seq 1 was checked and counted.
    const unbindable = { deviceId: 'D1', streamId: 'S1', acked: {} as unknown as number };
    expect(() => store.storeBatch([item(1, alarm)], [unbindable])).toThrow();
    expect(store.storeBatch([item(1, alarm)], []).map((r) => r.outcome)).toEqual(['stored']);
    store.close();
  });
});
