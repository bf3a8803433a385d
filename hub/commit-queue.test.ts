import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from '../src/codec/index.js';
import { CommitQueue, type CommitItem, type CommitOwner } from './commit-queue.js';
import type { HubStore, StoreResult } from './store.js';

/** A store whose commits are instant and whose WAL fsyncs finish when the test says so. */
class FakeStore {
  readonly defersSync = true;
  commitsHeld: Promise<void> | undefined;
  readonly batches: number[][] = [];
  readonly syncs: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  storeBatch(
    items: readonly CommitItem[],
    _streams: unknown,
    o: { deferSync?: boolean },
  ): StoreResult[] {
    expect(o.deferSync).toBe(true);
    this.batches.push(items.map((i) => i.frame.seq));
    return items.map(() => ({ outcome: 'stored', samples: 0 }));
  }
  syncData(): Promise<void> {
    return new Promise((resolve, reject) => this.syncs.push({ resolve, reject }));
  }
}

function owner(log: string[]): CommitOwner {
  return {
    project: (items) => ({ deviceId: 'D', streamId: 'S', acked: items.at(-1)!.frame.seq }),
    stored: (items) => log.push(`stored ${items.map((i) => i.frame.seq).join(',')}`),
    committed: (items) => log.push(`acked ${items.map((i) => i.frame.seq).join(',')}`),
    failed: (items, err) =>
      log.push(`failed ${items.map((i) => i.frame.seq).join(',')} ${(err as Error).message}`),
  };
}

function item(o: CommitOwner, seq: number): CommitItem {
  const raw = encodeFrame(
    { deviceId: 'D', seq, sentAtMs: 1 },
    { type: 'alarm', alarm: { code: 1 } },
  );
  return {
    owner: o,
    deviceId: 'D',
    streamId: 'S',
    frame: decodeFrame(raw),
    bytes: raw.length,
    receivedAtMs: 1,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CommitQueue with a deferred fsync', () => {
  it('acks a batch only once its WAL fsync is done; batches committed meanwhile share the next fsync', async () => {
    const store = new FakeStore();
    const log: string[] = [];
    const acks: number[] = [];
    const q = new CommitQueue(store as unknown as HubStore, {
      onCommitted: (_d, up) => acks.push(up),
    });
    const o = owner(log);
    q.push(item(o, 1));
    q.flush();
    expect(log).toEqual(['stored 1']); // committed, not durable: nothing acked
    expect(store.syncs).toHaveLength(1);
    q.push(item(o, 2));
    q.flush();
    q.push(item(o, 3));
    q.flush();
    expect(store.syncs).toHaveLength(1); // one fsync at a time
    expect(acks).toEqual([]);
    store.syncs[0]!.resolve();
    await tick();
    expect(log).toEqual(['stored 1', 'stored 2', 'stored 3', 'acked 1']);
    expect(store.syncs).toHaveLength(2); // the next one covers 2 and 3
    store.syncs[1]!.resolve();
    await tick();
    expect(log.slice(3)).toEqual(['acked 1', 'acked 2', 'acked 3']);
    expect(acks).toEqual([1, 2, 3]);
    expect(q.stats).toEqual({ commits: 3, items: 3, syncs: 2, held: 0 });
    await q.drain();
  });

  it('a failed fsync acks nothing it covered', async () => {
    const store = new FakeStore();
    const log: string[] = [];
    const q = new CommitQueue(store as unknown as HubStore);
    const o = owner(log);
    q.push(item(o, 1));
    q.flush();
    store.syncs[0]!.reject(new Error('EIO'));
    await tick();
    expect(log).toEqual(['stored 1', 'failed 1 EIO']);
  });

  it('while the store holds commits, items wait; then they go maxBatch at a time, in order', async () => {
    const store = new FakeStore();
    const log: string[] = [];
    const q = new CommitQueue(store as unknown as HubStore, { maxBatch: 2 });
    const o = owner(log);
    let end!: () => void;
    store.commitsHeld = new Promise<void>((r) => (end = r));
    for (let seq = 1; seq <= 5; seq++) q.push(item(o, seq)); // past maxBatch: still held
    q.flush();
    await tick();
    expect(store.batches).toEqual([]);
    expect(log).toEqual([]);
    store.commitsHeld = undefined;
    end();
    await Promise.resolve();
    expect(store.batches).toEqual([[1, 2]]); // one transaction per turn, not one long one
    await tick();
    await tick();
    expect(store.batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(log).toEqual(['stored 1,2', 'stored 3,4', 'stored 5']); // nothing acked before its fsync
    store.syncs[0]!.resolve();
    await tick();
    store.syncs[1]!.resolve();
    await tick();
    expect(log.filter((l) => l.startsWith('acked'))).toEqual(['acked 1,2', 'acked 3,4', 'acked 5']);
    expect(q.stats).toMatchObject({ commits: 3, held: 1 });
  });

  it('a forced flush commits everything at once, hold or not; after close() nothing is taken', () => {
    const store = new FakeStore();
    const q = new CommitQueue(store as unknown as HubStore, { maxBatch: 2 });
    store.commitsHeld = new Promise<void>(() => undefined);
    const o = owner([]);
    for (let seq = 1; seq <= 3; seq++) q.push(item(o, seq));
    q.flush();
    expect(store.batches).toEqual([]);
    q.close();
    expect(store.batches).toEqual([[1, 2], [3]]);
    q.push(item(o, 4));
    q.flush(true);
    expect(store.batches).toEqual([[1, 2], [3]]);
  });
});
