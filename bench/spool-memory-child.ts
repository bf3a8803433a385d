/**
 * Child of the spool-memory bench (needs `node --expose-gc`): appends `n` telemetry records of
 * `size` bytes to a fresh FileSpool with no body kept in memory (`memoryBytes: 0`), acks none,
 * and prints one JSON line: the V8 heap the unacknowledged records hold, per record, after a
 * full GC before and after.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSpool } from '../src/spool/file-spool.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const n = Number(process.argv[2]);
const size = Number(process.argv[3]);
const dir = await mkdtemp(join(tmpdir(), 'outpost-spool-memory-'));
try {
  const spool = await FileSpool.open({ dir, memoryBytes: 0, maxBytes: 1024 * 1024 * 1024 });
  const body = new Uint8Array(size);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, n - i) }, () =>
        spool.append({ lane: 'telemetry', type: 'telemetry', body, samples: 15 }),
      ),
    );
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const stats = spool.stats();
  console.log(
    JSON.stringify({ records: stats.records, size, heapBytesPerRecord: (after - before) / n }),
  );
  await spool.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
