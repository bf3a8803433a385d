import { describe, expect, it } from 'vitest';
import { liveChange, parseObjectStats, ranked } from './object-stats.js';

/** One line of V8's `--trace-gc-object-stats` output (Node 20). */
const line = (id: number, key: 'live' | 'dead', name: string, overall: number, count: number) =>
  `{ "isolate": "0x1", "id": ${id}, "key": "${key}", "type": "instance_type_data", "instance_type": 1, "instance_type_name": "${name}", "overall": ${overall}, "count": ${count}, "over_allocated": 0, "histogram": [ 0 ],"over_allocated_histogram": [ 0 ] }`;
const descriptor = (id: number, key: string) =>
  `{ "isolate": "0x1", "id": ${id}, "key": "${key}", "type": "gc_descriptor", "time": 1.5 }`;

describe('parseObjectStats', () => {
  const log = [
    // V8's own full GC at start-up: not asked for, skipped.
    descriptor(1, 'live'),
    line(1, 'dead', 'JS_OBJECT_TYPE', 999_999, 9),
    '[1:0x1]  8147 ms: Mark-Compact (reduce) 9.5 (11.1) -> 7.1 (9.7) MB',
    'outpost-bench-objstats full GC',
    descriptor(2, 'live'),
    line(2, 'live', 'JS_OBJECT_TYPE', 1000, 10),
    line(2, 'live', 'BASELINE', 500, 2),
    line(2, 'dead', 'JS_OBJECT_TYPE', 64, 2),
    '{"json": "from the agent, no id"}',
    'outpost-bench-objstats full GC',
    descriptor(3, 'live'),
    line(3, 'live', 'JS_OBJECT_TYPE', 1000, 10),
    line(3, 'live', 'BASELINE', 900, 3),
    line(3, 'live', 'JS_FUNCTION_TYPE', 0, 0),
    line(3, 'dead', 'TIMER', 4096, 32),
    line(3, 'dead', 'JS_OBJECT_TYPE', 2048, 40),
    // A later GC of V8's own: not part of the last one asked for.
    line(4, 'dead', 'JS_OBJECT_TYPE', 77_777, 7),
  ].join('\n');

  it('keeps the first full GC after each marker, live and dead per type', () => {
    const gcs = parseObjectStats(log);
    expect(gcs).toHaveLength(2);
    expect(gcs[0]!.dead.get('JS_OBJECT_TYPE')).toEqual({ bytes: 64, count: 2 });
    expect(ranked(gcs[1]!.dead)).toEqual([
      { type: 'TIMER', bytes: 4096, count: 32 },
      { type: 'JS_OBJECT_TYPE', bytes: 2048, count: 40 },
    ]);
  });

  it('gives what the live heap gained between two of them, zeros left out', () => {
    const [a, b] = parseObjectStats(log);
    expect(liveChange(a!, b!)).toEqual([{ type: 'BASELINE', bytes: 400, count: 1 }]);
  });
});
