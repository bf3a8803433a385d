/**
 * modbus-alarm: how long an alarm takes from the controller raising it to the hub storing it,
 * when the agent learns of it by the fast error-register poll (Modbus has no push channel).
 *
 * In-process on loopback: the simulated XR-200 (Modbus TCP, and RTU over a socat PTY pair), the
 * agent (modbusTcpAdapter / modbusRtuAdapter, full poll every 60 s, error poll every
 * `errorPollIntervalMs`, no alarm coalescing) and the hub (TLS, throwaway PKI, SQLite).
 * Each raise falls at a random point of the poll cycle: after the hub stores an alarm the code
 * is cleared and the next raise waits a seeded random time in [0, errorPollIntervalMs).
 */
import { spawnSync } from 'node:child_process';
import nacl from 'tweetnacl';
import { Prng, startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, testAgentHubOptions } from '../hub/index.js';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import {
  createAgent,
  modbusRtuAdapter,
  modbusTcpAdapter,
  parseErrorCatalogue,
  parseRegisterMap,
  type DeviceAdapter,
} from '../src/index.js';
import { nowNs, round, table, type Bench } from './lib.js';
import { sleep, summary, type Summary } from './modbus-kit.js';

const MAX_SECONDS_PER_CASE = 45;
const STORE_TIMEOUT_MS = 5000;
const DEVICE_ID = 'XR200-MODBUS-BENCH';

interface CaseSpec {
  face: 'tcp' | 'rtu';
  errorPollIntervalMs: number;
  raises: number;
}

const CASES: CaseSpec[] = [
  { face: 'tcp', errorPollIntervalMs: 1000, raises: 30 },
  { face: 'tcp', errorPollIntervalMs: 100, raises: 60 },
  { face: 'rtu', errorPollIntervalMs: 1000, raises: 20 },
  { face: 'rtu', errorPollIntervalMs: 100, raises: 60 },
];

interface CaseResult extends CaseSpec {
  stored: number;
  lost: number;
  latencyMs: Summary;
  errorPolls: number;
  adapterFailures: number;
}

async function runCase(spec: CaseSpec, seed: number): Promise<CaseResult> {
  const registerMap = parseRegisterMap(registerMapJson);
  const pki = await createTestPki({ deviceIds: [DEVICE_ID], hubName: 'modbus-bench-hub' });
  const hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
  });
  let sim: Simulator | undefined;
  let agent: ReturnType<typeof createAgent> | undefined;
  try {
    sim = await startSimulator({
      seed,
      controlPort: false,
      workload: { enabled: false },
      modbusRtu: spec.face === 'rtu',
    });
    const adapter: DeviceAdapter =
      spec.face === 'tcp'
        ? modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap })
        : modbusRtuAdapter({ path: sim.modbusRtu!.path, baudRate: 19200, registerMap });
    const keys = nacl.sign.keyPair();
    hub.registerDevice(DEVICE_ID, keys.publicKey);
    agent = createAgent({
      identity: { secretKey: keys.secretKey },
      adapter,
      errorCatalogue: parseErrorCatalogue(catalogueJson),
      hub: testAgentHubOptions(pki, DEVICE_ID, hub),
      pollIntervalMs: 60_000,
      errorPollIntervalMs: spec.errorPollIntervalMs,
      // Every raise is measured, so none may be held back by the storm guard.
      alarmCoalesceMs: 0,
      telemetry: { sendIntervalMs: 60_000 },
    });
    const deadline = Date.now() + MAX_SECONDS_PER_CASE * 1000;
    await agent.start();
    while (agent.stats().tunnel !== 'open' && Date.now() < deadline) await sleep(10);

    const codes = catalogueJson.codes.filter((c) => c.immediate).map((c) => c.code);
    const prng = new Prng(seed);
    let expecting: { code: number; raisedAt: number } | null = null;
    let storedAt = 0;
    sim.onError((e) => {
      if (expecting && e.code === expecting.code && e.state === 'raised')
        expecting.raisedAt = e.wallTimeMs;
    });
    hub.on('stored', ({ frame, storedAtMs }) => {
      if (frame.type === 'alarm' && frame.alarm.state === 1 && frame.alarm.code === expecting?.code)
        storedAt = storedAtMs;
    });
    const latencies: number[] = [];
    let lost = 0;
    // Start at a random phase of the poll cycle.
    await sleep(prng.range(0, spec.errorPollIntervalMs));
    for (let i = 0; i < spec.raises && Date.now() < deadline; i++) {
      const code = codes[i % codes.length]!;
      expecting = { code, raisedAt: 0 };
      storedAt = 0;
      sim.inject(code);
      const until = Date.now() + STORE_TIMEOUT_MS;
      while (storedAt === 0 && Date.now() < until) await sleep(1);
      if (storedAt === 0) lost++;
      else latencies.push(storedAt - expecting.raisedAt);
      sim.clear(code);
      await sleep(prng.range(0, spec.errorPollIntervalMs));
    }
    const health = adapter.health();
    return {
      ...spec,
      stored: latencies.length,
      lost,
      latencyMs: summary(latencies, 1),
      errorPolls: health.readsOk,
      adapterFailures: health.readsFailed,
    };
  } finally {
    await agent?.stop({ drainTimeoutMs: 2000 });
    await hub.close();
    await sim?.close();
  }
}

export const modbusAlarmBench: Bench = {
  name: 'modbus-alarm',
  description: 'sim raises a code -> error-register poll (Modbus TCP/RTU) -> agent -> hub: latency',
  async run(log) {
    const t0 = nowNs();
    const socat = spawnSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }).status === 0;
    const results: CaseResult[] = [];
    for (const [i, spec] of CASES.entries()) {
      if (spec.face === 'rtu' && !socat) {
        log('(socat not found: RTU cases skipped; Debian package "socat")');
        continue;
      }
      results.push(await runCase(spec, 42 + i));
    }
    log(
      table(
        ['face', 'error poll ms', 'raised', 'stored', 'p50 ms', 'p99 ms', 'max ms', 'mean ms'],
        results.map((r) => [
          r.face,
          r.errorPollIntervalMs,
          r.stored + r.lost,
          r.stored,
          r.latencyMs.p50,
          r.latencyMs.p99,
          r.latencyMs.max,
          r.latencyMs.mean,
        ]),
      ),
    );
    return {
      bench: 'modbus-alarm',
      command: 'npm run bench -- modbus-alarm',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        cases: CASES,
        pipeline:
          'firmware-sim (workload off) on Modbus TCP or RTU over a socat PTY pair; agent with modbusTcpAdapter / modbusRtuAdapter, pollIntervalMs 60000, errorPollIntervalMs as given, alarmCoalesceMs 0; hub wss on loopback with a throwaway PKI',
        alarmLatency:
          'wall time from the simulator model raising an alarm-class code (ControllerErrorEvent.wallTimeMs) to the hub committing the Alarm frame (stored event storedAtMs)',
        phase:
          'after each stored alarm the code is cleared and the next raise waits a seeded uniform random time in [0, errorPollIntervalMs), so raises fall at every point of the poll cycle',
        storeTimeoutMs: STORE_TIMEOUT_MS,
        maxSecondsPerCase: MAX_SECONDS_PER_CASE,
      },
      results,
    };
  },
};
