/**
 * The delivery suite's command (through `npm run hil`):
 *
 *   npm run hil -- --delivery                 the CI-sized set (also run by `--ci`)
 *   npm run hil -- --soak                     the large counts (100 kills, 50 faults per kind, ...)
 *   npm run hil -- --delivery --only agent-kill-9,hub-restarts
 *   npm run hil -- --delivery --report out.json
 *
 * Exit status 0 when every check of every scenario passed, 1 otherwise.
 */
import { writeFile } from 'node:fs/promises';
import { CI_SIZES, SCENARIOS, SOAK_SIZES, type ScenarioResult } from './scenarios/index.js';

export interface DeliveryOptions {
  soak?: boolean;
  only?: readonly string[];
  report?: string;
  out?: (line: string) => void;
}

export async function runDelivery(o: DeliveryOptions = {}): Promise<number> {
  const out = o.out ?? ((line: string) => console.log(line));
  const sizes = o.soak ? SOAK_SIZES : CI_SIZES;
  const unknown = (o.only ?? []).filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    out(
      `hil: unknown delivery scenario ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.name).join(', ')})`,
    );
    return 2;
  }
  const chosen = SCENARIOS.filter((s) => !o.only?.length || o.only.includes(s.name));
  const startedAt = Date.now();
  const results: ScenarioResult[] = [];
  out('');
  out(`== delivery suite (${o.soak ? 'soak' : 'CI'} sizes: ${JSON.stringify(sizes)})`);
  for (const s of chosen) {
    out('');
    out(`== ${s.name} — ${s.description}`);
    const t0 = Date.now();
    let result: ScenarioResult;
    try {
      const r = await s.run(sizes, out);
      result = { name: s.name, durationMs: Date.now() - t0, ...r };
    } catch (err) {
      result = {
        name: s.name,
        durationMs: Date.now() - t0,
        checks: [{ name: 'the scenario ran', pass: false, measured: String(err) }],
        figures: {},
        lines: [],
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      };
    }
    results.push(result);
    for (const c of result.checks) out(`  ${c.pass ? 'PASS' : 'FAIL'} ${c.name} — ${c.measured}`);
    for (const l of result.lines) out(`  ${l}`);
    out(
      `  figures: ${Object.entries(result.figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    out(`  (${(result.durationMs / 1000).toFixed(1)} s)`);
  }
  const failed = results.filter((r) => r.checks.some((c) => !c.pass));
  const wallMs = Date.now() - startedAt;
  out('');
  out(
    `delivery: ${failed.length === 0 ? 'PASS' : 'FAIL'} — ${results.length - failed.length}/${results.length} scenarios passed in ${(wallMs / 1000).toFixed(1)} s` +
      (failed.length ? ` (failed: ${failed.map((r) => r.name).join(', ')})` : ''),
  );
  if (o.report !== undefined) {
    await writeFile(
      o.report,
      JSON.stringify({ sizes, soak: o.soak ?? false, wallMs, results }, null, 2) + '\n',
    );
    out(`report written to ${o.report}`);
  }
  return failed.length === 0 ? 0 : 1;
}
