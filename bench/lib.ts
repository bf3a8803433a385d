/**
 * Shared helpers of the benchmark suite: bounded timing loops, statistics, the machine
 * description and the result files. Every loop here is bounded both in count and in time.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** Where the result files go (committed). */
export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export interface Machine {
  cpus: number;
  cpuModel: string;
  totalMemGiB: number;
  node: string;
  platform: string;
  arch: string;
  /** 1, 5 and 15 minute load averages when the bench started: the machine is shared. */
  loadAvgAtStart: number[];
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    totalMemGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    loadAvgAtStart: os.loadavg().map((l) => round(l, 2)),
  };
}

/** What every result file carries besides its own figures. */
export interface ResultFile<T> {
  bench: string;
  /** The command that reproduces the figures. */
  command: string;
  date: string;
  machine: Machine;
  wallTimeS: number;
  settings: Record<string, unknown>;
  results: T;
}

/** Writes `bench/results/<name>.json` atomically (temp file, then rename). */
export async function writeResult<T>(file: ResultFile<T>): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = `${RESULTS_DIR}${file.bench}.json`;
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(file, null, 2) + '\n');
  await rename(tmp, path);
  return path;
}

/** Nanoseconds from a monotonic clock, as a number (fine for intervals under 100 days). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export interface Timed {
  /** Calls of `fn` made. */
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** Sum of what `fn` returned, so the work cannot be optimised away. */
  sink: number;
}

/**
 * Calls `fn` repeatedly for `seconds` (checking the clock every `chunk` calls) or until
 * `maxOps` calls, whichever comes first.
 */
export function runFor(
  fn: () => number,
  options: { seconds: number; maxOps: number; chunk?: number },
): Timed {
  const chunk = options.chunk ?? 16;
  const budgetNs = options.seconds * 1e9;
  let ops = 0;
  let sink = 0;
  const start = nowNs();
  let elapsed = 0;
  while (ops < options.maxOps) {
    for (let i = 0; i < chunk; i++) sink += fn();
    ops += chunk;
    elapsed = nowNs() - start;
    if (elapsed >= budgetNs) break;
  }
  const seconds = elapsed / 1e9;
  return { ops, seconds, opsPerSec: ops / seconds, sink };
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Nearest-rank quantile (q in 0..1). */
export function quantile(values: readonly number[] | Float64Array, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function mean(values: readonly number[] | Float64Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  return values.length === 0 ? Number.NaN : sum / values.length;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Rounds to `significant` significant digits (for throughputs spanning decades). */
export function sig(value: number, significant = 3): number {
  return Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(significant)) : value;
}

/** A plain-text table for the console. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]!), rule, ...cells.slice(1).map(line)].join('\n');
}

/** A benchmark: runs, prints its table, returns its result file (written by the runner). */
export interface Bench {
  name: string;
  description: string;
  run(log: (line: string) => void): Promise<Omit<ResultFile<unknown>, 'machine' | 'date'>>;
}
