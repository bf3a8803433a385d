/**
 * serial-alarm: the serial service port end to end, in-process on loopback and a socat PTY pair:
 * the simulated XR-200 pushes `!EVT ERR <code> RAISED` the moment its model raises a code, the
 * agent's SerialAdapter turns the line into an event, the runtime sends the alarm at once, the
 * hub stores it. Measured: wall time from the model raising the code to the hub committing the
 * alarm, over 100 raises per set-up (the agent polls every 60 s and has no error poll, so only the pushed
 * line can carry the alarm), in two set-ups run one after the other:
 * - `memory`: the agent's in-memory queue and the hub's in-memory SQLite store (the pipeline
 *   alone);
 * - `durable`: what a device ships with: the agent's crash-safe `FileSpool` (default group
 *   commit; an alarm is sent only once it is on disk) and the hub's SQLite file
 *   (synchronous=FULL; the alarm counts once the hub's commit is behind it).
 * Then the round-trip time of service-port commands (PING, ERRORS, COUNTERS, a 2 KiB LOG chunk)
 * through the same adapter.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { startSimulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, testAgentHubOptions } from '../hub/index.js';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import {
  createAgent,
  type SerialAdapter,
  parseErrorCatalogue,
  parseRegisterMap,
  serialAdapter,
  serialCountersFromRegisterMap,
} from '../src/index.js';
import { mean, nowNs, quantile, round, table, type Bench } from './lib.js';

const RAISES = 100;
const HOLD_MS = 100;
const GAP_MS = 250;
const RTT_ROUNDS = 300;
const MAX_SECONDS = 60;
const DEVICE_ID = 'XR200-SERIAL-BENCH';

interface Stats {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

function stats(values: number[], digits: number): Stats {
  return {
    count: values.length,
    p50: round(quantile(values, 0.5), digits),
    p99: round(quantile(values, 0.99), digits),
    max: round(Math.max(...values), digits),
    mean: round(mean(values), digits),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Setup = 'memory' | 'durable';
const SETUPS: readonly Setup[] = ['memory', 'durable'];

interface CaseResult {
  setup: Setup;
  latency: Stats;
  lost: number;
}

export const serialAlarmBench: Bench = {
  name: 'serial-alarm',
  description: 'sim !EVT line -> PTY -> SerialAdapter -> agent -> hub: alarm latency; command RTT',
  async run(log) {
    if (spawnSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }).status !== 0) {
      throw new Error('serial-alarm needs socat (Debian package "socat")');
    }
    const t0 = nowNs();
    const deadline = Date.now() + MAX_SECONDS * 1000;
    const pki = await createTestPki({ deviceIds: [DEVICE_ID], hubName: 'serial-bench-hub' });
    const sim = await startSimulator({ seed: 42, controlPort: false, servicePort: true });
    // A closed adapter stays closed: each agent (and the RTT part) gets its own on the same PTY.
    const newAdapter = (): SerialAdapter =>
      serialAdapter({
        path: sim.servicePort!.agentPath,
        counters: serialCountersFromRegisterMap(parseRegisterMap(registerMapJson)),
        commandTimeoutMs: 1000,
      });
    const keys = nacl.sign.keyPair();
    const codes = catalogueJson.codes.filter((c) => c.immediate).map((c) => c.code);
    let expecting: { code: number; raisedAt: number } | null = null;
    sim.onError((e) => {
      if (expecting && e.code === expecting.code && e.state === 'raised')
        expecting.raisedAt = e.wallTimeMs;
    });
    const tmp = await mkdtemp(join(tmpdir(), 'outpost-bench-serial-'));
    const cases: CaseResult[] = [];
    let polls = 0;

    /** One set-up: a hub and an agent of its own on the shared simulator and adapter. */
    async function runCase(setup: Setup): Promise<CaseResult> {
      const durable = setup === 'durable';
      const hub = await startHub({
        tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
        ...(durable ? { dbPath: join(tmp, 'hub.sqlite') } : {}),
      });
      hub.registerDevice(DEVICE_ID, keys.publicKey);
      const agent = createAgent({
        identity: { secretKey: keys.secretKey },
        adapter: newAdapter(),
        errorCatalogue: parseErrorCatalogue(catalogueJson),
        hub: testAgentHubOptions(pki, DEVICE_ID, hub),
        pollIntervalMs: 60_000,
        errorPollIntervalMs: 0,
        // Every raise is measured, so none may be held by the storm guard.
        alarmCoalesceMs: 0,
        telemetry: { sendIntervalMs: 60_000 },
        ...(durable ? { spool: { dir: join(tmp, 'spool') } } : {}),
      });
      const latencies: number[] = [];
      let lost = 0;
      let storedAt = 0;
      hub.on('stored', ({ frame, storedAtMs }) => {
        if (
          frame.type === 'alarm' &&
          frame.alarm.state === 1 &&
          frame.alarm.code === expecting?.code
        )
          storedAt = storedAtMs;
      });
      try {
        await agent.start();
        while (agent.stats().tunnel !== 'open' && Date.now() < deadline) await sleep(10);
        for (let i = 0; i < RAISES && Date.now() < deadline; i++) {
          const code = codes[i % codes.length]!;
          expecting = { code, raisedAt: 0 };
          storedAt = 0;
          sim.inject(code, { holdMs: HOLD_MS });
          const until = Date.now() + 3000;
          while (storedAt === 0 && Date.now() < until) await sleep(1);
          if (storedAt === 0) lost++;
          else latencies.push(storedAt - expecting.raisedAt);
          await sleep(GAP_MS);
        }
        polls += agent.stats().polls;
      } finally {
        expecting = null;
        await agent.stop({ drainTimeoutMs: 2000 });
        await hub.close();
      }
      return { setup, latency: stats(latencies, 1), lost };
    }

    const adapter = newAdapter();
    try {
      for (const setup of SETUPS) cases.push(await runCase(setup));

      // Command round trips through an adapter of their own (no agent polls it).
      const rtt: Record<string, number[]> = { PING: [], ERRORS: [], COUNTERS: [], 'LOG 2 KiB': [] };
      const logName = sim.logs.list()[0]!.name;
      const ops: Array<[string, () => Promise<unknown>]> = [
        ['PING', () => adapter.ping()],
        ['ERRORS', () => adapter.readActiveErrors()],
        ['COUNTERS', () => adapter.request('COUNTERS')],
        ['LOG 2 KiB', () => adapter.request('LOG', [logName, '0', '2048'])],
      ];
      for (const [, op] of ops) for (let i = 0; i < 20; i++) await op(); // warm-up
      for (let i = 0; i < RTT_ROUNDS && Date.now() < deadline + 30_000; i++) {
        for (const [name, op] of ops) {
          const s = nowNs();
          await op();
          rtt[name]!.push((nowNs() - s) / 1e6);
        }
      }

      const rttStats = Object.fromEntries(Object.entries(rtt).map(([k, v]) => [k, stats(v, 3)]));
      const health = adapter.health();
      log(
        table(
          ['figure', 'value'],
          [
            ...cases.flatMap((c) => [
              [
                `${c.setup}: alarms raised / stored / not stored in 3 s`,
                `${c.latency.count + c.lost} / ${c.latency.count} / ${c.lost}`,
              ],
              [
                `${c.setup}: alarm latency ms p50 / p99 / max`,
                `${c.latency.p50} / ${c.latency.p99} / ${c.latency.max}`,
              ],
            ]),
            ...Object.entries(rttStats).map(([k, s]) => [
              `RTT ${k} ms p50 / p99 / max`,
              `${s.p50} / ${s.p99} / ${s.max} (${s.count})`,
            ]),
            ['agent polls during the alarm cases', polls],
            ['RTT adapter commands / failures', `${health.commands} / ${health.readsFailed}`],
          ],
        ),
      );
      return {
        bench: 'serial-alarm',
        command: 'npm run bench -- serial-alarm',
        wallTimeS: round((nowNs() - t0) / 1e9, 1),
        settings: {
          raises: RAISES,
          holdMs: HOLD_MS,
          gapMs: GAP_MS,
          rttRounds: RTT_ROUNDS,
          pipeline:
            'firmware-sim service port on a socat PTY pair (serialport on both ends), SerialAdapter (serialAdapter preset), agent with pollIntervalMs 60000, errorPollIntervalMs 0, alarmCoalesceMs 0, hub wss on loopback with a throwaway PKI',
          setups: {
            memory: 'agent in-memory queue, hub in-memory SQLite store',
            durable:
              'agent FileSpool (default group commit: an alarm is sent once its append is durable), hub SQLite file (WAL, synchronous=FULL; counted at the hub commit)',
          },
          alarmLatency:
            'wall time from the simulator model raising an alarm-class code (ControllerErrorEvent.wallTimeMs) to the hub committing the Alarm frame (stored event storedAtMs); codes cycle through the alarm-class catalogue codes',
          rtt: 'adapter call to resolved reply, one command at a time, framing and parsing included; LOG asks for 2048 bytes (a 2.8 KB reply line)',
        },
        results: {
          alarmLatencyMs: Object.fromEntries(cases.map((c) => [c.setup, c.latency])),
          lost: Object.fromEntries(cases.map((c) => [c.setup, c.lost])),
          rttMs: rttStats,
          adapterHealth: health,
          agentPolls: polls,
        },
      };
    } finally {
      await adapter.close();
      await sim.close();
      await rm(tmp, { recursive: true, force: true });
    }
  },
};
