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
 * Usage: `npx tsx bench/promoted-summary.ts <file.heapprofile> [rows]`.
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
/** Our code: the built bundle or the TypeScript sources, not a dependency. */
const ours = (f: CallFrame): boolean =>
  !f.url.includes('/node_modules/') && /\/(dist|src|cli)\//.test(f.url);

/** Bytes by leaf frame and by the innermost frame of our code on the stack. */
export function summarisePromoted(p: SamplingProfile): {
  totalBytes: number;
  byLeaf: PromotedRow[];
  byOurFrame: PromotedRow[];
} {
  const leaf = new Map<string, number>();
  const mine = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfileNode, stack: CallFrame[]): void => {
    const here = [...stack, n.callFrame];
    if (n.selfSize > 0) {
      total += n.selfSize;
      const l = frameName(n.callFrame);
      leaf.set(l, (leaf.get(l) ?? 0) + n.selfSize);
      let o: CallFrame | undefined;
      for (let i = here.length - 1; i >= 0 && !o; i--) if (ours(here[i]!)) o = here[i];
      const k = o ? frameName(o) : '(no frame of ours on the stack)';
      mine.set(k, (mine.get(k) ?? 0) + n.selfSize);
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
  const [file, rowsArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/promoted-summary.ts <file.heapprofile> [rows]');
    process.exit(2);
  }
  const rows = Number(rowsArg) || 25;
  const s = summarisePromoted(JSON.parse(readFileSync(file, 'utf8')) as SamplingProfile);
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
