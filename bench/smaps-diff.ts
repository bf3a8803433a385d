/**
 * smaps-diff: where in a process's address space its resident memory changed, from the raw
 * `/proc/<pid>/smaps` copies agent-footprint writes with OUTPOST_BENCH_SMAPS_DIR
 * (`<dir>/<name>-<minute>.smaps`, every 10 minutes).
 *
 * Each mapping is put in one class:
 * - `node executable` (with its .bss, the anonymous mapping right after it), `malloc main heap` (`[heap]`), `main stack`, `files` (other named
 *   mappings: shared libraries, native addons);
 * - `thread stacks`: an anonymous read-write mapping of exactly 8 MiB just after a one-page
 *   guard (glibc's default for a pthread);
 * - `malloc arenas`: the read-write head of a 64 MiB-aligned anonymous reservation whose
 *   inaccessible tail makes it up to 64 MiB (glibc's heap for another thread's arena);
 * - `V8 code range`: an executable anonymous mapping and the anonymous mappings contiguous with
 *   it (V8 reserves its code range in one piece, next to the remapped builtins);
 * - `V8 heap pages`: other anonymous mappings below the shared-library area (V8 maps its pages at
 *   random hints spread over the low half of the address space);
 * - `other anonymous`: the rest (chunks glibc maps for one large allocation, libraries' own
 *   mappings).
 *
 * Usage: `npx tsx bench/smaps-diff.ts <dir> <name> [from-minute]`: resident KiB per class at each
 * minute, the change from `from-minute` (20 by default) to the last, and the mappings whose
 * resident size changed most.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { growthVerdict } from './growth.js';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rssKiB: number;
}

export type MappingClass =
  | 'node executable'
  | 'malloc main heap'
  | 'main stack'
  | 'files'
  | 'thread stacks'
  | 'malloc arenas'
  | 'V8 code range'
  | 'V8 heap pages'
  | 'other anonymous';

export const CLASSES: readonly MappingClass[] = [
  'node executable',
  'malloc main heap',
  'malloc arenas',
  'V8 heap pages',
  'V8 code range',
  'thread stacks',
  'main stack',
  'files',
  'other anonymous',
];

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/;
const PAGE = 0x1000n;
const STACK = 8n << 20n;
const ARENA = 64n << 20n;
/** Above this, mappings are in the area where the kernel places shared libraries and mmaps. */
const MMAP_AREA = 0x7e0000000000n;

/** The mappings of one smaps text, in address order, each with its `Rss:` in KiB. */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const h = HEADER.exec(line);
    if (h) {
      out.push({
        start: BigInt('0x' + h[1]!),
        end: BigInt('0x' + h[2]!),
        perms: h[3]!,
        path: h[4]!.trim(),
        rssKiB: 0,
      });
    } else if (line.startsWith('Rss:') && out.length > 0) {
      out[out.length - 1]!.rssKiB = Number(/(\d+)/.exec(line)?.[1] ?? 0);
    }
  }
  return out;
}

const anonymous = (m: Mapping): boolean => m.path === '' || m.path.startsWith('[anon');

/** The class of every mapping (same order as `maps`); `exe` is the node executable's path. */
export function classify(maps: readonly Mapping[], exe: string): MappingClass[] {
  const cls: Array<MappingClass | undefined> = maps.map((m) => {
    if (m.path === exe) return 'node executable';
    if (m.path === '[heap]') return 'malloc main heap';
    if (m.path === '[stack]') return 'main stack';
    if (!anonymous(m)) return 'files';
    return undefined;
  });
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]!;
    const prev = maps[i - 1];
    // The executable's .bss: anonymous, straight after its last file mapping.
    if (cls[i] === undefined && prev?.path === exe && prev.end === m.start) {
      cls[i] = 'node executable';
      continue;
    }
    if (cls[i] !== undefined || m.perms[0] !== 'r') continue;
    const next = maps[i + 1];
    if (
      m.end - m.start === STACK &&
      prev !== undefined &&
      prev.end === m.start &&
      prev.end - prev.start === PAGE &&
      prev.perms.startsWith('---')
    ) {
      cls[i] = 'thread stacks';
      cls[i - 1] = 'thread stacks';
    } else if (
      m.start % ARENA === 0n &&
      next !== undefined &&
      next.start === m.end &&
      next.perms.startsWith('---') &&
      next.end - m.start === ARENA
    ) {
      cls[i] = 'malloc arenas';
      cls[i + 1] = 'malloc arenas';
    }
  }
  // The code range: every unclassified anonymous mapping contiguous with an executable one.
  for (let i = 0; i < maps.length; i++) {
    if (cls[i] !== undefined || maps[i]!.perms[2] !== 'x') continue;
    cls[i] = 'V8 code range';
    for (let j = i - 1; j >= 0 && cls[j] === undefined && maps[j]!.end === maps[j + 1]!.start; j--)
      cls[j] = 'V8 code range';
    for (
      let j = i + 1;
      j < maps.length && cls[j] === undefined && maps[j]!.start === maps[j - 1]!.end;
      j++
    )
      cls[j] = 'V8 code range';
  }
  return cls.map((c, i) => c ?? (maps[i]!.start < MMAP_AREA ? 'V8 heap pages' : 'other anonymous'));
}

/** Resident KiB per class. */
export function residentByClass(text: string, exe: string): Map<MappingClass, number> {
  const maps = parseSmaps(text);
  const cls = classify(maps, exe);
  const out = new Map<MappingClass, number>(CLASSES.map((c) => [c, 0]));
  maps.forEach((m, i) => out.set(cls[i]!, out.get(cls[i]!)! + m.rssKiB));
  return out;
}

/** The node executable's path: the mapping that holds the most resident file pages. */
export function guessExe(maps: readonly Mapping[]): string {
  const byPath = new Map<string, number>();
  for (const m of maps)
    if (m.path.startsWith('/')) byPath.set(m.path, (byPath.get(m.path) ?? 0) + m.rssKiB);
  return [...byPath].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
}

function main(): void {
  const [dir, name, fromArg] = process.argv.slice(2);
  if (!dir || !name) {
    process.stderr.write('usage: smaps-diff <dir> <name> [from-minute]\n');
    process.exit(2);
  }
  const from = Number(fromArg ?? 20);
  const re = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)\\.smaps$`);
  const files = readdirSync(dir)
    .map((f) => [f, re.exec(f)?.[1]] as const)
    .filter((x): x is readonly [string, string] => x[1] !== undefined)
    .map(([f, min]) => [Number(min), readFileSync(join(dir, f), 'utf8')] as const)
    .sort((a, b) => a[0] - b[0]);
  if (files.length === 0) throw new Error(`no ${name}-<minute>.smaps in ${dir}`);
  const exe = guessExe(parseSmaps(files[0]![1]));
  const cols = files.map(([min, text]) => [min, residentByClass(text, exe)] as const);
  const first = cols.find(([min]) => min >= from) ?? cols[0]!;
  const last = cols[cols.length - 1]!;
  const w = Math.max(...CLASSES.map((c) => c.length)) + 2;
  const line = (label: string, cells: Array<string | number>): string =>
    label.padEnd(w) + cells.map((c) => String(c).padStart(8)).join('') + '\n';
  // Copies every minute would make a table too wide: show every tenth minute and the last.
  const shown = cols.filter(
    ([min], i) => cols.length <= 16 || min % 10 === 0 || i === cols.length - 1,
  );
  let out = line(
    'KiB resident / minute',
    shown.map(([m]) => m),
  );
  for (const c of [...CLASSES, 'total'] as const) {
    const get = (m: Map<MappingClass, number>): number =>
      c === 'total' ? [...m.values()].reduce((a, b) => a + b, 0) : m.get(c)!;
    out += line(c, [
      ...shown.map(([, m]) => get(m)),
      `${get(last[1]) - get(first[1]) >= 0 ? '+' : ''}${get(last[1]) - get(first[1])}`,
    ]);
  }
  out += `(last column: minute ${first[0]} -> ${last[0]})\n`;
  // Copies every minute: each class's slope and 95 % interval as growth.ts fits the RSS.
  const perMinute = (c: MappingClass | 'total'): number[] => {
    const ys: number[] = [];
    for (const [min, m] of cols) {
      const v = (c === 'total' ? [...m.values()].reduce((x, y) => x + y, 0) : m.get(c)!) / 1024;
      while (ys.length < min) ys.push(ys[ys.length - 1] ?? v);
      ys[min] = v;
    }
    return ys;
  };
  if (perMinute('total').length - from >= 30) {
    out += `\nslope from minute ${from}, KiB/h (95 %), copies every minute:\n`;
    for (const c of [...CLASSES, 'total'] as const) {
      const v = growthVerdict(perMinute(c), { warmupMinutes: from });
      const k = (x: number): string => String(Math.round(x * 1024));
      out += `  ${c.padEnd(w)} ${k(v.leastSquaresMiBPerHour).padStart(6)} (${k(v.slope95MiBPerHour[0])}..${k(v.slope95MiBPerHour[1])})\n`;
    }
  }
  out += `\nmappings whose resident size changed most, minute ${first[0]} -> ${last[0]}:\n`;
  const key = (m: Mapping): string => `${m.start.toString(16)}-${m.end.toString(16)}`;
  const firstFile = files.find(([min]) => min === first[0])![1];
  const a = parseSmaps(firstFile);
  const b = parseSmaps(last === first ? firstFile : files[files.length - 1]![1]);
  const ca = classify(a, exe);
  const cb = classify(b, exe);
  const before = new Map(a.map((m, i) => [key(m), [m.rssKiB, ca[i]!] as const]));
  const after = new Map(b.map((m, i) => [key(m), [m.rssKiB, cb[i]!] as const]));
  const changes = [...new Set([...before.keys(), ...after.keys()])]
    .map((k) => {
      const x = before.get(k);
      const y = after.get(k);
      return {
        k,
        d: (y?.[0] ?? 0) - (x?.[0] ?? 0),
        cls: (y ?? x)![1],
        note: !x ? 'new' : !y ? 'gone' : '',
      };
    })
    .filter((c) => c.d !== 0)
    .sort((p, q) => Math.abs(q.d) - Math.abs(p.d));
  for (const c of changes.slice(0, 25))
    out += `  ${c.k.padEnd(28)} ${c.cls.padEnd(w)} ${(c.d > 0 ? '+' : '') + c.d} KiB ${c.note}\n`;
  process.stdout.write(out);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
