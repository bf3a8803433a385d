/**
 * The run's report: a readable text block per scenario (each assertion PASS/FAIL/SKIPPED with
 * what was measured) and the same facts as JSON for `--report <file>`.
 */
import type { AssertionResult } from './assertions.js';

export type ScenarioStatus = 'PASS' | 'FAIL' | 'SKIPPED' | 'ERROR';

export interface FaultResult {
  index: number;
  /** Scheduled time from scenario start, ms. */
  atMs: number;
  /** When it was applied, ms from scenario start (null if never). */
  appliedAtMs: number | null;
  fault: string;
  status: 'applied' | 'skipped' | 'failed' | 'not reached';
  note?: string;
}

export interface ScenarioResult {
  name: string;
  source: string;
  description: string;
  rig: 'sim' | 'hardware';
  rigDescription: string;
  status: ScenarioStatus;
  /** Why it was SKIPPED, or what went wrong (ERROR). */
  reason?: string;
  wallMs: number;
  faults: FaultResult[];
  assertions: AssertionResult[];
  agent?: {
    pid: number | undefined;
    exitCode: number | null;
    signal: string | null;
    killed: boolean;
    polls: number;
    pollErrors: number;
    uncaught: number;
    /** The last stderr lines (JSON log lines included). */
    stderrTail: string[];
  };
  hub?: { samples: number; alarms: number };
}

export interface RunReport {
  startedAt: string;
  wallMs: number;
  status: 'PASS' | 'FAIL';
  counts: Record<ScenarioStatus, number>;
  scenarios: ScenarioResult[];
}

/** PASS when every assertion passed or was skipped; SKIPPED scenarios do not fail a run. */
export function scenarioStatus(assertions: AssertionResult[]): ScenarioStatus {
  return assertions.some((a) => a.status === 'FAIL') ? 'FAIL' : 'PASS';
}

export function formatScenario(r: ScenarioResult): string[] {
  const lines: string[] = [];
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  if (r.status === 'SKIPPED') {
    lines.push(`SKIPPED: ${r.reason ?? ''}`);
    lines.push(`  ${r.name} (${r.source})`);
    return lines;
  }
  lines.push(`  rig: ${r.rigDescription}`);
  if (r.faults.length > 0) {
    lines.push('  faults:');
    for (const f of r.faults) {
      const when = f.appliedAtMs === null ? `+${secs(f.atMs)}` : `+${secs(f.appliedAtMs)}`;
      lines.push(
        `    ${when.padStart(8)}  ${f.fault.padEnd(44)} ${f.status}${f.note ? ` — ${f.note}` : ''}`,
      );
    }
  }
  lines.push('  assertions:');
  for (const a of r.assertions) {
    lines.push(`    ${a.status.padEnd(7)} ${a.label}`);
    lines.push(`            measured: ${a.measured}`);
  }
  if (r.status === 'ERROR') lines.push(`  ERROR: ${r.reason ?? ''}`);
  if (r.status !== 'PASS' && r.agent && r.agent.stderrTail.length > 0) {
    lines.push('  agent stderr (last lines):');
    for (const l of r.agent.stderrTail)
      lines.push(`    ${l.length > 300 ? `${l.slice(0, 300)}…` : l}`);
  }
  const failed = r.assertions.filter((a) => a.status === 'FAIL').length;
  lines.push(
    `  ${r.status}: ${r.name} — ${r.assertions.length - failed} of ${r.assertions.length} assertions held, in ${secs(r.wallMs)}`,
  );
  return lines;
}

export function buildReport(startedAt: number, results: ScenarioResult[]): RunReport {
  const counts: Record<ScenarioStatus, number> = { PASS: 0, FAIL: 0, SKIPPED: 0, ERROR: 0 };
  for (const r of results) counts[r.status]++;
  return {
    startedAt: new Date(startedAt).toISOString(),
    wallMs: Date.now() - startedAt,
    status: counts.FAIL + counts.ERROR === 0 ? 'PASS' : 'FAIL',
    counts,
    scenarios: results,
  };
}

export function formatSummary(report: RunReport): string {
  const c = report.counts;
  return `HIL ${report.status}: ${report.scenarios.length} scenario${report.scenarios.length === 1 ? '' : 's'} — ${c.PASS} passed, ${c.FAIL} failed, ${c.ERROR} errors, ${c.SKIPPED} skipped — in ${(report.wallMs / 1000).toFixed(1)} s`;
}
