/**
 * aging: reads an accelerated-aging service (agent-footprint's `service-unit-x5`, `-x20`, run
 * under libfaketime at `rate` times real time) in hours of the service's life.
 *
 * Its per-minute RSS series is in real minutes; real minute m is agent-hour m × rate / 60. This
 * gives the median RSS over windows of agent-hours, and the growth verdict (growth.ts) over the
 * last `lastAgentHours` of the run with its slope and interval divided by the rate: MiB per hour
 * of the service's life.
 *
 * Usage: `npx tsx bench/aging.ts <result.json> <process> <rate> [last agent-hours] [window agent-hours]`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { growthVerdict, medianOf, type GrowthVerdict } from './growth.js';

export interface AgingSummary {
  rate: number;
  /** Agent-hours the series covers. */
  agentHours: number;
  /** Median RSS over each window: [from agent-hour, to agent-hour, MiB]. */
  windows: Array<[number, number, number]>;
  /** growth.ts over the last `lastAgentHours`, slopes in MiB per agent-hour. */
  tail: { fromAgentHour: number; perAgentHour: number; interval95: [number, number] } & Pick<
    GrowthVerdict,
    'noGrowthDetected'
  >;
}

/** The median of `perMinuteMiB` over agent-hours [from, to). */
export function medianOverAgentHours(
  perMinuteMiB: readonly number[],
  rate: number,
  from: number,
  to: number,
): number {
  const a = Math.ceil((from * 60) / rate);
  const b = Math.ceil((to * 60) / rate);
  const v = perMinuteMiB.slice(a, b).filter(Number.isFinite);
  if (v.length === 0) throw new RangeError(`no samples over agent-hours ${from}-${to}`);
  return medianOf(v);
}

export function agingSummary(
  perMinuteMiB: readonly number[],
  rate: number,
  lastAgentHours: number,
  windowAgentHours: number,
): AgingSummary {
  if (!(rate > 0)) throw new RangeError(`rate must be > 0 (got ${rate})`);
  const agentHours = (perMinuteMiB.length * rate) / 60;
  const windows: Array<[number, number, number]> = [];
  for (let h = 0; h + windowAgentHours <= agentHours + 1e-9; h += windowAgentHours)
    windows.push([
      h,
      h + windowAgentHours,
      medianOverAgentHours(perMinuteMiB, rate, h, h + windowAgentHours),
    ]);
  const lastMinutes = Math.round((lastAgentHours * 60) / rate);
  const from = perMinuteMiB.length - lastMinutes;
  if (from < 0) throw new RangeError(`the run covers only ${agentHours} agent-hours`);
  const v = growthVerdict(perMinuteMiB, { warmupMinutes: from });
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    rate,
    agentHours,
    windows,
    tail: {
      fromAgentHour: (from * rate) / 60,
      perAgentHour: r3(v.leastSquaresMiBPerHour / rate),
      interval95: [r3(v.slope95MiBPerHour[0] / rate), r3(v.slope95MiBPerHour[1] / rate)],
      noGrowthDetected: v.noGrowthDetected,
    },
  };
}

function main(argv: readonly string[]): void {
  const [file, name, rateArg, lastArg, windowArg] = argv;
  if (!file || !name || !rateArg) {
    console.error(
      'usage: npx tsx bench/aging.ts <result.json> <process> <rate> [last agent-hours] [window agent-hours]',
    );
    process.exitCode = 2;
    return;
  }
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    results: Array<{ process: string; rssPerMinuteMiB?: number[] }>;
  };
  const series = data.results.find((x) => x.process === name)?.rssPerMinuteMiB;
  if (!series) {
    console.error(`${file}: no per-minute RSS series for process ${name}`);
    process.exitCode = 1;
    return;
  }
  const rate = Number(rateArg);
  const s = agingSummary(series, rate, Number(lastArg ?? 10), Number(windowArg ?? 2));
  console.log(`${name}: ${s.agentHours.toFixed(1)} agent-hours at ${rate}x`);
  for (const [a, b, m] of s.windows)
    console.log(`  agent-hours ${a}-${b}: median ${m.toFixed(2)} MiB`);
  const t = s.tail;
  console.log(
    `  from agent-hour ${t.fromAgentHour.toFixed(1)}: ${t.perAgentHour} MiB per agent-hour (95 % ${t.interval95[0]}..${t.interval95[1]})${t.noGrowthDetected ? ', no growth detected' : ''}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
