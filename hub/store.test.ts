import { describe, expect, it } from 'vitest';
import { encodeFrame, decodeFrame, type Body } from '../src/codec/index.js';
import { HubStore } from './store.js';

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
