import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${command} ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// The README's demo command, run the way a user runs it.
describe('outpost demo (npm start)', () => {
  it('runs the whole slice and ends with a JSON summary: nothing lost, alarms stored, frames within budget', async () => {
    const r = await run(
      'npm',
      ['start', '--silent', '--', '--duration', '8', '--json', '--alarm-every-ms', '1500'],
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown> & {
      messageBytes: { min: number; p50: number; max: number };
      alarmLatencyMs: { p50: number; p99: number };
    };
    expect(summary.telemetrySent).toBeGreaterThan(0);
    expect(summary.telemetryStored).toBe(summary.telemetrySent);
    expect(summary.alarmsRaised).toBeGreaterThanOrEqual(1);
    expect(summary.alarmsStored).toBe(summary.alarmsRaised);
    expect(summary.lost).toBe(0);
    expect(summary.duplicatesDropped).toBe(0);
    expect(summary.messageBytes.max).toBeLessThanOrEqual(3072);
    expect(summary.messageBytes.min).toBeGreaterThan(0);
    expect(summary.alarmLatencyMs.p99).toBeGreaterThanOrEqual(summary.alarmLatencyMs.p50);
  });

  it('refuses a bad option with a usage error', async () => {
    const r = await run(
      'node',
      ['--import', 'tsx', 'cli/outpost.ts', 'demo', '--poll-ms', 'fast'],
      30_000,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--poll-ms/);
  });
});

describe('built package', () => {
  // `npm test` builds first; a bare `vitest run` without a build skips this, except in CI.
  it.skipIf(!existsSync('dist/index.js') && process.env.CI !== 'true')(
    'exposes the public API from dist and a working bin',
    async () => {
      const lib = (await import(`${process.cwd()}/dist/index.js`)) as Record<string, unknown>;
      expect(typeof lib.createAgent).toBe('function');
      expect(typeof lib.modbusTcpAdapter).toBe('function');
      expect(lib.MESSAGE_BUDGET_BYTES).toBe(3072);
      const help = await run('node', ['dist/cli/outpost.js', '--help'], 20_000);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/outpost demo/);
    },
  );
});
