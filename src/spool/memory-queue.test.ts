import { describe, expect, it } from 'vitest';
import { MemoryQueue } from './memory-queue.js';

const body = (n: number): Uint8Array => new Uint8Array(n);

describe('MemoryQueue', () => {
  it('numbers records from 1 and hands out alarms ahead of an older telemetry backlog', async () => {
    const q = new MemoryQueue();
    for (let i = 0; i < 5; i++)
      await q.append({ lane: 'telemetry', type: 'telemetry', body: body(10), samples: 3 });
    const alarm = await q.append({ lane: 'alarm', type: 'alarm', body: body(20) });
    expect(alarm.seq).toBe(6);
    expect(q.next(3).map((r) => r.seq)).toEqual([6, 1, 2]);
    expect(q.next(10, (s) => s <= 2 || s === 6).map((r) => r.seq)).toEqual([3, 4, 5]);
  });

  it('ack removes exactly the records at or below the cumulative sequence', async () => {
    const q = new MemoryQueue();
    for (let i = 0; i < 4; i++)
      await q.append({ lane: 'telemetry', type: 'telemetry', body: body(10) });
    await q.append({ lane: 'alarm', type: 'alarm', body: body(7) });
    expect(
      q
        .ack(3)
        .map((r) => r.seq)
        .sort(),
    ).toEqual([1, 2, 3]);
    expect(q.stats()).toMatchObject({ records: 2, bytes: 17, lastSeq: 5 });
    expect(q.next(10).map((r) => r.seq)).toEqual([5, 4]);
  });

  it('gives each instance its own stream id', () => {
    expect(new MemoryQueue().streamId).not.toBe(new MemoryQueue().streamId);
  });
});
