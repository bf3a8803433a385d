/**
 * A diagnostic, not part of `npm run bench`: what one vendor-SDK adapter call costs in CPU and
 * leaves in V8's old generation, with a long-lived caller signal (as the agent's poller passes).
 * The old generation's growth over 50 000 calls is what young-generation GCs promoted (plus the
 * fake SDK's own call history, about 40 bytes a call, which a full GC keeps).
 *
 *   node --expose-gc --import tsx bench/sdk-signal-garbage.ts [repo dir]
 *
 * Give another checkout's directory to compare two versions of the library side by side.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as LibNs from '../src/index.js';

type Lib = typeof LibNs;
const repo = resolve(process.argv[2] ?? '.');
const lib = (await import(pathToFileURL(`${repo}/src/index.ts`).href)) as Lib;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const oldSpaceUsed = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;

const sdk = new lib.FakeVendorSdk({ counters: [{ name: 'uptime', value: 1, unit: 's' }] });
const adapter = lib.vendorSdkAdapter(sdk, { timeoutMs: 1000 });
await adapter.connect();
const poll = new AbortController();
for (let i = 0; i < 2000; i++) await adapter.readActiveErrors(poll.signal); // warm-up
gc();
const before = oldSpaceUsed();
const calls = 50_000;
const t0 = process.hrtime.bigint();
for (let i = 0; i < calls; i++) await adapter.readActiveErrors(poll.signal);
const t1 = process.hrtime.bigint();
const grown = oldSpaceUsed() - before;
gc();
const live = oldSpaceUsed() - before;
await adapter.close();
console.log(
  JSON.stringify({
    repo,
    calls,
    usPerCall: Math.round(Number(t1 - t0) / calls) / 1000,
    oldSpaceGrowthBytesPerCall: Math.round(grown / calls),
    liveAfterFullGcBytesPerCall: Math.round(live / calls),
  }),
);
