/**
 * Summarises a sampling heap profile written by agent-footprint's `service-unit-promoted`
 * (`.heapprofile`, the inspector's `HeapProfiler.getSamplingProfile` with the objects that a
 * scavenge collected left out): which functions allocated what outlived the young generation.
 * Between V8's full GCs that is what old space grows by, live or not.
 *
 * Two tables, largest first: by the allocating function (the leaf frame), and by the first frame
 * in Outpost's own code (the bundle under dist/, not node_modules, not Node's internals), which
 * says which of our calls led to the allocation even when a library or Node made it.
 *
 * With an earlier profile of the same process (`--since <earlier.heapprofile>`) only the samples
 * taken after it count (by sample ordinal): what the running service promoted in between, without
 * start-up. A sample still in the young generation when the profile was taken is counted too; with
 * `--until <middle.heapprofile>` only samples taken up to that profile count, so every counted
 * object has lived at least from the middle profile to the last (minutes: many scavenges). Frames under the inspector's own `post` (the profile being fetched) are left out.
 *
 * Usage: `npx tsx bench/promoted-summary.ts <file.heapprofile> [--since <earlier>] [--until <middle>] [rows]`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: ProfileNode[];
}
export interface SamplingProfile {
  head: ProfileNode;
  samples?: Array<{ size: number; nodeId: number; ordinal: number }>;
}

export interface PromotedRow {
  frame: string;
  bytes: number;
  share: number;
}

const frameName = (f: CallFrame): string => {
  const file = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:');
  return `${f.functionName || '(anonymous)'} ${file || '(native)'}:${f.lineNumber + 1}`;
};
/** The last sample's ordinal in a profile (0 when it has none). */
export function lastOrdinal(p: SamplingProfile): number {
  return (p.samples ?? []).reduce((m, s) => Math.max(m, s.ordinal), 0);
}
/** Our code: the built bundle or the TypeScript sources, not a dependency. */
const ours = (f: CallFrame): boolean =>
  !f.url.includes('/node_modules/') && /\/(dist|src|cli)\//.test(f.url);

/** The profiler's own allocations (the profile handed over by `Session.post`). */
const profilerOwn = (stack: readonly CallFrame[]): boolean =>
  stack.some((f) => f.functionName === 'post' && f.url === 'node:inspector');

/**
 * Bytes by leaf frame and by the innermost frame of our code on the stack. With `afterOrdinal`,
 * only samples taken after that ordinal count (the profile must carry `samples`).
 */
export function summarisePromoted(
  p: SamplingProfile,
  afterOrdinal?: number,
  upToOrdinal = Infinity,
): {
  totalBytes: number;
  byLeaf: PromotedRow[];
  byOurFrame: PromotedRow[];
} {
  const leaf = new Map<string, number>();
  const mine = new Map<string, number>();
  let total = 0;
  let bytesOf: ((n: ProfileNode) => number) | undefined;
  if (afterOrdinal !== undefined) {
    const byNode = new Map<number, number>();
    for (const s of p.samples ?? [])
      if (s.ordinal > afterOrdinal && s.ordinal <= upToOrdinal)
        byNode.set(s.nodeId, (byNode.get(s.nodeId) ?? 0) + s.size);
    bytesOf = (n) => byNode.get(n.id) ?? 0;
  }
  const walk = (n: ProfileNode, stack: CallFrame[]): void => {
    const here = [...stack, n.callFrame];
    const bytes = bytesOf ? bytesOf(n) : n.selfSize;
    if (bytes > 0 && !profilerOwn(here)) {
      total += bytes;
      const l = frameName(n.callFrame);
      leaf.set(l, (leaf.get(l) ?? 0) + bytes);
      let o: CallFrame | undefined;
      for (let i = here.length - 1; i >= 0 && !o; i--) if (ours(here[i]!)) o = here[i];
      const k = o ? frameName(o) : '(no frame of ours on the stack)';
      mine.set(k, (mine.get(k) ?? 0) + bytes);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(p.head, []);
  const rows = (m: Map<string, number>): PromotedRow[] =>
    [...m]
      .map(([frame, bytes]) => ({ frame, bytes, share: total > 0 ? bytes / total : 0 }))
      .sort((a, b) => b.bytes - a.bytes);
  return { totalBytes: total, byLeaf: rows(leaf), byOurFrame: rows(mine) };
}

function main(): void {
  const args = process.argv.slice(2);
  const sinceAt = args.indexOf('--since');
  const since = sinceAt >= 0 ? args.splice(sinceAt, 2)[1] : undefined;
  const untilAt = args.indexOf('--until');
  const until = untilAt >= 0 ? args.splice(untilAt, 2)[1] : undefined;
  const [file, rowsArg] = args;
  if (!file) {
    console.error(
      'usage: npx tsx bench/promoted-summary.ts <file.heapprofile> [--since <earlier>] [--until <middle>] [rows]',
    );
    process.exit(2);
  }
  const rows = Number(rowsArg) || 25;
  const read = (f: string): SamplingProfile =>
    JSON.parse(readFileSync(f, 'utf8')) as SamplingProfile;
  const s = summarisePromoted(
    read(file),
    since ? lastOrdinal(read(since)) : until ? 0 : undefined,
    until ? lastOrdinal(read(until)) : undefined,
  );
  const kib = (b: number): string => (b / 1024).toFixed(1).padStart(9);
  console.log(`sampled bytes that outlived a scavenge: ${kib(s.totalBytes)} KiB`);
  for (const [title, list] of [
    ['by allocating function', s.byLeaf],
    ['by innermost frame of our code', s.byOurFrame],
  ] as const) {
    console.log(`\n${title}:`);
    for (const r of list.slice(0, rows))
      console.log(`${kib(r.bytes)} KiB ${(r.share * 100).toFixed(1).padStart(5)} %  ${r.frame}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
