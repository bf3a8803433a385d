/**
 * The `npm run hil` command.
 *
 *   npm run hil -- <scenario.json>... [--report <file>]
 *   npm run hil -- --ci [--report <file>]      every hil/scenarios/*.json with "ci": true
 *
 * Exit status: 0 when no scenario failed (skipped ones do not fail a run), 1 when one failed,
 * could not run or does not validate, 2 for bad arguments.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HilError, HilUsageError } from './errors.js';
import { loadScenario } from './parse.js';
import { buildReport, formatScenario, formatSummary, type ScenarioResult } from './report.js';
import { runScenario, type RunOptions } from './runner.js';
import type { Scenario } from './scenario.js';

export const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

const USAGE = `usage: npm run hil -- <scenario.json>... [--report <file>]
       npm run hil -- --ci [--report <file>]   (every hil/scenarios/*.json with "ci": true)`;

interface Args {
  ci: boolean;
  files: string[];
  report?: string;
}

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { ci: false, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--ci') args.ci = true;
    else if (a === '--report') {
      const file = argv[++i];
      if (file === undefined || file.startsWith('--'))
        throw new HilUsageError('--report needs a file name');
      args.report = file;
    } else if (a === '--help' || a === '-h') throw new HilUsageError('');
    else if (a.startsWith('--')) throw new HilUsageError(`unknown option ${a}`);
    else args.files.push(a);
  }
  if (!args.ci && args.files.length === 0) throw new HilUsageError('name a scenario file, or --ci');
  return args;
}

async function ciScenarios(): Promise<Scenario[]> {
  const names = (await readdir(SCENARIO_DIR)).filter((n) => n.endsWith('.json')).sort();
  const all = await Promise.all(
    names.map((n) => loadScenario(relative(process.cwd(), join(SCENARIO_DIR, n)))),
  );
  return all.filter((s) => s.ci);
}

export async function main(
  argv: readonly string[],
  options: RunOptions & { out?: (line: string) => void } = {},
): Promise<number> {
  const out = options.out ?? ((line: string) => console.log(line));
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof HilUsageError) {
      if (err.message !== '') out(`hil: ${err.message}`);
      out(USAGE);
      return 2;
    }
    throw err;
  }
  let scenarios: Scenario[];
  try {
    // Validate everything before running anything: a typo in the last file fails at once.
    scenarios = [
      ...(args.ci ? await ciScenarios() : []),
      ...(await Promise.all(args.files.map((f) => loadScenario(f)))),
    ];
  } catch (err) {
    if (err instanceof HilError) {
      out(`hil: invalid scenario: ${err.message}`);
      return 1;
    }
    throw err;
  }
  const startedAt = Date.now();
  const results: ScenarioResult[] = [];
  for (const s of scenarios) {
    out('');
    out(`== ${s.name} (${s.source})${s.description ? ` — ${s.description}` : ''}`);
    const result = await runScenario(s, { ...options, out });
    results.push(result);
    for (const line of formatScenario(result)) out(line);
  }
  const report = buildReport(startedAt, results);
  out('');
  out(formatSummary(report));
  if (args.report !== undefined) {
    await writeFile(args.report, JSON.stringify(report, null, 2) + '\n');
    out(`report written to ${args.report}`);
  }
  return report.status === 'PASS' ? 0 : 1;
}
