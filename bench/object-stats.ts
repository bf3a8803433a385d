/**
 * object-stats: what the old generation of a long-running process gathers, by V8 instance type,
 * from the log of agent-footprint's `service-unit-objstats` (OUTPOST_BENCH_SERVICE_LOGS).
 *
 * That service runs under `--track-gc-object-stats --trace-gc-object-stats`; at minute 20 and at
 * the end its preload empties the young generation (two scavenges) and runs a full GC, and V8
 * prints one JSON line per instance type with the bytes and count of the live objects and of the
 * dead ones. A full GC at the end therefore counts as dead exactly the garbage that scavenges
 * promoted since the one at minute 20 (nothing else collected old objects in between), and the
 * change in live bytes between the two is what the live heap gained.
 *
 * Usage: `npx tsx bench/object-stats.ts <log> [rows]`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const MARKER = 'outpost-bench-objstats full GC';

export interface TypeStats {
  bytes: number;
  count: number;
}
/** One full GC's statistics: instance type → live and dead bytes and counts. */
export interface GcObjectStats {
  live: Map<string, TypeStats>;
  dead: Map<string, TypeStats>;
}

/**
 * The statistics of the first full GC after each marker line in `text` (the ones the preload
 * asked for; V8's own full GCs print statistics too and are skipped).
 */
export function parseObjectStats(text: string): GcObjectStats[] {
  const out: GcObjectStats[] = [];
  let want = false;
  let id: number | undefined;
  let cur: GcObjectStats | undefined;
  for (const line of text.split('\n')) {
    if (line.includes(MARKER)) {
      want = true;
      id = undefined;
      continue;
    }
    if (!want || !line.startsWith('{')) continue;
    let j: {
      id?: number;
      key?: string;
      type?: string;
      instance_type_name?: string;
      overall?: number;
      count?: number;
    };
    try {
      j = JSON.parse(line) as typeof j;
    } catch {
      continue;
    }
    if (j.id === undefined) continue;
    if (id === undefined) {
      id = j.id;
      cur = { live: new Map(), dead: new Map() };
      out.push(cur);
    } else if (j.id !== id) {
      // The next GC's statistics: this marker's are complete.
      want = false;
      continue;
    }
    if (j.type !== 'instance_type_data' || !j.instance_type_name) continue;
    const m = j.key === 'dead' ? cur!.dead : j.key === 'live' ? cur!.live : undefined;
    m?.set(j.instance_type_name, { bytes: j.overall ?? 0, count: j.count ?? 0 });
  }
  return out;
}

export interface ObjectStatsRow {
  type: string;
  bytes: number;
  count: number;
}

/** Rows by bytes, largest first, leaving out zeros. */
export function ranked(m: Map<string, TypeStats>): ObjectStatsRow[] {
  return [...m]
    .map(([type, s]) => ({ type, bytes: s.bytes, count: s.count }))
    .filter((r) => r.bytes !== 0 || r.count !== 0)
    .sort((a, b) => b.bytes - a.bytes);
}

/** Live bytes and counts of `after` minus `before`, per type. */
export function liveChange(before: GcObjectStats, after: GcObjectStats): ObjectStatsRow[] {
  const types = new Set([...before.live.keys(), ...after.live.keys()]);
  const rows: ObjectStatsRow[] = [];
  for (const t of types) {
    const a = after.live.get(t) ?? { bytes: 0, count: 0 };
    const b = before.live.get(t) ?? { bytes: 0, count: 0 };
    rows.push({ type: t, bytes: a.bytes - b.bytes, count: a.count - b.count });
  }
  return rows
    .filter((r) => r.bytes !== 0 || r.count !== 0)
    .sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes));
}

function main(): void {
  const [file, rowsArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/object-stats.ts <log> [rows]');
    process.exit(2);
  }
  const rows = Number(rowsArg) || 20;
  const gcs = parseObjectStats(readFileSync(file, 'utf8'));
  if (gcs.length === 0) {
    console.error(`${file}: no full GC with object statistics after a "${MARKER}" line`);
    process.exit(1);
  }
  const last = gcs[gcs.length - 1]!;
  const total = (r: ObjectStatsRow[]): number => r.reduce((a, x) => a + x.bytes, 0);
  const print = (title: string, list: ObjectStatsRow[]): void => {
    console.log(`\n${title} (${(total(list) / 1024).toFixed(1)} KiB in all):`);
    for (const r of list.slice(0, rows))
      console.log(
        `${(r.bytes / 1024).toFixed(1).padStart(9)} KiB ${String(r.count).padStart(7)}  ${r.type}`,
      );
  };
  print(`dead at the last full GC (${gcs.length} asked for)`, ranked(last.dead));
  if (gcs.length > 1)
    print('live: last full GC minus the one before', liveChange(gcs[gcs.length - 2]!, last));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
