/**
 * Compares two V8 heap snapshots (`.heapsnapshot`, e.g. from OUTPOST_BENCH_HEAP_SNAPSHOTS with
 * agent-footprint): per node type and constructor, the change in count and self size, largest
 * growth first. Usage: `npx tsx bench/heap-diff.ts <first> <second> [rows]`. Then look for the
 * retainers of what grew in Chrome DevTools (Memory tab, "Comparison" view).
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function summarise(file: string): Map<string, { count: number; bytes: number }> {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = j.snapshot.meta.node_fields;
  const types = j.snapshot.meta.node_types[0];
  const width = fields.length;
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < j.nodes.length; i += width) {
    const type = types[j.nodes[i + ti]!] ?? '?';
    const name = /string$/.test(type) || type === 'code' ? '' : (j.strings[j.nodes[i + ni]!] ?? '');
    const key = `${type} ${name.slice(0, 80)}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += j.nodes[i + si]!;
    out.set(key, e);
  }
  return out;
}

const [first, second, rows = '30'] = process.argv.slice(2);
if (!first || !second) {
  console.error(
    'usage: npx tsx bench/heap-diff.ts <first.heapsnapshot> <second.heapsnapshot> [rows]',
  );
  process.exit(2);
}
const a = summarise(first);
const b = summarise(second);
const diff = [...new Set([...a.keys(), ...b.keys()])].map((k) => ({
  key: k,
  count: (b.get(k)?.count ?? 0) - (a.get(k)?.count ?? 0),
  bytes: (b.get(k)?.bytes ?? 0) - (a.get(k)?.bytes ?? 0),
}));
diff.sort((x, y) => y.bytes - x.bytes);
console.log(`self size change in all: ${diff.reduce((n, d) => n + d.bytes, 0)} bytes`);
for (const d of diff.slice(0, Number(rows))) console.log(d.bytes, d.count, d.key);
