import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../firmware-sim/index.js';
import { SCENARIO_DIR } from '../hil/main.js';
import { loadScenario } from '../hil/parse.js';
import type { RunReport } from '../hil/report.js';
import { runScenario } from '../hil/runner.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** `npm run hil -- ...args`, as CI runs it; resolves with the exit code and output. */
function hil(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'hil/run.ts', ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-hil-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the HIL runner', () => {
  it('fails a run whose assertion does not hold: exit 1, FAIL with the measured value', async () => {
    const file = join(dir, 'tiny.json');
    await writeFile(
      file,
      JSON.stringify({
        name: 'tiny-failing',
        rig: { kind: 'sim', faces: ['modbus-tcp'], seed: 2, workload: false },
        agent: { pollMs: '500ms', errorPollMs: '250ms', sendMs: '1s' },
        duration: '3s',
        faults: [{ at: '0.5s', fault: 'inject', code: 2002 }],
        assertions: [
          { agentRunning: true },
          { alarmStoredWithin: { code: 2002, ms: 2000 } },
          { samplesAtLeast: 1000 },
        ],
      }),
    );
    const reportFile = join(dir, 'report.json');
    const { code, stdout, stderr } = await hil([file, '--report', reportFile]);
    expect(code, stderr).toBe(1);

    const report = JSON.parse(await readFile(reportFile, 'utf8')) as RunReport;
    expect(report.status).toBe('FAIL');
    const [scenario] = report.scenarios;
    expect(scenario).toMatchObject({ name: 'tiny-failing', status: 'FAIL' });
    const byKind = Object.fromEntries(scenario!.assertions.map((a) => [a.kind, a]));
    expect(byKind.agentRunning!.status).toBe('PASS');
    expect(byKind.alarmStoredWithin!.status).toBe('PASS');
    const samples = byKind.samplesAtLeast!;
    expect(samples.status).toBe('FAIL');
    expect(typeof samples.value).toBe('number');
    expect(samples.value as number).toBeGreaterThan(0);
    expect(samples.value as number).toBeLessThan(1000);

    // The readable report says FAIL next to the assertion, with what was measured.
    const lines = stdout.split('\n');
    const at = lines.findIndex((l) => /FAIL\s+samplesAtLeast 1000/.test(l));
    expect(at, stdout).toBeGreaterThan(0);
    expect(lines[at + 1]).toContain(`measured: ${samples.value} samples stored at the hub`);
    expect(stdout).toMatch(/PASS\s+agentRunning/);
    expect(stdout).toContain('HIL FAIL: 1 scenario');
  });

  it('refuses an invalid scenario naming the path, and bad arguments', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({
        rig: { kind: 'sim' },
        duration: '3s',
        faults: [{ at: '1s', fault: 'storm', code: 3003, perSecond: 'lots', durationMs: 100 }],
        assertions: [{ agentRunning: true }],
      }),
    );
    const invalid = await hil([file]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain(`${file}: faults[0].perSecond: must be a number, got "lots"`);

    const usage = await hil(['--frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stdout).toContain('unknown option --frobnicate');
  });
});

describe('a hardware scenario', () => {
  const source = join(SCENARIO_DIR, 'hardware-modbus-tcp.json');

  it('is SKIPPED, naming the variable, when its rig is not configured', async () => {
    const scenario = await loadScenario(source);
    const result = await runScenario(scenario, { env: {}, out: () => undefined });
    expect(result.status).toBe('SKIPPED');
    expect(result.reason).toBe('set OUTPOST_HIL_MODBUS_HOST to run against a real controller');
  });

  it('runs unchanged against a controller at the configured address (here: a simulator)', async () => {
    // The "real controller" is a simulator the harness knows nothing about: only the address
    // comes in, through the same variables a bench would set.
    const controller = await startSimulator({ seed: 9, controlPort: false });
    try {
      const scenario = await loadScenario(source);
      const printed: string[] = [];
      const result = await runScenario(scenario, {
        env: {
          OUTPOST_HIL_MODBUS_HOST: '127.0.0.1',
          OUTPOST_HIL_MODBUS_PORT: String(controller.modbusPort),
        },
        out: (l) => printed.push(l),
      });
      expect(result.rig).toBe('hardware');
      expect(result.rigDescription).toContain(`port ${controller.modbusPort}`);
      expect(
        result.assertions.map((a) => [a.kind, a.status]),
        JSON.stringify(result.assertions),
      ).toEqual(scenario.assertions.map((a) => [a.kind, 'PASS']));
      expect(result.status).toBe('PASS');
      // Sim-only faults are skipped with a note; prompts are printed for the operator.
      expect(result.faults.find((f) => f.fault.startsWith('inject'))).toMatchObject({
        status: 'skipped',
        note: expect.stringContaining('sim-only') as unknown,
      });
      expect(printed.some((l) => l.includes('OPERATOR: '))).toBe(true);
    } finally {
      await controller.close();
    }
  });
});
