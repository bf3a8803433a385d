/**
 * agent-footprint: the agent's RSS and CPU at the default 60 s poll and at 10 polls per second,
 * and its RSS (and V8 heap) growth over the run.
 *
 * The real agent (`createAgent`, Modbus TCP adapter against the firmware simulator, the hub
 * over TLS 1.3 with a throwaway PKI and a SQLite file, `FileSpool` in a temp dir) runs in a
 * child process of its own, bundled by esbuild and started with plain `node` (bench/agent-child.ts).
 * Seven children run side by side for the whole run, so their figures share the machine's load:
 *
 * - `bare`: an empty Node process (IPC channel only): the floor;
 * - `loaded`: the agent's bundle loaded (what src/index.ts imports up front), nothing started;
 * - `poll-60s`: the agent with its defaults (full poll 60 s, error poll 1 s, telemetry sent every
 *   15 min, heartbeat, spool);
 * - `poll-10hz`: the same with `pollIntervalMs: 100` (the error poll is then folded into it);
 * - `poll-60s-lean`, `poll-10hz-lean`: the same two in a process started with
 *   `MALLOC_ARENA_MAX=2` and `node --single-threaded`, the settings docs/operations.md
 *   recommends for a process that runs the agent (reported, not in the verdict);
 * - `poll-10hz-live`: a second 10 polls/s agent, started with `--expose-gc`, that runs a full GC
 *   before each heap sample: its heapUsed is the live heap, and the slope of it (divided by the
 *   polls per second) is what each poll leaves behind. Its RSS is not a footprint figure (the
 *   forced GCs lower it); the other two agents are never forced;
 * - `poll-60s-unit`, `poll-10hz-unit`, `poll-60s-unit-lite`: the agent child with the systemd
 *   unit's node flags and environment (and `--lite-mode` on top for the last);
 * - `service-unit`: the real `outpost agent` command, started exactly as
 *   deploy/systemd/outpost-agent.service says (the verdict); `service-defaults`: the same
 *   command on Node's defaults.
 *
 * The parent (simulator, hub, this harness) reads /proc/<pid>/stat (utime + stime) and
 * /proc/<pid>/status (VmRSS) of each child every second, and asks the agents for
 * `process.memoryUsage()` over IPC every 10 s. CPU is the utime+stime difference over the
 * steady window divided by its wall time. Growth is the least-squares slope of RSS (and of
 * heapUsed) over the fit window, in MiB per hour.
 *
 * Default: 180 s (`--duration <n>s|m|h` changes it; `--duration 10m` is the short growth run);
 * `--soak` runs 1 hour, fits the last 50 minutes and writes agent-footprint-soak.json instead.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import {
  AgentProcess,
  benchOptions,
  buildAgentBundle,
  buildCliBundle,
  KIB_PER_MIB,
  loadAvg,
  MIB,
  optionFlags,
  ProcSampler,
  readSmaps,
  ServiceProcess,
  sleep,
  slope,
  unitProcessSettings,
  type ProcSample,
  type SmapsSummary,
} from './agent-kit.js';
import { growthVerdict, type GrowthVerdict } from './growth.js';
import { FileKeyProvider, saveEnrolment } from '../src/index.js';
import { median, nowNs, round, table, type Bench } from './lib.js';

const DEFAULT_DURATION_S = 180;
const SOAK_DURATION_S = 3600;
const HEAP_EVERY_MS = 10_000;
/**
 * OUTPOST_BENCH_FORCE_GC=1 (a diagnostic, not the footprint): the agents run with --expose-gc
 * and a full GC precedes every heap sample, so heapUsed is the live heap and its slope a leak;
 * RSS is then lower than in normal running. Writes agent-footprint-gc.json.
 */
const FORCE_GC = process.env.OUTPOST_BENCH_FORCE_GC === '1';
/**
 * OUTPOST_BENCH_HEAP_SNAPSHOTS=<dir> (a diagnostic): the `-live` agent also writes a V8 heap
 * snapshot to <dir> at the end of warm-up and at the end of the run (`--heapsnapshot-signal`),
 * and `service-unit-snap` (when named in OUTPOST_BENCH_FOOTPRINT_ONLY) at minute 20 and at the end;
 * compare them with `npx tsx bench/heap-diff.ts <first> <second>`.
 */
const SNAPSHOT_DIR = process.env.OUTPOST_BENCH_HEAP_SNAPSHOTS;
const TARGET_RSS_MIB = 64;
const TARGET_CPU_PCT = 0.5;

interface AgentSpec {
  name: string;
  deviceId: string;
  pollIntervalMs?: number;
  /** Process settings an OEM may choose for its own process (docs/benchmarks.md). */
  env?: Record<string, string>;
  execArgv?: readonly string[];
  /**
   * Started with deploy/systemd/outpost-agent.service's node flags and Environment= (read from
   * the unit at run time), then `execArgv` and `env` on top.
   */
  unit?: boolean;
  /** Full GC before every heap sample (`--expose-gc`): heapUsed is then the live heap. */
  gcBeforeHeapSample?: boolean;
}

const DEFAULT_AGENTS: readonly AgentSpec[] = [
  { name: 'poll-60s', deviceId: 'XR200-FOOTPRINT-60S' },
  {
    // The same agent in a process the device maker tuned for a small footprint: two glibc
    // malloc arenas instead of up to 8 per core, and V8's background threads off.
    name: 'poll-60s-lean',
    deviceId: 'XR200-FOOTPRINT-60S-LEAN',
    env: { MALLOC_ARENA_MAX: '2' },
    execArgv: ['--single-threaded'],
  },
  { name: 'poll-10hz', deviceId: 'XR200-FOOTPRINT-10HZ', pollIntervalMs: 100 },
  {
    name: 'poll-10hz-lean',
    deviceId: 'XR200-FOOTPRINT-10HZ-LEAN',
    pollIntervalMs: 100,
    env: { MALLOC_ARENA_MAX: '2' },
    execArgv: ['--single-threaded'],
  },
  {
    name: 'poll-10hz-live',
    deviceId: 'XR200-FOOTPRINT-10HZ-LIVE',
    pollIntervalMs: 100,
    gcBeforeHeapSample: true,
  },
  // The shipped unit's process settings on the bench's agent child (which reports its V8 heap
  // over IPC; the `service-unit` command below cannot), at both rates, and with --lite-mode on
  // top (docs/operations.md: smaller, but no WebAssembly, so no PAC files, and no optimising
  // compiler).
  { name: 'poll-60s-unit', deviceId: 'XR200-FOOTPRINT-60S-UNIT', unit: true },
  {
    name: 'poll-10hz-unit',
    deviceId: 'XR200-FOOTPRINT-10HZ-UNIT',
    pollIntervalMs: 100,
    unit: true,
  },
  {
    name: 'poll-60s-unit-lite',
    deviceId: 'XR200-FOOTPRINT-60S-LITE',
    unit: true,
    execArgv: ['--lite-mode'],
  },
];

/**
 * OUTPOST_BENCH_FOOTPRINT_VARIANTS=1 (a comparison, not the footprint verdict): instead of the
 * children above, agents at the 60 s poll (and three at 10 polls/s) each in a process with
 * other V8 flags on top of the lean settings, side by side. Writes agent-footprint-variants.json.
 */
const VARIANTS_MODE = process.env.OUTPOST_BENCH_FOOTPRINT_VARIANTS === '1';
const LEAN_ENV = { MALLOC_ARENA_MAX: '2' };
const lean = (name: string, flags: string[], pollIntervalMs?: number): AgentSpec => ({
  name,
  deviceId: `XR200-FP-${name.toUpperCase()}`,
  env: LEAN_ENV,
  execArgv: ['--single-threaded', ...flags],
  ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
});
const VARIANT_AGENTS: readonly AgentSpec[] = [
  { name: 'poll-60s', deviceId: 'XR200-FP-60S-DEFAULTS' },
  lean('poll-60s-lean', []),
  lean('60s-lean-ofs', ['--optimize-for-size']),
  lean('60s-lean-hgp10', ['--heap-growing-percent=10']),
  lean('60s-lean-lite', ['--lite-mode']),
  lean('60s-lean-maxlazy', ['--max-lazy']),
  lean('60s-lean-ofs-hgp10', ['--optimize-for-size', '--heap-growing-percent=10']),
  lean('60s-lean-semi1', ['--max-semi-space-size=1']),
  lean('60s-lean-old24', ['--max-old-space-size=24']),
  lean('10hz-lean', [], 100),
  lean('10hz-lean-ofs-hgp10', ['--optimize-for-size', '--heap-growing-percent=10'], 100),
  lean('10hz-lean-lite', ['--lite-mode'], 100),
  {
    ...lean('60s-lean-live', []),
    gcBeforeHeapSample: true,
  },
];
/**
 * OUTPOST_BENCH_FOOTPRINT_ONLY=<name>,<name> (for long soaks): only the named agent and service
 * children run (bare and loaded always do), so a multi-hour run loads the machine less.
 */
const ONLY = process.env.OUTPOST_BENCH_FOOTPRINT_ONLY?.split(',')
  .map((n) => n.trim())
  .filter((n) => n.length > 0);
const selected = <T extends { name: string }>(list: readonly T[]): readonly T[] =>
  ONLY ? list.filter((x) => ONLY.includes(x.name)) : list;

/**
 * The real `outpost agent` command (cli/outpost.ts bundled as dist/cli/outpost.js is), with a
 * configuration file and an enrolled keystore, at its defaults (60 s poll): `service-unit` is
 * started exactly as deploy/systemd/outpost-agent.service's ExecStart= and Environment= say
 * (read from that file), `service-defaults` with plain `node` and no environment change. No
 * IPC: RSS and CPU from /proc only; at the end each gets SIGTERM, as systemd stops it.
 */
interface ServiceSpec {
  name: string;
  deviceId: string;
  unit: boolean;
  /**
   * A leak diagnostic, not a footprint: the process also gets `--expose-gc` and a preload that
   * runs a full GC every this many ms and prints `process.memoryUsage()` right after it. The
   * series of those post-GC figures has no saw-tooth in it: if the live heap or the RSS left
   * after a full GC grows, something is kept; if they are flat, what the untouched service's RSS
   * does is V8 choosing when to collect.
   */
  forceGcEveryMs?: number;
  /**
   * Untouched but for `--trace-gc`: each full GC V8 chooses to run is a line on stdout, with the
   * heap's size after it. The heap left after V8's own full GCs, over hours, is the live heap of
   * the real service without any forced collection.
   */
  traceGc?: boolean;
  /**
   * Writes a V8 heap snapshot (`--heapsnapshot-signal`) at the end of the growth warm-up and at
   * the end of the run into OUTPOST_BENCH_HEAP_SNAPSHOTS: what the live heap gained in between,
   * by constructor (`bench/heap-diff.ts`). Each snapshot runs a full GC and costs memory, so this
   * process's RSS is not a footprint figure.
   */
  snapshots?: boolean;
  /**
   * V8's object statistics of the garbage: at minute 20 and at the end the service (SIGUSR2 to a
   * preload) runs two scavenges, so the young generation holds no garbage, then a full GC under
   * `--track-gc-object-stats --trace-gc-object-stats`, which prints the live and the dead bytes
   * per instance type. The second full GC's dead bytes are what the old generation gathered in
   * between: the young-generation GCs' promoted garbage, by kind (`bench/object-stats.ts`).
   * Needs OUTPOST_BENCH_SERVICE_LOGS.
   */
  objectStats?: boolean;
  /**
   * V8 flags added after the unit's: a candidate change to the unit's flags, soaked beside the
   * unit as it is (does the growth of compiled code stop without Sparkplug, without TurboFan, …).
   */
  extraNodeFlags?: readonly string[];
  /**
   * Accelerated aging: the service runs under libfaketime at this many times real time (its
   * timers, so its polls, heartbeats and flushes, fire this much more often), so a run of M
   * minutes shows M × rate minutes of the service's life. Only when named
   * (`service-unit-x5`, `service-unit-x20`).
   */
  timeRate?: number;
  /** Environment added to the unit's: a candidate glibc setting (CANDIDATES). */
  extraEnv?: Readonly<Record<string, string>>;
  /**
   * Runs the CLI of another checkout (OUTPOST_BENCH_BASELINE_REPO, e.g. a worktree of the commit
   * before a change) instead of this one's: the code as it was, soaked beside the change.
   */
  baseline?: boolean;
}
/** When set, each service's whole stdout and stderr go to `<dir>/<name>.log` too. */
const SERVICE_LOG_DIR = process.env.OUTPOST_BENCH_SERVICE_LOGS;
/**
 * Node flags added to every service (OUTPOST_BENCH_SERVICE_FLAGS, space-separated), e.g.
 * `--trace-gc --trace-gc-verbose` with OUTPOST_BENCH_SERVICE_LOGS: each space after each GC, for
 * `bench/gc-verbose.ts`. Tracing prints from C++ and leaves the JS heap alone.
 */
const SERVICE_EXTRA_FLAGS = (process.env.OUTPOST_BENCH_SERVICE_FLAGS ?? '')
  .split(/\s+/)
  .filter(Boolean);
/** A checkout whose cli/outpost.ts `service-unit-baseline` runs (only when named). */
const BASELINE_REPO = process.env.OUTPOST_BENCH_BASELINE_REPO;
/**
 * Candidates for the unit, each a service run only when named in OUTPOST_BENCH_FOOTPRINT_ONLY
 * (`service-unit-noopt`, …): the unit's settings plus these V8 flags and/or environment.
 */
interface Candidate {
  flags?: readonly string[];
  env?: Readonly<Record<string, string>>;
}
const CANDIDATES: Readonly<Record<string, Candidate>> = {
  // `--no-sparkplug`, a candidate in sessions 9 and 10, is in the unit since session 10.
  'service-unit-noopt': { flags: ['--no-opt'] },
  'service-unit-lite': { flags: ['--lite-mode'] },
  'service-unit-noflush': { flags: ['--no-flush-bytecode'] },
  // A quarter of V8's default tier-up budget (67 584): functions reach TurboFan in a quarter
  // of the calls, so a warm-up that takes hours at the 60 s poll would end sooner.
  'service-unit-budget': { flags: ['--interrupt-budget=16896'] },
  // The service's own full GC every 10 min (`startPeriodicFullGc`, cli/agent.ts), which runs only
  // when node exposes gc; with and without bytecode flushing (session 12).
  'service-unit-idlegc': { flags: ['--expose-gc'] },
  'service-unit-idlegc-noflush': { flags: ['--expose-gc', '--no-flush-bytecode'] },
  // The same periodic GC without compaction (session 14): session 13's smaps put the periodic
  // GC's extra rise in fresh 256 KiB heap pages and new code-range pages, which is where a
  // compacting GC moves what survives; without compaction V8 reuses the pages it has. Refuted in
  // session 14: the code range rose as with compaction and the heap pages faster.
  'service-unit-idlegc-nocompact': {
    flags: ['--expose-gc', '--no-compact', '--no-compact-code-space'],
  },
  // Session 15: no TurboFan under the unit as it is now (no Sparkplug, glibc's thresholds, no
  // Buffer pool), which session 9's `--no-opt` run predates, and the same with the service's own
  // full GC every 10 min: with no optimised code there is nothing for a full GC to throw away
  // and recompile (session 14's deopt trace), and without bytecode flushing a function run
  // hourly is not compiled again after each GC. Result: 4.6 MiB below the unit, and level under
  // 20x aging after a warm-up of about 3.5 agent-hours, but +0.07 MiB/h over the first two real
  // hours, so not a fix by that session's rule.
  'service-unit-noopt-idlegc': { flags: ['--no-opt', '--expose-gc', '--no-flush-bytecode'] },
  // The same with every function compiled, and its feedback allocated, at its first call or
  // before: is the warm-up above (the live heap 6.6 -> 6.8 MB over 3.5 agent-hours) bytecode and
  // feedback of paths run for the first time? Then it happens at start-up instead.
  'service-unit-noopt-idlegc-eager': {
    flags: [
      '--no-opt',
      '--expose-gc',
      '--no-flush-bytecode',
      '--no-lazy',
      '--no-lazy-feedback-allocation',
    ],
  },
  // Session 16: eager compilation with TurboFan kept, and the periodic full GC: is --no-opt
  // needed once nothing is compiled lazily after start-up?
  'service-unit-idlegc-eager': {
    flags: ['--expose-gc', '--no-flush-bytecode', '--no-lazy', '--no-lazy-feedback-allocation'],
  },
  // Session 16 (second rule): the same with TurboFan's tier-up budget 64x and 256x V8's default
  // (67 584). A function run once a minute by the 60 s poll reaches TurboFan after hours at the
  // default, one by one (the slow code growth of sessions 8-14); at 64x that takes days, at 256x
  // weeks, while the bulk path's hot functions, run thousands of times a second, still do in
  // seconds. The 256x set is in the unit since session 16, so as a candidate it now repeats the
  // unit's own flags.
  'service-unit-idlegc-eager-budget64': {
    flags: [
      '--expose-gc',
      '--no-flush-bytecode',
      '--no-lazy',
      '--no-lazy-feedback-allocation',
      '--interrupt-budget=4325376',
    ],
  },
  'service-unit-idlegc-eager-budget256': {
    flags: [
      '--expose-gc',
      '--no-flush-bytecode',
      '--no-lazy',
      '--no-lazy-feedback-allocation',
      '--interrupt-budget=17301504',
    ],
  },
  // glibc: does the growth sit in a malloc arena of another thread, or in chunks malloc maps
  // for itself? One arena for every thread: what the unit's second arena holds moves into the
  // main heap.
  'service-unit-arena1': { env: { MALLOC_ARENA_MAX: '1' } },
  // `service-unit-mmap` (glibc's mmap and trim thresholds fixed at 128 KiB), a candidate in
  // sessions 11 and 13, is in the unit since session 13.
};
/** What a candidate adds to the unit, as a reader would type it. */
function candidateSettings(c: Candidate): string {
  return [...Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v}`), ...(c.flags ?? [])].join(
    ' ',
  );
}
/** The service of candidate `name` (with `suffix` for a variant) and the unit's settings. */
function candidateService(name: string, c: Candidate, suffix = ''): ServiceSpec {
  return {
    name: `${name}${suffix}`,
    deviceId: `XR200-FOOTPRINT-${`${name}${suffix}`.slice('service-'.length).toUpperCase()}`,
    unit: true,
    ...(c.flags ? { extraNodeFlags: c.flags } : {}),
    ...(c.env ? { extraEnv: c.env } : {}),
  };
}
/**
 * When set, every process's whole /proc/<pid>/smaps is copied to `<dir>/<name>-<minute>.smaps`
 * at each smaps sample (every 10 min), for `bench/smaps-diff.ts`: which mappings grow.
 */
const SMAPS_DUMP_DIR = process.env.OUTPOST_BENCH_SMAPS_DIR;
/**
 * Accelerated-aging rates: `service-unit-x5`, `service-unit-x20` (only when named), and x1, the
 * control: libfaketime loaded but time at its real rate, which shows what the interposer itself
 * costs (every clock read goes through it).
 */
const AGING_RATES = [1, 5, 20] as const;
/** Debian's libfaketime (package `faketime`), the multithreaded build: node runs threads. */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
/** The environment that runs a process at `rate` times real time from now. */
function fakeTimeEnv(rate: number): Record<string, string> {
  if (!existsSync(LIBFAKETIME))
    throw new Error(`accelerated aging needs ${LIBFAKETIME}: apt-get install faketime`);
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: `+0 x${rate}` };
}
/**
 * The same candidates on the bench's agent child at 10 polls/s (`poll-10hz-unit-noopt`,
 * …, only when named): what a candidate costs in CPU where the agent is busy.
 */
const CANDIDATE_AGENTS: readonly AgentSpec[] = Object.entries(CANDIDATES)
  .filter(([, c]) => c.env === undefined)
  .map(([name, c]) => ({
    name: `poll-10hz-unit-${name.slice('service-unit-'.length)}`,
    deviceId: `XR200-FOOTPRINT-10HZ-${name.slice('service-unit-'.length).toUpperCase()}`,
    pollIntervalMs: 100,
    unit: true,
    execArgv: [...(c.flags ?? [])],
  }));
const AGENTS: readonly AgentSpec[] = selected(
  VARIANTS_MODE ? VARIANT_AGENTS : [...DEFAULT_AGENTS, ...(ONLY ? CANDIDATE_AGENTS : [])],
);
/** OUTPOST_BENCH_FORCED_GC_EVERY_S changes it (300 s by default). */
const FORCED_GC_EVERY_MS = (Number(process.env.OUTPOST_BENCH_FORCED_GC_EVERY_S) || 300) * 1000;
const SMAPS_EVERY_MS = 600_000;
const SERVICES: readonly ServiceSpec[] = VARIANTS_MODE
  ? []
  : [
      ...selected([
        { name: 'service-unit', deviceId: 'XR200-FOOTPRINT-UNIT', unit: true },
        { name: 'service-defaults', deviceId: 'XR200-FOOTPRINT-SVC', unit: false },
      ]),
      // Only when asked for by name (OUTPOST_BENCH_FOOTPRINT_ONLY=service-unit,service-unit-gc).
      ...(ONLY?.includes('service-unit-gc')
        ? [
            {
              name: 'service-unit-gc',
              deviceId: 'XR200-FOOTPRINT-UNIT-GC',
              unit: true,
              forceGcEveryMs: FORCED_GC_EVERY_MS,
            },
          ]
        : []),
      ...(ONLY?.includes('service-unit-snap') && SNAPSHOT_DIR
        ? [
            {
              name: 'service-unit-snap',
              deviceId: 'XR200-FOOTPRINT-UNIT-SNAP',
              unit: true,
              snapshots: true,
            },
          ]
        : []),
      ...(ONLY?.includes('service-unit-objstats') && SERVICE_LOG_DIR
        ? [
            {
              name: 'service-unit-objstats',
              deviceId: 'XR200-FOOTPRINT-UNIT-OBJSTATS',
              unit: true,
              objectStats: true,
            },
          ]
        : []),
      ...(ONLY?.includes('service-unit-baseline') && BASELINE_REPO
        ? [
            {
              name: 'service-unit-baseline',
              deviceId: 'XR200-FOOTPRINT-UNIT-BASELINE',
              unit: true,
              baseline: true,
            },
          ]
        : []),
      ...(ONLY?.includes('service-unit-trace')
        ? [
            {
              name: 'service-unit-trace',
              deviceId: 'XR200-FOOTPRINT-UNIT-TRACE',
              unit: true,
              traceGc: true,
            },
          ]
        : []),
      ...Object.entries(CANDIDATES)
        .filter(([name]) => ONLY?.includes(name))
        .map(([name, c]) => candidateService(name, c)),
      // The unit or a candidate under accelerated aging (`service-unit-x20`,
      // `service-unit-idlegc-noflush-x20`, …).
      ...AGING_RATES.flatMap((rate) =>
        Object.entries({ 'service-unit': {}, ...CANDIDATES })
          .filter(([name]) => ONLY?.includes(`${name}-x${rate}`))
          .map(([name, c]) => ({ ...candidateService(name, c, `-x${rate}`), timeRate: rate })),
      ),
      // A candidate with the forced-GC diagnostic (`service-unit-noopt-gc`, …): does the
      // live heap left after each full GC stay level with the candidate's settings?
      ...Object.entries(CANDIDATES)
        .filter(([name]) => ONLY?.includes(`${name}-gc`))
        .map(([name, c]) => ({
          ...candidateService(name, c, '-gc'),
          forceGcEveryMs: FORCED_GC_EVERY_MS,
        })),
    ];
/**
 * `--trace-gc`'s full-GC lines: `[pid:0x…]  123456 ms: Mark-Compact (reduce) 6.2 (8.9) -> 5.9
 * (8.4) MB, …` → [ms since the isolate started, heap MB before, heap MB after, reason].
 */
function traceGcFullGcs(lines: readonly string[]): Array<[number, number, number, string]> {
  const out: Array<[number, number, number, string]> = [];
  const sizes = /\s(\d+) ms: Mark-Compact (\(reduce\) )?([\d.]+) \([\d.]+\) -> ([\d.]+) \(/;
  for (const line of lines) {
    const m = sizes.exec(line);
    if (!m) continue;
    // The reason is what follows the last parenthesis: "allocation failure; …", "idle task", …
    const reason = (/\) ([^()]*)$/.exec(line)?.[1] ?? '').trim();
    out.push([Number(m[1]), Number(m[3]), Number(m[4]), `${m[2] ? 'reduce: ' : ''}${reason}`]);
  }
  return out;
}
/** The preload of `forceGcEveryMs` services (CommonJS, so `--require` takes it before the CLI). */
const FORCED_GC_PRELOAD = `'use strict';
const every = Number(process.env.OUTPOST_BENCH_GC_EVERY_MS);
const t0 = Date.now();
setInterval(() => {
  globalThis.gc();
  const m = process.memoryUsage();
  process.stdout.write('outpost-bench-gc ' + JSON.stringify([Date.now() - t0, m.rss, m.heapUsed, m.heapTotal, m.external]) + '\\n');
}, every).unref();
`;
/** The preload of `objectStats` services: on SIGUSR2, empty the young generation, then a full GC. */
const OBJECT_STATS_PRELOAD = `'use strict';
process.on('SIGUSR2', () => {
  globalThis.gc({ type: 'minor' });
  globalThis.gc({ type: 'minor' });
  process.stdout.write('outpost-bench-objstats full GC\\n');
  globalThis.gc();
});
`;
/** Lines the preload printed: [ms since start, rss, heapUsed, heapTotal, external] (bytes). */
function forcedGcSamples(
  lines: readonly string[],
): Array<[number, number, number, number, number]> {
  const out: Array<[number, number, number, number, number]> = [];
  for (const line of lines) {
    if (!line.startsWith('outpost-bench-gc ')) continue;
    const v = JSON.parse(line.slice('outpost-bench-gc '.length)) as unknown;
    if (Array.isArray(v) && v.length === 5 && v.every((x) => typeof x === 'number'))
      out.push(v as [number, number, number, number, number]);
  }
  return out;
}
const NAMES = ['bare', 'loaded', ...AGENTS.map((a) => a.name), ...SERVICES.map((s) => s.name)];

interface HeapSample {
  tMs: number;
  polls: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

interface ProcessResult {
  process: string;
  samples: number;
  rssMiB: { first: number; steadyMedian: number; steadyMax: number; last: number };
  /** RssAnon (private memory; VmRSS also counts the node binary's file pages, ~36 MiB). */
  rssAnonMiB: { steadyMedian: number; steadyMax: number };
  rssAnonSlopeMiBPerHour: number;
  /** utime+stime over the steady window / its wall time. */
  cpuPctOfOneCore: number;
  cpuSecondsInWindow: number;
  windowS: number;
  rssSlopeMiBPerHour: number;
  heapUsedSlopeMiBPerHour?: number;
  /** Slope of the per-minute minima of heapUsed (what survives GC). */
  heapUsedMinimaSlopeMiBPerHour?: number;
  /**
   * Device reads (full and error-register polls) per second over the fit window, and heapUsed
   * slope / that rate: bytes per read (meaningful for the `-live` agent, whose samples follow a
   * full GC).
   */
  pollsPerSecond?: number;
  heapBytesPerPoll?: number;
  /**
   * heapUsed slope over the second half of the fit window only, and bytes per read there: the
   * first minutes still include warm-up (compiled code, type feedback) even in the live heap.
   */
  heapUsedSlopeLastHalfMiBPerHour?: number;
  heapBytesPerPollLastHalf?: number;
  /** Whether heap samples followed a forced full GC (the `-live` agent). */
  heapSamplesAfterGc?: boolean;
  heapMiB?: { heapUsedMedian: number; heapTotalMedian: number; externalMedian: number };
  /** V8 heap spaces at the end of the run (asked once sampling is over): committed / used KiB. */
  heapSpacesKiB?: Record<string, [number, number]>;
  agentStats?: unknown;
  /** `outpost agent` children: exit status after SIGTERM (0 expected). */
  exitOnSigterm?: number | null;
  /** RSS (MiB) every minute, for the record: the sample at the start of each minute. */
  rssPerMinuteMiB: number[];
  /** The median of each minute's 1 s RSS samples (MiB): what the growth verdict reads. */
  rssPerMinuteMedianMiB: number[];
  /** bench/growth.ts on rssPerMinuteMedianMiB, for runs of 50 minutes or more. */
  rssGrowth?: GrowthVerdict;
  /** Why there is no verdict (a minute without samples). */
  rssGrowthError?: string;
  /** /proc/<pid>/smaps by kind of mapping, every 10 minutes: [minute, exe, malloc heap, anon, other] KiB. */
  smapsKiB?: Array<[number, number, number, number, number]>;
  /** `service-unit-trace`: V8's own full GCs, [s since start, heap MB before, after, reason]. */
  fullGcs?: Array<[number, number, number, string]>;
  /**
   * `service-unit-gc`: after each forced full GC, [s since start, rss, heapUsed, heapTotal,
   * external] (MiB), and the slopes of RSS and heapUsed over them from the warm-up on (MiB/h).
   */
  forcedGc?: {
    everyS: number;
    samples: Array<[number, number, number, number, number]>;
    fromS: number;
    rssSlopeMiBPerHour: number;
    heapUsedSlopeMiBPerHour: number;
  };
  /** Every heap sample: seconds since start, heapUsed, heapTotal, external and arrayBuffers (MiB). */
  heapSeries?: Array<[number, number, number, number, number]>;
}

/** Minutes dropped before the growth verdict: start-up, first connects, first telemetry send. */
const GROWTH_WARMUP_MIN = 20;

/** The median RSS (KiB) of each whole minute of 1 s samples. */
function perMinuteMedian(samples: readonly ProcSample[]): number[] {
  const byMinute: number[][] = [];
  for (const s of samples) (byMinute[Math.floor(s.tMs / 60_000)] ??= []).push(s.rssKiB);
  const last = samples[samples.length - 1];
  // The last minute counts only if it is whole.
  const whole = last ? Math.floor((last.tMs + 1000) / 60_000) : 0;
  // Array.from, not map: a minute with no sample is a hole that map would skip.
  return Array.from({ length: whole }, (_, i) => {
    const v = byMinute[i];
    return v && v.length > 0 ? median(v) : Number.NaN;
  });
}

function analyse(
  name: string,
  samples: ProcSample[],
  steadyFromMs: number,
  fitFromMs: number,
  heap: HeapSample[] | undefined,
): ProcessResult {
  const steady = samples.filter((s) => s.tMs >= steadyFromMs);
  const fit = samples.filter((s) => s.tMs >= fitFromMs);
  const a = steady[0];
  const b = steady[steady.length - 1];
  const windowS = a && b ? (b.tMs - a.tMs) / 1000 : Number.NaN;
  const cpuS = a && b ? b.cpuS - a.cpuS : Number.NaN;
  const mib = (kib: number): number => round(kib / KIB_PER_MIB, 1);
  const perHour = (ms: readonly number[], v: readonly number[]): number =>
    round(slope(ms, v) * 3_600_000, 2);
  const result: ProcessResult = {
    process: name,
    samples: samples.length,
    rssMiB: {
      first: mib(samples[0]?.rssKiB ?? Number.NaN),
      steadyMedian: mib(median(steady.map((s) => s.rssKiB))),
      steadyMax: mib(Math.max(...steady.map((s) => s.rssKiB))),
      last: mib(samples[samples.length - 1]?.rssKiB ?? Number.NaN),
    },
    rssAnonMiB: {
      steadyMedian: mib(median(steady.map((s) => s.rssAnonKiB))),
      steadyMax: mib(Math.max(...steady.map((s) => s.rssAnonKiB))),
    },
    rssAnonSlopeMiBPerHour: perHour(
      fit.map((s) => s.tMs),
      fit.map((s) => s.rssAnonKiB / KIB_PER_MIB),
    ),
    cpuPctOfOneCore: round((cpuS / windowS) * 100, 3),
    cpuSecondsInWindow: round(cpuS, 2),
    windowS: round(windowS, 1),
    rssSlopeMiBPerHour: perHour(
      fit.map((s) => s.tMs),
      fit.map((s) => s.rssKiB / KIB_PER_MIB),
    ),
    rssPerMinuteMiB: samples.filter((_, i) => i % 60 === 0).map((s) => mib(s.rssKiB)),
    rssPerMinuteMedianMiB: perMinuteMedian(samples).map((kib) => round(kib / KIB_PER_MIB, 2)),
  };
  if (result.rssPerMinuteMedianMiB.length >= GROWTH_WARMUP_MIN + 30) {
    try {
      result.rssGrowth = growthVerdict(result.rssPerMinuteMedianMiB, {
        warmupMinutes: GROWTH_WARMUP_MIN,
      });
    } catch (err) {
      // A minute without samples (the sampler starved): keep the run's figures, say why not.
      result.rssGrowthError = err instanceof Error ? err.message : String(err);
    }
  }
  if (heap && heap.length > 0) {
    const hf = heap.filter((h) => h.tMs >= fitFromMs);
    const hs = heap.filter((h) => h.tMs >= steadyFromMs);
    result.heapUsedSlopeMiBPerHour = perHour(
      hf.map((h) => h.tMs),
      hf.map((h) => h.heapUsed / MIB),
    );
    const minima = new Map<number, HeapSample>();
    for (const h of hf) {
      const minute = Math.floor(h.tMs / 60_000);
      const m = minima.get(minute);
      if (!m || h.heapUsed < m.heapUsed) minima.set(minute, h);
    }
    const mins = [...minima.values()];
    if (mins.length >= 3)
      result.heapUsedMinimaSlopeMiBPerHour = perHour(
        mins.map((h) => h.tMs),
        mins.map((h) => h.heapUsed / MIB),
      );
    const perRead = (series: HeapSample[]): { rate: number; bytes: number } | undefined => {
      const first = series[0];
      const last = series[series.length - 1];
      if (!first || !last || !(last.tMs > first.tMs)) return undefined;
      const rate = (last.polls - first.polls) / ((last.tMs - first.tMs) / 1000);
      const bytesPerMs = slope(
        series.map((h) => h.tMs),
        series.map((h) => h.heapUsed),
      );
      return { rate, bytes: rate > 0 ? (bytesPerMs * 1000) / rate : Number.NaN };
    };
    const whole = perRead(hf);
    if (whole) {
      result.pollsPerSecond = round(whole.rate, 2);
      result.heapBytesPerPoll = round(whole.bytes, 1);
    }
    const half = hf.filter((h) => h.tMs >= (hf[0]!.tMs + hf[hf.length - 1]!.tMs) / 2);
    const late = perRead(half);
    if (late && half.length >= 3) {
      result.heapUsedSlopeLastHalfMiBPerHour = perHour(
        half.map((h) => h.tMs),
        half.map((h) => h.heapUsed / MIB),
      );
      result.heapBytesPerPollLastHalf = round(late.bytes, 1);
    }
    result.heapSeries = heap.map((h) => [
      round(h.tMs / 1000, 0),
      round(h.heapUsed / MIB, 3),
      round(h.heapTotal / MIB, 2),
      round(h.external / MIB, 3),
      round(h.arrayBuffers / MIB, 3),
    ]);
    result.heapMiB = {
      heapUsedMedian: round(median(hs.map((h) => h.heapUsed)) / MIB, 1),
      heapTotalMedian: round(median(hs.map((h) => h.heapTotal)) / MIB, 1),
      externalMedian: round(median(hs.map((h) => h.external)) / MIB, 1),
    };
  }
  return result;
}

export const agentFootprintBench: Bench = {
  name: 'agent-footprint',
  description: 'agent RSS and CPU at the 60 s poll and at 10 polls/s, RSS growth (--soak: 1 h)',
  async run(log) {
    const t0 = nowNs();
    const loadAtStart = loadAvg();
    const soak = benchOptions.soak;
    const durationS = benchOptions.durationS ?? (soak ? SOAK_DURATION_S : DEFAULT_DURATION_S);
    // The first sixth (at most 10 min) is warm-up: start-up, first connect, first polls, JIT.
    const steadyFromMs = Math.min(600, durationS / 6) * 1000;
    // Growth is fitted over the last 50 minutes of an hour (or the last 5/6 of a shorter run).
    const fitFromMs = steadyFromMs;
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-footprint-'));
    const children: AgentProcess[] = [];
    const services: ServiceProcess[] = [];
    const exitCodes = new Map<string, number | null>();
    let sim: Simulator | undefined;
    let hub: Hub | undefined;
    let sampler: ProcSampler | undefined;
    let heapTimer: NodeJS.Timeout | undefined;
    let smapsTimer: NodeJS.Timeout | undefined;
    const smaps = new Map<string, Array<[number, number, number, number, number]>>();
    let unit: Awaited<ReturnType<typeof unitProcessSettings>> | undefined;
    const heap = new Map<string, HeapSample[]>(AGENTS.map((a) => [a.name, []]));
    const results: ProcessResult[] = [];
    const finalStats = new Map<string, unknown>();
    const finalSpaces = new Map<string, Record<string, [number, number]>>();
    try {
      const bundle = await buildAgentBundle(dir);
      const pki = await createTestPki({
        deviceIds: [...AGENTS.map((a) => a.deviceId), ...SERVICES.map((s) => s.deviceId)],
        hubName: 'footprint-bench-hub',
      });
      sim = await startSimulator({ seed: 42, controlPort: false });
      hub = await startHub({
        tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
        dbPath: join(dir, 'hub.sqlite'),
        hubId: 'footprint-bench-hub',
      });
      unit = await unitProcessSettings();
      const bare = await AgentProcess.spawn(bundle.bare, [], true);
      children.push(bare);
      const loaded = await AgentProcess.spawn(bundle.agent, ['--loaded']);
      children.push(loaded);
      const agents: AgentProcess[] = [];
      for (const spec of AGENTS) {
        const keys = nacl.sign.keyPair();
        hub.registerDevice(spec.deviceId, keys.publicKey);
        const device = pki.devices[spec.deviceId]!;
        const child = await AgentProcess.spawn(
          bundle.agent,
          [],
          false,
          [
            ...(spec.unit ? unit.nodeFlags : []),
            ...(spec.execArgv ?? []),
            ...(FORCE_GC || spec.gcBeforeHeapSample ? ['--expose-gc'] : []),
            ...(SNAPSHOT_DIR && spec.gcBeforeHeapSample
              ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${SNAPSHOT_DIR}`]
              : []),
          ],
          spec.unit ? { ...unit.env, ...spec.env } : spec.env,
        );
        children.push(child);
        agents.push(child);
        await child.start({
          hubUrl: hub.url,
          caPem: pki.ca.certPem,
          certPem: device.certPem,
          keyPem: device.keyPem,
          secretKey: [...keys.secretKey],
          hubIdentityKey: [...hub.identityPublicKey],
          simPort: sim.modbusPort,
          spoolDir: join(dir, `spool-${spec.name}`),
          ...(spec.pollIntervalMs === undefined ? {} : { pollIntervalMs: spec.pollIntervalMs }),
        });
      }
      const cli = SERVICES.length > 0 ? buildCliBundle(dir) : '';
      const baselineCli =
        BASELINE_REPO && SERVICES.some((x) => x.baseline)
          ? buildCliBundle(dir, join(BASELINE_REPO, 'cli/outpost.ts'), 'cli-baseline')
          : '';
      for (const svc of SERVICES) {
        const keys = nacl.sign.keyPair();
        hub.registerDevice(svc.deviceId, keys.publicKey);
        const device = pki.devices[svc.deviceId]!;
        const sdir = join(dir, svc.name);
        await mkdir(sdir);
        const sealingKeyFile = join(sdir, 'sealing.key');
        // What `outpost agent enrol` leaves behind, made here from the bench's PKI.
        await saveEnrolment(join(sdir, 'keystore'), await FileKeyProvider.create(sealingKeyFile), {
          deviceId: svc.deviceId,
          identity: { publicKey: keys.publicKey, secretKey: keys.secretKey },
          tls: {
            certPem: device.certPem,
            keyPem: device.keyPem,
            notAfterMs: Date.parse(new X509Certificate(device.certPem).validTo),
          },
          hubCaPems: [pki.ca.certPem],
          hubIdentityKey: hub.identityPublicKey,
        });
        await writeFile(join(sdir, 'hub-ca.pem'), pki.ca.certPem);
        const configFile = join(sdir, 'agent.json');
        await writeFile(
          configFile,
          JSON.stringify({
            deviceId: svc.deviceId,
            hub: { url: hub.url, caFile: 'hub-ca.pem', servername: 'localhost' },
            keystore: { path: 'keystore', sealingKeyFile: 'sealing.key' },
            spool: { dir: 'spool' },
            adapter: { type: 'modbus-tcp', host: '127.0.0.1', port: sim.modbusPort },
            logLevel: 'warn',
          }),
        );
        let gcFlags: string[] = [];
        let gcEnv: Record<string, string> = {};
        if (svc.forceGcEveryMs !== undefined) {
          const preload = join(dir, 'forced-gc.cjs');
          await writeFile(preload, FORCED_GC_PRELOAD);
          gcFlags = ['--expose-gc', '--require', preload];
          gcEnv = { OUTPOST_BENCH_GC_EVERY_MS: String(svc.forceGcEveryMs) };
        }
        // OUTPOST_BENCH_TRACE_GC_FLAGS adds e.g. --trace-gc-verbose (each space after each GC).
        if (svc.traceGc)
          gcFlags = [
            '--trace-gc',
            ...(process.env.OUTPOST_BENCH_TRACE_GC_FLAGS ?? '').split(/\s+/).filter(Boolean),
          ];
        if (svc.objectStats) {
          const preload = join(dir, 'object-stats.cjs');
          await writeFile(preload, OBJECT_STATS_PRELOAD);
          gcFlags = [
            '--expose-gc',
            '--track-gc-object-stats',
            '--trace-gc-object-stats',
            '--require',
            preload,
          ];
        }
        const proc = new ServiceProcess(
          svc.baseline ? baselineCli : cli,
          configFile,
          [
            ...(svc.unit ? unit.nodeFlags : []),
            ...gcFlags,
            ...(svc.extraNodeFlags ?? []),
            ...SERVICE_EXTRA_FLAGS,
          ],
          {
            ...(svc.unit ? unit.env : {}),
            ...gcEnv,
            ...svc.extraEnv,
            ...(svc.timeRate !== undefined ? fakeTimeEnv(svc.timeRate) : {}),
          },
          SERVICE_LOG_DIR ? join(SERVICE_LOG_DIR, `${svc.name}.log`) : undefined,
        );
        services.push(proc);
        const h = hub;
        const deadline = Date.now() + 30_000;
        while (!h.isConnected(svc.deviceId)) {
          if (Date.now() > deadline)
            throw new Error(`${svc.name} did not connect in 30 s: ${proc.output}`);
          await sleep(100);
        }
      }
      const started = Date.now();
      const pids: Record<string, number> = {
        bare: bare.pid,
        loaded: loaded.pid,
        ...Object.fromEntries(AGENTS.map((a, i) => [a.name, agents[i]!.pid])),
        ...Object.fromEntries(SERVICES.map((s, i) => [s.name, services[i]!.pid])),
      };
      sampler = new ProcSampler(pids);
      const takeSmaps = (): void => {
        const minute = Math.round((Date.now() - started) / 60_000);
        for (const [name, pid] of Object.entries(pids)) {
          if (SMAPS_DUMP_DIR)
            void readFile(`/proc/${pid}/smaps`, 'utf8')
              .then((text) => writeFile(join(SMAPS_DUMP_DIR, `${name}-${minute}.smaps`), text))
              .catch(() => undefined);
          void readSmaps(pid).then((m?: SmapsSummary) => {
            if (m)
              (smaps.get(name) ?? smaps.set(name, []).get(name)!).push([
                minute,
                m.exeKiB,
                m.mallocHeapKiB,
                m.anonKiB,
                m.otherKiB,
              ]);
          });
        }
      };
      takeSmaps();
      smapsTimer = setInterval(takeSmaps, SMAPS_EVERY_MS);
      heapTimer = setInterval(() => {
        for (const [i, a] of AGENTS.entries()) {
          agents[i]!.stats(10_000, FORCE_GC || a.gcBeforeHeapSample === true)
            .then((s) => {
              // Device reads: full polls and error-register polls (the 60 s agent's are 1/s).
              const st = s.stats as { polls?: number; errorPolls?: number } | null;
              const polls = (st?.polls ?? 0) + (st?.errorPolls ?? 0);
              heap.get(a.name)!.push({ tMs: Date.now() - started, polls, ...s.memory });
            })
            .catch(() => undefined);
        }
      }, HEAP_EVERY_MS);
      log(
        `running ${durationS} s: ${NAMES.join(', ')} (agent children' pids ${children.map((c) => c.pid).join(', ')})`,
      );
      const liveIndex = AGENTS.findIndex((a) => a.gcBeforeHeapSample === true);
      const snapshot = (): void => {
        if (SNAPSHOT_DIR && liveIndex >= 0) process.kill(agents[liveIndex]!.pid, 'SIGUSR2');
      };
      const snapshotTimer = setTimeout(snapshot, steadyFromMs);
      const snapServices = (): void => {
        for (const [i, svc] of SERVICES.entries())
          if (svc.snapshots || svc.objectStats) process.kill(services[i]!.pid, 'SIGUSR2');
      };
      const serviceSnapshotTimer = setTimeout(snapServices, GROWTH_WARMUP_MIN * 60_000);
      const progressEveryMs = soak || durationS > 900 ? 300_000 : 60_000;
      for (let at = progressEveryMs; at < durationS * 1000; at += progressEveryMs) {
        await sleep(Math.max(0, started + at - Date.now()));
        const last = (k: string): string => {
          const s = sampler!.samples.get(k)!;
          return String(round((s[s.length - 1]?.rssKiB ?? 0) / KIB_PER_MIB, 1));
        };
        log(
          `  [${Math.round(at / 1000)} s] RSS MiB ${NAMES.map((k) => `${k} ${last(k)}`).join(', ')}; load ${loadAvg().join(' ')}`,
        );
      }
      await sleep(Math.max(0, started + durationS * 1000 - Date.now()));
      clearTimeout(snapshotTimer);
      clearTimeout(serviceSnapshotTimer);
      if (SNAPSHOT_DIR) {
        snapshot();
        snapServices();
        await sleep(15_000); // writing a snapshot takes seconds and blocks that agent
      }
      clearInterval(heapTimer);
      clearInterval(smapsTimer);
      sampler.stop();
      for (const [i, a] of AGENTS.entries()) {
        // Heap spaces only now: asking loads node:v8 into the agent's process.
        const last = await agents[i]!.stats(10_000, false, true);
        finalStats.set(a.name, last.stats);
        finalSpaces.set(
          a.name,
          Object.fromEntries(
            (last.heapSpaces ?? [])
              .filter(([, committed]) => committed > 0)
              .map(([n, committed, used]) => [
                n.replace(/_space$/, ''),
                [round(committed / 1024, 0), round(used / 1024, 0)],
              ]),
          ),
        );
      }
      for (const [i, svc] of SERVICES.entries())
        exitCodes.set(svc.name, await services[i]!.terminate());
      for (const name of NAMES) {
        const r = analyse(
          name,
          sampler.samples.get(name)!,
          steadyFromMs,
          fitFromMs,
          heap.get(name),
        );
        if (finalStats.has(name)) r.agentStats = finalStats.get(name);
        if (exitCodes.has(name)) r.exitOnSigterm = exitCodes.get(name);
        if (finalSpaces.has(name)) r.heapSpacesKiB = finalSpaces.get(name);
        if (smaps.has(name)) r.smapsKiB = smaps.get(name);
        const svcIndex = SERVICES.findIndex((x) => x.name === name);
        if (SERVICES[svcIndex]?.traceGc)
          r.fullGcs = traceGcFullGcs(services[svcIndex]!.benchLines).map(([ms, b, a, why]) => [
            round(ms / 1000, 0),
            b,
            a,
            why,
          ]);
        const every = SERVICES[svcIndex]?.forceGcEveryMs;
        if (every !== undefined) {
          const gcs = forcedGcSamples(services[svcIndex]!.benchLines);
          const fit = gcs.filter(([ms]) => ms >= GROWTH_WARMUP_MIN * 60_000);
          const perHour = (col: 1 | 2): number =>
            round(
              slope(
                fit.map((g) => g[0]),
                fit.map((g) => g[col] / MIB),
              ) * 3_600_000,
              3,
            );
          r.forcedGc = {
            everyS: every / 1000,
            samples: gcs.map(([ms, ...v]) => [
              round(ms / 1000, 0),
              ...(v.map((b) => round(b / MIB, 3)) as [number, number, number, number]),
            ]),
            fromS: GROWTH_WARMUP_MIN * 60,
            rssSlopeMiBPerHour: perHour(1),
            heapUsedSlopeMiBPerHour: perHour(2),
          };
        }
        const spec = AGENTS.find((a) => a.name === name);
        if (spec) r.heapSamplesAfterGc = FORCE_GC || spec.gcBeforeHeapSample === true;
        results.push(r);
      }
    } finally {
      clearInterval(heapTimer);
      clearInterval(smapsTimer);
      sampler?.stop();
      await Promise.all([...children.map((c) => c.kill()), ...services.map((p) => p.terminate())]);
      await hub?.close();
      await sim?.close();
      await rm(dir, { recursive: true, force: true });
    }
    const loadAtEnd = loadAvg();

    log(
      table(
        [
          'process',
          'RSS MiB steady median / max',
          'RssAnon MiB',
          'heapUsed MiB',
          'CPU % of 1 core',
          'CPU s / window s',
          'RSS slope MiB/h',
          'heapUsed slope MiB/h (all / minima)',
          'reads/s',
          'heap B/read',
        ],
        results.map((r) => [
          r.process,
          `${r.rssMiB.steadyMedian} / ${r.rssMiB.steadyMax}`,
          r.rssAnonMiB.steadyMedian,
          r.heapMiB?.heapUsedMedian ?? '',
          r.cpuPctOfOneCore,
          `${r.cpuSecondsInWindow} / ${r.windowS}`,
          r.rssSlopeMiBPerHour,
          r.heapUsedSlopeMiBPerHour === undefined
            ? ''
            : `${r.heapUsedSlopeMiBPerHour} / ${r.heapUsedMinimaSlopeMiBPerHour ?? ''}`,
          r.pollsPerSecond ?? '',
          r.heapBytesPerPoll === undefined
            ? ''
            : `${r.heapBytesPerPoll}${r.heapSamplesAfterGc ? ' (live)' : ''}`,
        ]),
      ),
    );
    const p60 = results.find((r) => r.process === 'poll-60s');
    const p10 = results.find((r) => r.process === 'poll-10hz');
    for (const lean of results.filter((r) => r.process.endsWith('-lean')))
      log(
        `lean process (MALLOC_ARENA_MAX=2, --single-threaded; docs/operations.md) ${lean.process}: RSS ${lean.rssMiB.steadyMedian} / ${lean.rssMiB.steadyMax} MiB median / max, CPU ${lean.cpuPctOfOneCore} %`,
      );
    for (const r of results)
      if (r.heapSpacesKiB)
        log(
          `${r.process}: V8 heap spaces at the end, committed / used KiB: ${Object.entries(
            r.heapSpacesKiB,
          )
            .map(([n, [c, u]]) => `${n} ${c}/${u}`)
            .join(', ')}`,
        );
    const live = results.find((r) => r.process === 'poll-10hz-live');
    if (live)
      log(
        `live heap (full GC before each sample) at 10 polls/s: ${live.heapUsedSlopeMiBPerHour} MiB/h, ${live.heapBytesPerPoll} B per poll over ${live.windowS} s; second half of it: ${live.heapUsedSlopeLastHalfMiBPerHour ?? '?'} MiB/h, ${live.heapBytesPerPollLastHalf ?? '?'} B per poll`,
      );
    if (p60 && p10) {
      log(
        `Node defaults (reference): RSS max 60 s ${p60.rssMiB.steadyMax} MiB, 10/s ${p10.rssMiB.steadyMax} MiB; CPU at 60 s poll ${p60.cpuPctOfOneCore} %`,
      );
    }
    const svc = results.find((r) => r.process === 'service-unit');
    if (svc) {
      log(
        `targets, for outpost agent as the systemd unit runs it (${unit?.nodeFlags.join(' ')} ${Object.entries(
          unit?.env ?? {},
        )
          .map(([k, v]) => `${k}=${v}`)
          .join(
            ' ',
          )}), 60 s poll: RSS <= ${TARGET_RSS_MIB} MiB: median ${svc.rssMiB.steadyMedian}, max ${svc.rssMiB.steadyMax} -> ${svc.rssMiB.steadyMax <= TARGET_RSS_MIB ? 'met' : 'not met'}; CPU < ${TARGET_CPU_PCT} %: ${svc.cpuPctOfOneCore} % -> ${svc.cpuPctOfOneCore < TARGET_CPU_PCT ? 'met' : 'not met'}; RSS slope ${svc.rssSlopeMiBPerHour} MiB/h; exit status after SIGTERM ${svc.exitOnSigterm}`,
      );
    }
    for (const r of results) {
      if (r.rssGrowth) log(`growth ${r.process}: ${r.rssGrowth.summary}`);
      if (r.forcedGc)
        log(
          `${r.process}, after each forced full GC (every ${r.forcedGc.everyS} s, ${r.forcedGc.samples.length} GCs) from minute ${r.forcedGc.fromS / 60}: RSS ${r.forcedGc.rssSlopeMiBPerHour} MiB/h, heapUsed ${r.forcedGc.heapUsedSlopeMiBPerHour} MiB/h`,
        );
      if (r.fullGcs)
        log(
          `${r.process}: V8's own full GCs (${r.fullGcs.length}), heap MB after each: ${r.fullGcs.map(([t, , a]) => `${a} at ${Math.round(t / 60)} min`).join(', ')}`,
        );
      const sm = r.smapsKiB;
      if (sm && sm.length > 1 && !['bare', 'loaded'].includes(r.process)) {
        const [first, last] = [sm[0]!, sm[sm.length - 1]!];
        log(
          `${r.process} smaps KiB, minute ${first[0]} -> ${last[0]}: node executable ${first[1]} -> ${last[1]}, malloc heap ${first[2]} -> ${last[2]}, anonymous ${first[3]} -> ${last[3]}, other ${first[4]} -> ${last[4]}`,
        );
      }
    }
    log(`load average at start ${loadAtStart.join(' ')}, at end ${loadAtEnd.join(' ')}`);
    return {
      bench: `agent-footprint${VARIANTS_MODE ? '-variants' : ''}${soak ? '-soak' : ''}${FORCE_GC ? '-gc' : ''}${ONLY ? `-${Math.round(durationS / 60)}m` : ''}`,
      command: `${ONLY ? `OUTPOST_BENCH_FOOTPRINT_ONLY=${ONLY.join(',')} ` : ''}${VARIANTS_MODE ? 'OUTPOST_BENCH_FOOTPRINT_VARIANTS=1 ' : ''}${FORCE_GC ? 'OUTPOST_BENCH_FORCE_GC=1 ' : ''}npm run bench -- agent-footprint${optionFlags(benchOptions)}`,
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        durationS,
        forceGcBeforeHeapSamples: FORCE_GC,
        agents: AGENTS.map((a) => ({
          name: a.name,
          env: a.env ?? {},
          nodeFlags: a.execArgv ?? [],
          pollIntervalMs: a.pollIntervalMs ?? 60_000,
        })),
        steadyWindowFromS: steadyFromMs / 1000,
        growthFitFromS: fitFromMs / 1000,
        loadAvgAtStart: loadAtStart,
        loadAvgAtEnd: loadAtEnd,
        processes: {
          bare: 'node bare.mjs (an IPC listener and nothing else), plain node, no flags',
          loaded:
            'node agent-child.mjs --loaded: the esbuild bundle of bench/agent-child.ts (src/ + the JSON register map and catalogue, npm packages external from node_modules) imported, no agent created',
          'poll-60s':
            'createAgent defaults: pollIntervalMs 60000, errorPollIntervalMs 1000, telemetry.sendIntervalMs 15 min, heartbeat, credential rotation on; modbusTcpAdapter to firmware-sim (seed 42, default workload, 127.0.0.1); FileSpool (defaults) in a temp dir; hub wss TLS 1.3 with client certificates',
          'poll-60s-lean':
            'the same as poll-60s in a process started with MALLOC_ARENA_MAX=2 and node --single-threaded (the settings docs/operations.md recommends for a process that runs the agent; the library cannot set them); not part of the verdict',
          'poll-10hz': 'the same with pollIntervalMs 100 (error poll folded into the full poll)',
          'poll-10hz-lean':
            'the same as poll-10hz with the settings of poll-60s-lean; not part of the verdict',
          'poll-10hz-live':
            'the same as poll-10hz, node --expose-gc, a full GC before every heap sample: heapUsed is the live heap; its slope / polls per second = bytes left per poll. Its RSS is lowered by the forced GCs and is not a footprint figure',
          'poll-60s-unit': `the bench's agent child (as poll-60s) started with the unit's settings: node ${unit?.nodeFlags.join(' ') ?? '?'}, environment ${JSON.stringify(unit?.env ?? {})}`,
          'poll-10hz-unit': 'the same at pollIntervalMs 100',
          'poll-60s-unit-lite':
            'poll-60s-unit with --lite-mode on top (no optimising compiler, no WebAssembly); not in the unit',
          'service-unit': `the real outpost agent command (cli/outpost.ts bundled by esbuild as dist/cli/outpost.js is built) with a configuration file (library defaults: 60 s poll, 1 s error poll, 15 min send), an enrolled FileKeystore and a FileSpool, started as deploy/systemd/outpost-agent.service says: node ${unit?.nodeFlags.join(' ') ?? '?'}, environment ${JSON.stringify(unit?.env ?? {})}; the verdict`,
          'service-defaults':
            'the same command with plain node and no environment change (Node defaults), for reference',
          'service-unit-gc': `service-unit plus --expose-gc and a preload that runs a full GC every ${FORCED_GC_EVERY_MS / 1000} s and prints process.memoryUsage() after it: a leak diagnostic (its RSS is lowered by the forced GCs and is not a footprint figure); only when named in OUTPOST_BENCH_FOOTPRINT_ONLY`,
          'service-unit-snap':
            'service-unit plus --heapsnapshot-signal: heap snapshots at minute 20 and at the end into OUTPOST_BENCH_HEAP_SNAPSHOTS (bench/heap-diff.ts compares them); only when named in OUTPOST_BENCH_FOOTPRINT_ONLY',
          'service-unit-objstats':
            "service-unit plus --expose-gc --track-gc-object-stats --trace-gc-object-stats and a preload: at minute 20 and at the end two scavenges and a full GC, whose object statistics (live and dead bytes per V8 instance type) go to OUTPOST_BENCH_SERVICE_LOGS; the second full GC's dead bytes are the garbage the old generation gathered in between (bench/object-stats.ts); a diagnostic; only when named in OUTPOST_BENCH_FOOTPRINT_ONLY",
          'service-unit-baseline': `service-unit with the CLI of another checkout (OUTPOST_BENCH_BASELINE_REPO=${BASELINE_REPO ?? ''}): the code before a change, beside it; only when named in OUTPOST_BENCH_FOOTPRINT_ONLY`,
          'service-unit-trace':
            'service-unit plus --trace-gc: V8 collects when it chooses; each full GC (Mark-Compact) is logged with the heap size after it; only when named in OUTPOST_BENCH_FOOTPRINT_ONLY',
          ...Object.fromEntries(
            Object.entries(CANDIDATES).flatMap(([name, c]) => [
              [
                name,
                `service-unit plus ${candidateSettings(c)}: a candidate for the unit; only when named in OUTPOST_BENCH_FOOTPRINT_ONLY`,
              ],
              [
                `${name}-gc`,
                `service-unit-gc plus ${candidateSettings(c)}: the forced-GC diagnostic on the candidate; only when named in OUTPOST_BENCH_FOOTPRINT_ONLY`,
              ],
            ]),
          ),
          ...Object.fromEntries(
            AGING_RATES.map((rate) => [
              `<service-unit or a candidate>-x${rate}`,
              `it under libfaketime at ${rate} times real time (accelerated aging: each real minute is ${rate} minutes of the service's timers, polls and heartbeats; divide its slope per hour by ${rate} for MiB per hour of service life); only when named in OUTPOST_BENCH_FOOTPRINT_ONLY`,
            ]),
          ),
          ...Object.fromEntries(
            CANDIDATE_AGENTS.map((a) => [
              a.name,
              `poll-10hz-unit plus ${(a.execArgv ?? []).join(' ')}: what the candidate costs at 10 polls/s; only when named in OUTPOST_BENCH_FOOTPRINT_ONLY`,
            ]),
          ),
        },
        sampling:
          '/proc/<pid>/stat utime+stime (CLK_TCK ticks) and /proc/<pid>/status VmRSS and RssAnon every 1 s from the parent; /proc/<pid>/smaps every 10 min; process.memoryUsage() over IPC every 10 s (agents only)',
        growth:
          'bench/growth.ts on the per-minute median RSS from minute 20: least-squares and Theil-Sen slopes, a 95 % moving-block (20 min) bootstrap interval of the slope, and hour-over-hour changes of 20-minute medians; "no growth detected" when the interval holds zero',
        parent:
          'the simulator (100 ms tick), the hub (SQLite file in the temp dir) and the sampler share the parent process; its CPU is not counted',
        targets: {
          rssMiB: TARGET_RSS_MIB,
          cpuPctAt60sPoll: TARGET_CPU_PCT,
          growth: 'none',
          reference: 'issue #5: bare Node about 39 MB, the six core packages loaded about 56 MB',
        },
        units: 'MiB = 2^20 bytes; the issue writes MB',
      },
      results,
    };
  },
};
