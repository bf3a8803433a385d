import { describe, expect, it } from 'vitest';
import { parseGcVerbose, spaceGrowth } from './gc-verbose.js';

/** One GC as `node --trace-gc --trace-gc-verbose` prints it (V8 11, Node 20). */
function gc(ms: number, kind: string, oldKB: number, codeKB: number, backingKB: number): string {
  const p = '[1:0x1]';
  return [
    `${p}    ${ms} ms: ${kind} 8.5 (9.0) -> 7.5 (9.0) MB, 0.61 / 0.00 ms  (average mu = 0.974, current mu = 0.982) allocation failure; `,
    `${p} Memory allocator,       used:   9212 KB, available: 4188164 KB`,
    `${p} New space,              used:     12 KB, available:    994 KB, committed:   1024 KB`,
    `${p} Old space,              used:   ${oldKB} KB, available:    219 KB, committed:   ${oldKB + 300} KB`,
    `${p} Code space,             used:    ${codeKB} KB, available:      1 KB, committed:    768 KB`,
    `${p} Code large object space,     used:    135 KB, available:      0 KB, committed:    152 KB`,
    `${p} All spaces,             used:   7750 KB, available: 4190403 KB, committed:   9212 KB`,
    `${p} External memory reported:    190 KB`,
    `${p} Backing store memory:   ${backingKB} KB`,
    `${p} Total time spent in GC  : 20.4 ms`,
  ].join('\n');
}

describe('parseGcVerbose', () => {
  it('reads each GC and the spaces printed after it', () => {
    const r = parseGcVerbose(
      [
        gc(69248, 'Scavenge', 6262, 663, 2239),
        gc(8147, 'Mark-Compact (reduce)', 6000, 600, 2000),
      ].join('\n'),
    );
    expect(r).toHaveLength(2);
    expect(r[0]).toMatchObject({
      ms: 69248,
      kind: 'Scavenge',
      backingStoreKB: 2239,
      externalKB: 190,
    });
    expect(r[0]!.spaces['old space']).toEqual({ used: 6262, committed: 6562 });
    expect(r[0]!.spaces['code large object space']).toEqual({ used: 135, committed: 152 });
    expect(r[1]!.kind).toBe('Mark-Compact (reduce)');
  });
});

describe('spaceGrowth', () => {
  it('fits used KB after scavenges from the warm-up on, per hour, and counts full GCs', () => {
    const lines: string[] = [];
    // Old space gains 60 KB a minute, code space nothing; before minute 20 it is noise.
    for (let m = 0; m <= 80; m++)
      lines.push(gc(m * 60_000, 'Scavenge', m < 20 ? 9000 - m * 100 : 6000 + m * 60, 663, 2239));
    lines.push(gc(50 * 60_000 + 1, 'Mark-Compact', 6000, 663, 2239));
    const g = spaceGrowth(parseGcVerbose(lines.join('\n')), 20);
    expect(g.scavenges).toBe(61);
    expect(g.fullGcs).toBe(1);
    expect(g.minutes).toBe(60);
    const by = Object.fromEntries(g.spaces.map((s) => [s.space, s]));
    expect(by['old space']!.usedKiBPerHour).toBeCloseTo(3600, 6);
    expect(by['old space']!.committedKiBPerHour).toBeCloseTo(3600, 6);
    expect(by['code space']!.usedKiBPerHour).toBeCloseTo(0, 6);
    expect(by['backing stores (ArrayBuffers)']!.usedKiBPerHour).toBeCloseTo(0, 6);
    expect(by['old space']!.firstUsedKB).toBe(7200);
  });
});
