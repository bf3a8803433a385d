/**
 * `outpost agent` as the service runs it: the real command in a process of its own (through
 * tsx, as `npm run` would), a real hub with enrolment and a firmware simulator on loopback, a
 * generated PKI. Enrolment with a one-time token, telemetry and an alarm delivered, SIGTERM ends
 * it with status 0, and a `kill -9` while the hub is away loses nothing the spool had accepted:
 * the restarted process delivers it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, CredentialAuthority, startHub, type Hub } from '../hub/index.js';
import { unitProcessSettings } from '../bench/agent-kit.js';
import { waitFor } from './helpers.js';

const DEVICE = 'XR-SERVICE-1';
/** An alarm-class (immediate) code of protocols/error-codes.json. */
const ALARM_CODE = 1001;
const SECOND_ALARM_CODE = 2002;

interface Run {
  proc: ChildProcess;
  stdout: string[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function outpost(args: string[], env: Record<string, string> = {}, nodeFlags: string[] = []): Run {
  const proc = spawn(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', 'cli/outpost.ts', ...args],
    {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  const run: Run = {
    proc,
    stdout: [],
    stderr: '',
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    run.stdout.push(...lines);
  });
  proc.stderr!.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}

/** Waits for the process to end (killing it after `timeoutMs`). */
async function ended(
  run: Run,
  timeoutMs = 20_000,
): Promise<{ code: number | null; signal: string | null }> {
  const t = setTimeout(() => run.proc.kill('SIGKILL'), timeoutMs);
  const r = await run.exited;
  clearTimeout(t);
  return r;
}

const logged = (run: Run, msg: string): boolean =>
  run.stdout.some((l) => l.includes(`"msg":"${msg}"`));

describe('outpost agent (the service command)', () => {
  let dir: string;
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  let hub: Hub;
  let sim: Simulator;
  let configFile: string;
  let authority: CredentialAuthority;
  const running: Run[] = [];

  const writeConfig = async (
    hubUrl: string,
    extra: Record<string, unknown> = {},
  ): Promise<void> => {
    await writeFile(
      configFile,
      JSON.stringify({
        ...extra,
        deviceId: DEVICE,
        hub: { url: hubUrl, caFile: 'hub-ca.pem', servername: 'localhost' },
        keystore: { path: 'state/keystore', sealingKeyFile: 'sealing.key' },
        spool: { dir: 'state/spool' },
        adapter: { type: 'modbus-tcp', host: '127.0.0.1', port: sim.modbusPort },
        pollIntervalMs: 300,
        errorPollIntervalMs: 100,
        alarmCoalesceMs: 0,
        telemetry: { sendIntervalMs: 500 },
        logLevel: 'info',
      }),
    );
  };
  const startHubOn = async (port = 0): Promise<Hub> => {
    const h = await startHub({
      port,
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      dbPath: join(dir, 'hub.sqlite'),
    });
    authority = new CredentialAuthority(h, { ca: pki.ca });
    return h;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-agent-service-'));
    pki = await createTestPki({ deviceIds: [], hubName: 'service-hub' });
    hub = await startHubOn();
    sim = await startSimulator({ seed: 5, controlPort: false });
    await writeFile(join(dir, 'hub-ca.pem'), pki.ca.certPem);
    configFile = join(dir, 'agent.json');
    await writeConfig(hub.url);
  });
  afterAll(async () => {
    for (const r of running) r.proc.kill('SIGKILL');
    await hub.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('enrols with a one-time token, delivers telemetry and an alarm, and exits 0 on SIGTERM', async () => {
    const token = authority.createEnrolmentToken(DEVICE);
    // The token from the environment: it then shows in no process list.
    const enrol = outpost(['agent', 'enrol', '--config', configFile], {
      OUTPOST_ENROL_TOKEN: token,
    });
    const e = await ended(enrol);
    expect(e.code, enrol.stderr + enrol.stdout.join('\n')).toBe(0);
    expect(logged(enrol, 'enrolled')).toBe(true);
    expect(enrol.stdout.join('\n')).not.toContain(token);

    const agent = outpost(['agent', '--config', configFile]);
    running.push(agent);
    expect(await waitFor(() => hub.store.counts(DEVICE).samples >= 3, 20_000), agent.stderr).toBe(
      true,
    );
    sim.inject(ALARM_CODE, { holdMs: 1000 });
    expect(
      await waitFor(() => hub.store.alarms(DEVICE).some((a) => a.code === ALARM_CODE), 10_000),
    ).toBe(true);
    agent.proc.kill('SIGTERM');
    const r = await ended(agent);
    expect(r.code, agent.stderr).toBe(0);
    expect(logged(agent, 'agent started')).toBe(true);
    expect(logged(agent, 'stopped')).toBe(true);
    // Every stdout line is one JSON object (journald).
    for (const line of agent.stdout.filter((l) => l.trim()))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it("runs under the shipped unit's node flags and glibc environment (deploy/systemd)", async () => {
    // Whatever flags the unit gives node (bench/agent-footprint.ts measures them as
    // `service-unit`), the service must still start, deliver and stop cleanly under them.
    const unit = await unitProcessSettings();
    const samplesBefore = hub.store.counts(DEVICE).samples;
    const alarmsBefore = hub.store.alarms(DEVICE).filter((a) => a.code === ALARM_CODE).length;
    const agent = outpost(['agent', '--config', configFile], unit.env, unit.nodeFlags);
    running.push(agent);
    expect(
      await waitFor(() => hub.store.counts(DEVICE).samples >= samplesBefore + 2, 20_000),
      agent.stderr,
    ).toBe(true);
    sim.inject(ALARM_CODE, { holdMs: 1000 });
    expect(
      await waitFor(
        () => hub.store.alarms(DEVICE).filter((a) => a.code === ALARM_CODE).length > alarmsBefore,
        10_000,
      ),
      agent.stderr,
    ).toBe(true);
    agent.proc.kill('SIGTERM');
    expect((await ended(agent)).code, agent.stderr).toBe(0);
    expect(agent.stderr).toBe('');
  });

  it('runs a full GC on its period when node exposes gc', async () => {
    // The shipped unit starts node with --expose-gc; V8's --trace-gc shows each collection, and
    // the ones gc() asks for carry the reason "testing", after the ms since the isolate started.
    await writeConfig(hub.url, { fullGcIntervalMs: 10_000 });
    try {
      const agent = outpost(['agent', '--config', configFile], {}, ['--expose-gc', '--trace-gc']);
      running.push(agent);
      const forcedAtMs = (): number[] =>
        agent.stdout.flatMap((l) => {
          const m = /\s(\d+) ms: Mark-Compact.*testing/.exec(l);
          return m ? [Number(m[1])] : [];
        });
      expect(await waitFor(() => forcedAtMs().length >= 1, 30_000), agent.stderr).toBe(true);
      expect(logged(agent, 'periodic full GC on')).toBe(true);
      // Not before the period (the isolate starts before the agent does).
      expect(forcedAtMs()[0]).toBeGreaterThanOrEqual(10_000);
      agent.proc.kill('SIGTERM');
      expect((await ended(agent)).code, agent.stderr).toBe(0);
    } finally {
      await writeConfig(hub.url);
    }
  });

  it('after kill -9 while the hub is away, the restarted agent delivers what its spool had accepted', async () => {
    const port = Number(new URL(hub.url).port);
    const agent = outpost(['agent', '--config', configFile]);
    running.push(agent);
    expect(
      await waitFor(() => logged(agent, 'agent started') && hub.isConnected(DEVICE), 20_000),
    ).toBe(true);
    await hub.close();
    const downAt = Date.now();
    // While the hub is away: an alarm, and a few seconds of telemetry, into the spool.
    sim.inject(SECOND_ALARM_CODE, { holdMs: 1000 });
    await new Promise((r) => setTimeout(r, 3000));
    const killedAt = Date.now();
    agent.proc.kill('SIGKILL');
    await ended(agent);

    hub = await startHubOn(port);
    const again = outpost(['agent', '--config', configFile]);
    running.push(again);
    expect(
      await waitFor(
        () => hub.store.alarms(DEVICE).some((a) => a.code === SECOND_ALARM_CODE),
        20_000,
      ),
      again.stderr,
    ).toBe(true);
    // Telemetry sampled while the hub was away (older than the last send interval before the
    // kill, which may still have been in memory) arrived too.
    const spooled = (): number =>
      hub.store.samples(DEVICE, 100_000).filter((s) => s.tMs > downAt && s.tMs < killedAt - 1000)
        .length;
    expect(await waitFor(() => spooled() >= 3, 10_000)).toBe(true);
    expect(hub.store.gaps(DEVICE)).toEqual([]);
    again.proc.kill('SIGTERM');
    expect((await ended(again)).code).toBe(0);
  });

  it('a controller that goes away is a few journal lines, not one per failed poll', async () => {
    // A second simulator whose port is taken from it and given back: unreachable, then back.
    const other = await startSimulator({ seed: 6, controlPort: false });
    const port = other.modbusPort;
    await other.close();
    const cfg = join(dir, 'away.json');
    const base = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
    await writeFile(
      cfg,
      JSON.stringify({ ...base, adapter: { type: 'modbus-tcp', host: '127.0.0.1', port } }),
    );
    const agent = outpost(['agent', '--config', cfg]);
    running.push(agent);
    expect(await waitFor(() => logged(agent, 'poll failed'), 20_000), agent.stderr).toBe(true);
    // Three seconds of a 100 ms error poll and a 300 ms poll failing: about 40 failures.
    await new Promise((r) => setTimeout(r, 3000));
    const back = await startSimulator({ seed: 6, controlPort: false, modbusPort: port });
    try {
      expect(
        await waitFor(
          () =>
            agent.stdout.filter((l) => l.includes('"msg":"device reads work again"')).length >= 2,
          20_000,
        ),
        agent.stdout.join('\n'),
      ).toBe(true);
      agent.proc.kill('SIGTERM');
      expect((await ended(agent)).code).toBe(0);
    } finally {
      await back.close();
    }
    const json = agent.stdout
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = json.filter((l) => l.msg === 'poll failed');
    const recovered = json.filter((l) => l.msg === 'device reads work again');
    // Per poller, the first failure of each code (connect refused, then perhaps a timeout).
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.length).toBeLessThanOrEqual(6);
    expect(recovered.map((l) => l.poller).sort()).toEqual(['error poll', 'poll']);
    const counted = recovered.reduce((n, l) => n + Number(l.failedPolls), 0);
    expect(counted).toBeGreaterThan(20);
    for (const l of recovered) expect(l.level).toBe('warn');
  });

  it('refuses a configuration with a wrong field: status 78 and a log line naming the field', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        hub: { url: 'wss://127.0.0.1:1/v1/tunnel', caFile: 'hub-ca.pem' },
        keystore: { path: 'state/keystore', sealingKeyFile: 'sealing.key' },
        spool: { dir: 'state/spool' },
        adapter: { type: 'modbus-tcp', host: '127.0.0.1', port: 70000 },
      }),
    );
    const r = outpost(['agent', '--config', bad]);
    expect((await ended(r)).code).toBe(78);
    const line = JSON.parse(r.stdout.find((l) => l.includes('agent failed'))!) as Record<
      string,
      unknown
    >;
    expect(line.code).toBe('AGENT_CONFIG_INVALID');
    expect(line.field).toBe('adapter.port');
  });
});
