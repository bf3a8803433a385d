/**
 * gc-verbose: where a long-running process's V8 heap grows, from its `--trace-gc
 * --trace-gc-verbose` output (agent-footprint's `service-unit-trace` with
 * OUTPOST_BENCH_TRACE_GC_FLAGS=--trace-gc-verbose and OUTPOST_BENCH_SERVICE_LOGS=<dir>).
 *
 * After every GC V8 prints each space's used, available and committed KB. A scavenge empties the
 * young generation, so the old spaces' "used" right after consecutive scavenges grows by what was
 * promoted (while no full GC runs), and code space by what was compiled. The least-squares slope
 * of each space's used and committed KB after scavenges, from a warm-up minute on, says which
 * space the RSS growth comes from, in KiB per hour.
 *
 * Usage: `npx tsx bench/gc-verbose.ts <log> [warm-up minutes]`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface GcRecord {
  /** ms since the isolate started. */
  ms: number;
  kind: string;
  /** Space name (lower case, as V8 prints it) → used and committed KB after this GC. */
  spaces: Record<string, { used: number; committed: number }>;
  backingStoreKB?: number;
  externalKB?: number;
}

const HEAD =
  /\s(\d+) ms: (Scavenge|Mark-Compact(?: \(reduce\))?|Minor Mark-Compact|Mark-Sweep)(?=\s)/;
const SPACE = /\]\s+([A-Za-z -]+? space),\s+used:\s+(\d+) KB,.*committed:\s+(\d+) KB/;
const BACKING = /Backing store memory:\s+(\d+) KB/;
const EXTERNAL = /External memory reported:\s+(\d+) KB/;

/** The GCs in a `--trace-gc --trace-gc-verbose` log, each with the spaces printed after it. */
export function parseGcVerbose(text: string): GcRecord[] {
  const out: GcRecord[] = [];
  let cur: GcRecord | undefined;
  for (const line of text.split('\n')) {
    const h = HEAD.exec(line);
    if (h) {
      cur = { ms: Number(h[1]), kind: h[2]!, spaces: {} };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const s = SPACE.exec(line);
    if (s) {
      cur.spaces[s[1]!.trim().toLowerCase()] = { used: Number(s[2]), committed: Number(s[3]) };
      continue;
    }
    const b = BACKING.exec(line);
    if (b) cur.backingStoreKB = Number(b[1]);
    const e = EXTERNAL.exec(line);
    if (e) cur.externalKB = Number(e[1]);
  }
  return out;
}

function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

export interface SpaceGrowth {
  space: string;
  firstUsedKB: number;
  lastUsedKB: number;
  usedKiBPerHour: number;
  committedKiBPerHour: number;
}

/**
 * Per space, the slope of used and committed KB right after each scavenge from `warmupMinutes`
 * on (KiB/h), and the full GCs in that span. Scavenges only: right after one the young generation
 * is empty, so the points are comparable.
 */
export function spaceGrowth(
  records: readonly GcRecord[],
  warmupMinutes = 20,
): { scavenges: number; fullGcs: number; minutes: number; spaces: SpaceGrowth[] } {
  const from = warmupMinutes * 60_000;
  const after = records.filter((r) => r.ms >= from);
  const sc = after.filter((r) => r.kind === 'Scavenge');
  const names = new Set(sc.flatMap((r) => Object.keys(r.spaces)));
  const hours = sc.map((r) => r.ms / 3_600_000);
  const spaces: SpaceGrowth[] = [];
  for (const space of names) {
    const pts = sc.filter((r) => r.spaces[space]);
    const x = pts.map((r) => r.ms / 3_600_000);
    spaces.push({
      space,
      firstUsedKB: pts[0]?.spaces[space]!.used ?? 0,
      lastUsedKB: pts[pts.length - 1]?.spaces[space]!.used ?? 0,
      usedKiBPerHour: slope(
        x,
        pts.map((r) => r.spaces[space]!.used),
      ),
      committedKiBPerHour: slope(
        x,
        pts.map((r) => r.spaces[space]!.committed),
      ),
    });
  }
  const backing = sc.filter((r) => r.backingStoreKB !== undefined);
  if (backing.length > 0)
    spaces.push({
      space: 'backing stores (ArrayBuffers)',
      firstUsedKB: backing[0]!.backingStoreKB!,
      lastUsedKB: backing[backing.length - 1]!.backingStoreKB!,
      usedKiBPerHour: slope(
        backing.map((r) => r.ms / 3_600_000),
        backing.map((r) => r.backingStoreKB!),
      ),
      committedKiBPerHour: NaN,
    });
  return {
    scavenges: sc.length,
    fullGcs: after.filter((r) => r.kind !== 'Scavenge').length,
    minutes: hours.length > 1 ? Math.round((hours[hours.length - 1]! - hours[0]!) * 60) : 0,
    spaces,
  };
}

function main(): void {
  const [file, warm] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/gc-verbose.ts <log> [warm-up minutes]');
    process.exit(2);
  }
  const g = spaceGrowth(parseGcVerbose(readFileSync(file, 'utf8')), Number(warm ?? 20));
  console.log(
    `${g.scavenges} scavenges over ${g.minutes} min after the warm-up, ${g.fullGcs} full GCs`,
  );
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-').padStart(8);
  console.log('space                              first KB  last KB  used KiB/h  committed KiB/h');
  for (const s of g.spaces)
    console.log(
      `${s.space.padEnd(34)} ${String(s.firstUsedKB).padStart(8)} ${String(s.lastUsedKB).padStart(8)}  ${f(s.usedKiBPerHour)}    ${f(s.committedKiBPerHour)}`,
    );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
