/**
 * The OutboundQueue contract (queue.ts), one suite run against every implementation: the
 * in-memory queue, the file spool on the fake file system, and the file spool on node:fs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSpool } from './file-spool.js';
import { MemoryQueue } from './memory-queue.js';
import { MemorySpoolFs } from './memory-spool-fs.js';
import { LANES, type Lane, type OutboundQueue } from './queue.js';
import { ManualClock, makeBody, openSpool, typeOf } from './spool-test-fixtures.js';

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

const implementations: Array<[string, () => Promise<OutboundQueue>]> = [
  ['MemoryQueue', () => Promise.resolve(new MemoryQueue())],
  [
    'FileSpool (MemorySpoolFs)',
    () => openSpool(new MemorySpoolFs(), new ManualClock(), { groupCommitMs: 0 }),
  ],
  [
    'FileSpool (node:fs)',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'outpost-contract-'));
      temps.push(dir);
      return FileSpool.open({ dir, groupCommitMs: 1 });
    },
  ],
];

describe.each(implementations)('OutboundQueue contract: %s', (_name, make) => {
  it('assigns seqs from 1 on acceptance and never reuses them', async () => {
    const q = await make();
    const a = await q.append({
      lane: 'telemetry',
      type: 'telemetry',
      body: makeBody(1, 10),
      samples: 2,
    });
    const b = await q.append({ lane: 'alarm', type: 'alarm', body: makeBody(2, 10) });
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(a).toMatchObject({ lane: 'telemetry', type: 'telemetry', samples: 2 });
    expect(b.samples).toBe(0);
    q.ack(2);
    expect(
      (await q.append({ lane: 'bulk', type: 'commandResult', body: makeBody(3, 10) })).seq,
    ).toBe(3);
    expect(q.stats().lastSeq).toBe(3);
    await q.close();
  });

  it('next() and ack() behave like the reference model', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ k: fc.constant('append' as const), lane: fc.constantFrom<Lane>(...LANES) }),
            fc.record({ k: fc.constant('ack' as const), upTo: fc.nat(40) }),
            fc.record({
              k: fc.constant('next' as const),
              limit: fc.nat(8),
              skipOdd: fc.boolean(),
              lanes: fc.subarray([...LANES]),
              after: fc.nat(40),
            }),
          ),
          { maxLength: 40 },
        ),
        async (ops) => {
          const q = await make();
          const live: Array<{ seq: number; lane: Lane; size: number }> = [];
          let id = 0;
          for (const op of ops) {
            if (op.k === 'append') {
              const size = 8 + (id % 5);
              const r = await q.append({
                lane: op.lane,
                type: typeOf(op.lane),
                body: makeBody(++id, size),
              });
              live.push({ seq: r.seq, lane: op.lane, size });
            } else if (op.k === 'ack') {
              const removed = q
                .ack(op.upTo)
                .map((r) => r.seq)
                .sort((a, b) => a - b);
              const expected = live.filter((r) => r.seq <= op.upTo).map((r) => r.seq);
              expect(removed).toEqual(expected);
              live.splice(0, live.length, ...live.filter((r) => r.seq > op.upTo));
            } else {
              const skip = op.skipOdd ? (s: number) => s % 2 === 1 : undefined;
              // `after` applies to the telemetry lane only here; the others from the start.
              const after = { telemetry: op.after };
              const expected = LANES.filter((l) => op.lanes.includes(l))
                .flatMap((l) => live.filter((r) => r.lane === l))
                .filter((r) => !skip?.(r.seq) && !(r.lane === 'telemetry' && r.seq <= op.after))
                .slice(0, op.limit)
                .map((r) => r.seq);
              expect(q.next(op.limit, skip, { lanes: op.lanes, after }).map((r) => r.seq)).toEqual(
                expected,
              );
            }
            // The oldest unacked record, whatever its lane (what the hub's cumulative ack awaits).
            expect(q.oldest?.()?.seq).toBe(
              live.length ? Math.min(...live.map((r) => r.seq)) : undefined,
            );
            const st = q.stats();
            expect(st.records).toBe(live.length);
            expect(st.bytes).toBe(live.reduce((n, r) => n + r.size, 0));
            for (const l of LANES)
              expect(st.byLane[l]).toBe(live.filter((r) => r.lane === l).length);
          }
          await q.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('gives each new queue its own stream id', async () => {
    const [a, b] = [await make(), await make()];
    expect(a.streamId).not.toBe(b.streamId);
    await a.close();
    await b.close();
  });
});
