import { describe, expect, it } from 'vitest';
import { classify, guessExe, parseSmaps, residentByClass } from './smaps-diff.js';

const EXE = '/usr/bin/node';
/** One smaps entry: the header line and the fields the tool reads (and one it must skip). */
function entry(start: number, end: number, perms: string, path: string, rssKiB: number): string {
  const h = (n: number): string => n.toString(16).padStart(8, '0');
  return [
    `${h(start)}-${h(end)} ${perms} 00000000 00:00 0${path ? '          ' + path : ''}`,
    `Size:           ${(end - start) / 1024} kB`,
    `Rss:            ${rssKiB} kB`,
    `Pss:            ${rssKiB} kB`,
  ].join('\n');
}
const MiB = 1 << 20;
const ARENA_AT = 0x7f20f4000000;
const TEXT = [
  entry(0x400000, 0x500000, 'r-xp', EXE, 900),
  entry(0x500000, 0x510000, 'rw-p', EXE, 40),
  entry(0x510000, 0x520000, 'rw-p', '', 30), // the executable's .bss
  entry(0x2b66f000, 0x2bbb5000, 'rw-p', '[heap]', 5000),
  entry(0x4ee03700000, 0x4ee03740000, 'rw-p', '', 200), // a V8 page
  entry(0x6f02e6c0000, 0x6f02e700000, 'rw-p', '', 56), // another
  entry(0x7f20d0fbc000, 0x7f20d0fbd000, '---p', '', 0), // guard page
  entry(0x7f20d0fbd000, 0x7f20d0fbd000 + 8 * MiB, 'rw-p', '', 16), // a thread's stack
  entry(0x7f20d2fc0000, 0x7f20d2fc2000, 'rw-p', '', 8), // code range head
  entry(0x7f20d2fc2000, 0x7f20d2fc3000, '---p', '', 0),
  entry(0x7f20d2fc3000, 0x7f20d2fff000, 'rwxp', '', 240), // code pages
  entry(0x7f20d2fff000, 0x7f20d3400000, '---p', '', 0),
  entry(ARENA_AT, ARENA_AT + 0x21000, 'rw-p', '', 132), // a thread's malloc arena
  entry(ARENA_AT + 0x21000, ARENA_AT + 64 * MiB, '---p', '', 0),
  entry(0x7f20f851a000, 0x7f20f853b000, 'rw-p', '', 12), // a chunk malloc mapped
  entry(0x7f20f9d3e000, 0x7f20f9d64000, 'r--p', '/usr/lib/x86_64-linux-gnu/libc.so.6', 150),
  entry(0x7ffd00000000, 0x7ffd00021000, 'rw-p', '[stack]', 60),
].join('\n');

describe('smaps-diff', () => {
  it('reads every mapping with its resident size', () => {
    const maps = parseSmaps(TEXT);
    expect(maps).toHaveLength(17);
    expect(maps[3]).toMatchObject({ perms: 'rw-p', path: '[heap]', rssKiB: 5000 });
    expect(maps[0]!.start).toBe(0x400000n);
  });

  it('finds the executable by its resident pages', () => {
    expect(guessExe(parseSmaps(TEXT))).toBe(EXE);
  });

  it('puts each mapping in its class', () => {
    expect(classify(parseSmaps(TEXT), EXE)).toEqual([
      'node executable',
      'node executable',
      'node executable',
      'malloc main heap',
      'V8 heap pages',
      'V8 heap pages',
      'thread stacks',
      'thread stacks',
      'V8 code range',
      'V8 code range',
      'V8 code range',
      'V8 code range',
      'malloc arenas',
      'malloc arenas',
      'other anonymous',
      'files',
      'main stack',
    ]);
  });

  it('sums resident KiB per class', () => {
    const r = residentByClass(TEXT, EXE);
    expect(r.get('node executable')).toBe(970);
    expect(r.get('V8 heap pages')).toBe(256);
    expect(r.get('V8 code range')).toBe(248);
    expect(r.get('malloc arenas')).toBe(132);
    expect(r.get('thread stacks')).toBe(16);
    expect(r.get('other anonymous')).toBe(12);
    expect([...r.values()].reduce((a, b) => a + b, 0)).toBe(
      parseSmaps(TEXT).reduce((a, m) => a + m.rssKiB, 0),
    );
  });

  it('does not take an 8 MiB mapping without a guard page for a stack, nor an unaligned 64 MiB one for an arena', () => {
    const text = [
      entry(0x7f2000000000, 0x7f2000000000 + 8 * MiB, 'rw-p', '', 10),
      entry(ARENA_AT + 0x1000, ARENA_AT + 0x22000, 'rw-p', '', 20),
      entry(ARENA_AT + 0x22000, ARENA_AT + 64 * MiB + 0x1000, '---p', '', 0),
    ].join('\n');
    expect(classify(parseSmaps(text), EXE)).toEqual([
      'other anonymous',
      'other anonymous',
      'other anonymous',
    ]);
  });
});
