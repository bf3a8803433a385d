/**
 * growth: does a long-running process's memory grow? A verdict from a per-minute RSS series.
 *
 * A Node process's RSS is a saw-tooth (V8's heap grows between full GCs and shrinks at them), so
 * a least-squares slope over a couple of hours moves with the phase of the GC cycle as much as
 * with a leak. This module states the question the way a leak test should, from the data alone:
 *
 * - the series after the warm-up is fitted by least squares and by Theil–Sen (the median of the
 *   pairwise slopes, which a single GC drop or spike does not move);
 * - a 95 % interval for the least-squares slope comes from a moving-block bootstrap of the
 *   fit's residuals: blocks of `blockMinutes` keep the saw-tooth's correlation, which a plain
 *   bootstrap would pretend away (and so make the interval far too narrow);
 * - "hour over hour": for every 60-minute span after the warm-up, the median of its last 20
 *   minutes minus the median of the 20 minutes before it began (a level compared with a level);
 * - the verdict: **no growth detected** when the interval holds zero. Its upper end is then the
 *   largest growth the run cannot rule out, and is reported with it.
 *
 * Deterministic: the bootstrap draws from a fixed-seed generator, so a result file always gives
 * the same verdict. `npx tsx bench/growth.ts <result.json> [process] [warm-up minutes] [block
 * minutes]` prints the verdict for a file written by agent-footprint (its `rssPerMinuteMiB`).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface GrowthOptions {
  /** Minutes dropped at the start (start-up, first connects, code compiled on first use). */
  warmupMinutes?: number;
  /** Bootstrap block, in minutes: longer than one saw-tooth period. */
  blockMinutes?: number;
  /** Bootstrap resamples. */
  resamples?: number;
  /** Minutes in one "level" (a median) for the hour-over-hour comparison. */
  levelMinutes?: number;
}

export interface GrowthVerdict {
  fromMinute: number;
  minutes: number;
  leastSquaresMiBPerHour: number;
  theilSenMiBPerHour: number;
  /** 95 % moving-block bootstrap interval of the least-squares slope, MiB/h. */
  slope95MiBPerHour: [number, number];
  blockMinutes: number;
  /** Median and minimum of each consecutive `levelMinutes` window after the warm-up, MiB. */
  levelMediansMiB: number[];
  levelFloorsMiB: number[];
  /** Over every 60-minute span: level at its end minus the level before it began, MiB. */
  hourOverHourMiB?: { median: number; min: number; max: number; spans: number };
  noGrowthDetected: boolean;
  /** One line for a log or a table. */
  summary: string;
}

const HOUR_MIN = 60;

function leastSquares(xs: readonly number[], ys: readonly number[]): { b: number; a: number } {
  const n = xs.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  const b = den === 0 ? Number.NaN : num / den;
  return { b, a: my - b * mx };
}

/** The median, the mean of the two middle values for an even count. */
export function medianOf(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function theilSen(xs: readonly number[], ys: readonly number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < xs.length; i++)
    for (let j = i + 1; j < xs.length; j++)
      if (xs[j] !== xs[i]) slopes.push((ys[j]! - ys[i]!) / (xs[j]! - xs[i]!));
  return medianOf(slopes);
}

/** xorshift32: a small fixed-seed generator, so the bootstrap is reproducible. */
function generator(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

/**
 * The verdict for RSS sampled once a minute (`perMinuteMiB[i]` at minute i). Needs at least
 * 30 minutes after the warm-up; the hour-over-hour figures need 60 + `levelMinutes` of them.
 */
export function growthVerdict(
  perMinuteMiB: readonly number[],
  options: GrowthOptions = {},
): GrowthVerdict {
  const warmup = options.warmupMinutes ?? 20;
  const block = options.blockMinutes ?? 20;
  const resamples = options.resamples ?? 2000;
  const level = options.levelMinutes ?? 20;
  for (const [name, v, least] of [
    ['warmupMinutes', warmup, 0],
    ['blockMinutes', block, 1],
    ['resamples', resamples, 1],
    ['levelMinutes', level, 1],
  ] as const)
    if (!Number.isInteger(v) || v < least)
      throw new RangeError(`growthVerdict: ${name} must be an integer >= ${least} (got ${v})`);
  const ys = perMinuteMiB.slice(warmup);
  // A for loop, not .some(): a sparse array's holes must count as missing samples.
  let finite = true;
  for (let i = 0; i < ys.length; i++) if (!Number.isFinite(ys[i])) finite = false;
  if (ys.length < 30 || !finite)
    throw new RangeError(
      `growthVerdict needs at least 30 finite per-minute samples after the ${warmup}-minute warm-up (got ${ys.length})`,
    );
  const xs = ys.map((_, i) => warmup + i);
  const fit = leastSquares(xs, ys);
  const residuals = ys.map((y, i) => y - (fit.a + fit.b * xs[i]!));
  const n = ys.length;
  const L = Math.min(block, n);
  const next = generator(0x5eed);
  const boot: number[] = [];
  const yb = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    let k = 0;
    while (k < n) {
      const start = Math.floor(next() * (n - L + 1));
      for (let j = 0; j < L && k < n; j++, k++)
        yb[k] = fit.a + fit.b * xs[k]! + residuals[start + j]!;
    }
    boot.push(leastSquares(xs, yb).b);
  }
  boot.sort((x, y) => x - y);
  const lo = boot[Math.floor(0.025 * (resamples - 1))]! * HOUR_MIN;
  const hi = boot[Math.ceil(0.975 * (resamples - 1))]! * HOUR_MIN;

  const levelMediansMiB: number[] = [];
  const levelFloorsMiB: number[] = [];
  for (let i = 0; i + level <= n; i += level) {
    levelMediansMiB.push(r2(medianOf(ys.slice(i, i + level))));
    levelFloorsMiB.push(Math.min(...ys.slice(i, i + level)));
  }
  const changes: number[] = [];
  // A span [t, t+60): its last `level` minutes against the `level` minutes before t.
  for (let t = level; t + HOUR_MIN <= n; t++)
    changes.push(
      medianOf(ys.slice(t + HOUR_MIN - level, t + HOUR_MIN)) - medianOf(ys.slice(t - level, t)),
    );
  const hourOverHourMiB =
    changes.length > 0
      ? {
          median: r2(medianOf(changes)),
          min: r2(Math.min(...changes)),
          max: r2(Math.max(...changes)),
          spans: changes.length,
        }
      : undefined;
  const noGrowthDetected = lo <= 0 && hi >= 0;
  const verdict: GrowthVerdict = {
    fromMinute: warmup,
    minutes: n,
    leastSquaresMiBPerHour: r2(fit.b * HOUR_MIN),
    theilSenMiBPerHour: r2(theilSen(xs, ys) * HOUR_MIN),
    slope95MiBPerHour: [r2(lo), r2(hi)],
    blockMinutes: L,
    levelMediansMiB,
    levelFloorsMiB,
    ...(hourOverHourMiB ? { hourOverHourMiB } : {}),
    noGrowthDetected,
    summary: '',
  };
  verdict.summary =
    `minutes ${warmup}-${warmup + n}: slope ${verdict.leastSquaresMiBPerHour} MiB/h ` +
    `(95 % ${verdict.slope95MiBPerHour[0]}..${verdict.slope95MiBPerHour[1]}, Theil-Sen ${verdict.theilSenMiBPerHour})` +
    (hourOverHourMiB
      ? `; hour over hour ${hourOverHourMiB.median} MiB (${hourOverHourMiB.min}..${hourOverHourMiB.max}, ${hourOverHourMiB.spans} spans)`
      : '') +
    ` -> ${noGrowthDetected ? `no growth detected (at most ${verdict.slope95MiBPerHour[1]} MiB/h)` : lo > 0 ? 'growing' : 'shrinking'}`;
  return verdict;
}

function main(argv: readonly string[]): void {
  const [file, name = 'service-unit', warm, block] = argv;
  if (!file) {
    console.error(
      'usage: npx tsx bench/growth.ts <agent-footprint result.json> [process] [warm-up minutes] [block minutes]',
    );
    process.exitCode = 2;
    return;
  }
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    results: Array<{
      process: string;
      rssPerMinuteMiB?: number[];
      rssPerMinuteMedianMiB?: number[];
    }>;
  };
  const r = data.results.find((x) => x.process === name);
  const series = r?.rssPerMinuteMedianMiB ?? r?.rssPerMinuteMiB;
  if (!series) {
    console.error(`${file}: no per-minute RSS series for process ${name}`);
    process.exitCode = 1;
    return;
  }
  const v = growthVerdict(series, {
    ...(warm === undefined ? {} : { warmupMinutes: Number(warm) }),
    ...(block === undefined ? {} : { blockMinutes: Number(block) }),
  });
  // (A warm-up that is not a whole number is refused by growthVerdict with a RangeError.)
  console.log(`${name}: ${v.summary}`);
  console.log(
    `  ${v.levelMediansMiB.length} levels (20-min medians): ${v.levelMediansMiB.join(' ')}`,
  );
  console.log(`  20-min floors: ${v.levelFloorsMiB.join(' ')}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
