/**
 * alarm-latency-backlog: alarm latency p50/p99 from the simulator raising an alarm-class code
 * to the hub storing it, idle and while a 7-day backlog of telemetry drains.
 *
 * Everything is real and on loopback: firmware-sim on Modbus TCP, the agent (`createAgent`,
 * modbusTcpAdapter, `FileSpool`) in a child process of its own (bench/agent-child.ts, plain
 * node), the hub over TLS 1.3 with a SQLite file, in this process.
 *
 * 1. **Backlog.** Seven days at the default 60 s poll is 10 080 samples. Two builder agents poll
 *    a simulator whose model runs 12 000× fast (tick 5 ms = 60 s of model time, so counters move
 *    per sample as they would a minute apart) every 5 ms, with the hub down (its port closed:
 *    the agent keeps retrying), until each has accepted 10 080 samples into its spool; then
 *    they stop (the partial batch is flushed, the spool closed). One builder calls
 *    `agent.flush()` after every 15th snapshot, so its records hold 15 samples like the default
 *    15-minute send of 60 s polls (672 records); the other after every snapshot (one sample per
 *    record, 10 080 records: the worst case for the drain). The builders poll with a 2 s
 *    timeout (the default, the interval, would abort polls on a loaded machine) and their
 *    spools commit every 1 ms instead of 20 ms (a poll waits for its records to be durable, so
 *    the default paces the build). Sample timestamps are 5 ms apart instead of 60 s: a few
 *    bytes per record smaller than a real week's.
 * 2. **Drain.** Per round: the hub's database and the backlog spool are restored from copies
 *    made after the build, the hub is started on the same port, and an agent (defaults: full
 *    poll 60 s, telemetry sent every 15 min; `alarmCoalesceMs: 0` so no repeat of a code is held
 *    by the storm guard) starts on the backlog spool: it is an agent rebooted after the outage
 *    into a healed network, and it drains at once. From the moment its tunnel is open, an
 *    alarm-class code is injected into the (real-time) simulator every 150–250 ms, until the
 *    hub has stored the whole backlog. Latency = hub `stored` event `storedAtMs` − the
 *    simulator's raise `wallTimeMs`; only raises that happened before the last backlog record
 *    was stored count as "during the drain". Rounds repeat until enough alarms fell in a drain.
 * 3. **Idle.** The same with an empty spool: 100 raises.
 *
 * Besides raise → stored, each case reports observed → stored (the agent's `observedAtMs`, when
 * its error poll saw the code, to the hub's commit): the latency without the poll phase.
 *
 * Each case runs with a 50 ms and a 100 ms error-register poll and with the 1 s default. Modbus
 * has no push channel, so the poll phase (uniform in [0, interval)) is part of every latency.
 */
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import {
  startSimulator,
  type ControllerErrorEvent,
  type Simulator,
} from '../firmware-sim/index.js';
import { createTestPki, startHub, TUNNEL_PATH, type Hub } from '../hub/index.js';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import { AgentProcess, buildAgentBundle, loadAvg, sleep } from './agent-kit.js';
import type { AgentChildConfig, AgentChildMessage } from './agent-child.js';
import { nowNs, round, table, type Bench } from './lib.js';
import { summary, type Summary } from './modbus-kit.js';

const DEVICE_ID = 'XR200-BACKLOG-BENCH';
const SEVEN_DAYS_SAMPLES = 7 * 24 * 60;
const BUILD_POLL_MS = 5;
const BUILD_MAX_S = 150;
const IDLE_RAISES = 100;
const MIN_DRAIN_ALARMS = 50;
const MAX_DRAIN_ROUNDS = 12;
const MAX_CASE_S = 20;
const STORE_TIMEOUT_MS = 5000;
const ERROR_POLLS = [50, 100, 1000] as const;

interface Backlog {
  name: 'batched-15' | 'one-per-record';
  sendEveryPolls: number;
  dir: string;
  samples: number;
  telemetryRecords: number;
  alarmRecords: number;
  records: number;
  bytes: number;
  buildS: number;
}

interface Round {
  backlogRecords: number;
  /** Tunnel open → hub stored the last backlog telemetry record. */
  drainS: number;
  drainedRecordsPerS: number;
  alarmsRaised: number;
  alarmsDuringDrain: number;
  stored: number;
  missed: number;
  /** Tunnel states the agent went through (ms after the first open). */
  tunnel: string[];
  tunnelConnects: number;
  hubStats: unknown;
}

interface CaseResult {
  case: string;
  errorPollIntervalMs: number;
  backlog: string;
  rounds: Round[];
  latencyMs: Summary;
  /** Agent observed the code (error poll) → hub stored it: the latency without the poll phase. */
  observedToStoredMs: Summary;
  /** p50/p99 of each leg (for the drain cases: raises during the drain). */
  breakdownMs: Record<'observedToAccepted' | 'acceptedToSent' | 'sentToStored', Summary>;
  /** For the drain cases: raises before the drain ended. */
  latencyDuringDrainMs?: Summary;
  /** Raises after the drain ended (tail of the round): no backlog left. */
  latencyAfterDrainMs?: Summary;
  missed: number;
}

interface Latency {
  ms: number;
  pipelineMs: number;
  duringDrain: boolean;
  /** Agent: error poll saw the code → its record was durable in the spool. */
  observedToAcceptedMs?: number;
  /** Agent: durable → written to the tunnel (waiting for a window slot). */
  acceptedToSentMs?: number;
  /** Written by the agent → committed by the hub (transit, frames ahead, group commit). */
  sentToStoredMs?: number;
}

interface Raise {
  code: number;
  atMs: number;
  matched: boolean;
}

const IMMEDIATE = catalogueJson.codes.filter((c) => c.immediate).map((c) => c.code);

export const alarmLatencyBacklogBench: Bench = {
  name: 'alarm-latency-backlog',
  description:
    'alarm latency sim -> hub idle and while a 7-day telemetry backlog drains (FileSpool, TLS hub)',
  async run(log) {
    const t0 = nowNs();
    const loadAtStart = loadAvg();
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-backlog-'));
    const children = new Set<AgentProcess>();
    let hub: Hub | undefined;
    const sims: Simulator[] = [];
    const backlogs: Backlog[] = [];
    const cases: CaseResult[] = [];
    try {
      const bundle = await buildAgentBundle(dir);
      const pki = await createTestPki({ deviceIds: [DEVICE_ID], hubName: 'backlog-bench-hub' });
      const device = pki.devices[DEVICE_ID]!;
      const keys = nacl.sign.keyPair();
      const hubDb = join(dir, 'hub');
      const pristineDb = join(dir, 'hub-pristine');
      await mkdir(hubDb);
      const hubOptions = {
        tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
        dbPath: join(hubDb, 'hub.sqlite'),
        hubId: 'backlog-bench-hub',
      };
      // The hub once, to fix its port, its identity (kept in the database) and the device key.
      hub = await startHub(hubOptions);
      hub.registerDevice(DEVICE_ID, keys.publicKey);
      const port = new URL(hub.url).port;
      const hubIdentityKey = [...hub.identityPublicKey];
      await hub.close();
      hub = undefined;
      await cp(hubDb, pristineDb, { recursive: true });
      const agentConfig = (spoolDir: string, simPort: number): AgentChildConfig => ({
        hubUrl: `wss://127.0.0.1:${port}${TUNNEL_PATH}`,
        caPem: pki.ca.certPem,
        certPem: device.certPem,
        keyPem: device.keyPem,
        secretKey: [...keys.secretKey],
        hubIdentityKey,
        simPort,
        spoolDir,
      });
      const spawn = async (): Promise<AgentProcess> => {
        const c = await AgentProcess.spawn(bundle.agent);
        children.add(c);
        void c.exited.then(() => children.delete(c));
        return c;
      };

      // 1. Build the backlogs, hub down.
      const fastSim = await startSimulator({
        seed: 42,
        controlPort: false,
        tickMs: BUILD_POLL_MS,
        timeScale: 60_000 / BUILD_POLL_MS,
      });
      sims.push(fastSim);
      const specs = [
        { name: 'batched-15' as const, sendEveryPolls: 15 },
        { name: 'one-per-record' as const, sendEveryPolls: 1 },
      ];
      const buildStart = Date.now();
      await Promise.all(
        specs.map(async (spec) => {
          const spoolDir = join(dir, `backlog-${spec.name}`);
          const c = await spawn();
          await c.start({
            ...agentConfig(spoolDir, fastSim.modbusPort),
            pollIntervalMs: BUILD_POLL_MS,
            // The default timeout is the interval: 5 ms polls on a loaded machine would time out.
            pollTimeoutMs: 2000,
            errorPollIntervalMs: 0,
            flushEverySamples: spec.sendEveryPolls,
            // A poll waits for its records to be durable: a shorter group commit builds faster.
            groupCommitMs: 1,
          });
          let samples = 0;
          while (samples < SEVEN_DAYS_SAMPLES && Date.now() - buildStart < BUILD_MAX_S * 1000) {
            await sleep(250);
            samples = ((await c.stats()).stats as AgentStatsLike).samplesAccepted;
          }
          const stopped = c.waitFor<Extract<AgentChildMessage, { type: 'stopped' }>>(
            (m) => m.type === 'stopped',
            30_000,
          );
          c.send({ op: 'stop', drainTimeoutMs: 0 });
          const st = (await stopped).stats as AgentStatsLike;
          await c.kill();
          backlogs.push({
            ...spec,
            dir: spoolDir,
            samples: st.samplesAccepted,
            telemetryRecords: st.telemetryRecords,
            alarmRecords: st.alarmsAccepted,
            records: st.queue.records,
            bytes: st.queue.bytes,
            buildS: round((Date.now() - buildStart) / 1000, 1),
          });
        }),
      );
      await fastSim.close();
      sims.length = 0;
      backlogs.sort((a, b) => a.sendEveryPolls - b.sendEveryPolls).reverse();
      for (const b of backlogs)
        log(
          `backlog ${b.name}: ${b.samples} samples in ${b.telemetryRecords} telemetry records (+${b.alarmRecords} alarms), ${b.records} records / ${round(b.bytes / 1e6, 2)} MB in the spool, built in ${b.buildS} s`,
        );

      // 2./3. Latency: a real-time simulator with no workload (no spontaneous codes).
      const sim = await startSimulator({
        seed: 7,
        controlPort: false,
        workload: { enabled: false },
      });
      sims.push(sim);
      const raises: Raise[] = [];
      sim.onError((e: ControllerErrorEvent) => {
        if (e.state === 'raised' && e.immediate && e.visible)
          raises.push({ code: e.code, atMs: e.wallTimeMs, matched: false });
      });
      const active = new Set<number>();
      sim.onError((e) => {
        if (e.state === 'raised') active.add(e.code);
        else active.delete(e.code);
      });

      const runRound = async (
        errorPollIntervalMs: number,
        backlog: Backlog | undefined,
        maxRaises: number,
      ): Promise<{ round: Round; latencies: Latency[] }> => {
        await rm(hubDb, { recursive: true, force: true });
        await cp(pristineDb, hubDb, { recursive: true });
        const spoolDir = join(dir, 'spool-run');
        await rm(spoolDir, { recursive: true, force: true });
        if (backlog) await cp(backlog.dir, spoolDir, { recursive: true });
        hub = await startHub({ ...hubOptions, port: Number(port) });
        let telemetryStored = 0;
        let drainEndMs = backlog ? Number.POSITIVE_INFINITY : 0;
        const stored: { code: number; observedAtMs: number; storedAtMs: number }[] = [];
        hub.on('stored', ({ frame, storedAtMs }) => {
          if (frame.type === 'telemetry') {
            telemetryStored++;
            if (backlog && telemetryStored === backlog.telemetryRecords) drainEndMs = storedAtMs;
          } else if (frame.type === 'alarm' && frame.alarm.state === 1) {
            stored.push({
              code: frame.alarm.code ?? 0,
              observedAtMs: Number(frame.alarm.observedAtMs ?? 0),
              storedAtMs,
            });
          }
        });
        const child = await spawn();
        const open = child.waitFor<Extract<AgentChildMessage, { type: 'tunnel' }>>(
          (m) => m.type === 'tunnel' && m.state === 'open',
          30_000,
        );
        raises.length = 0;
        const tunnel: { state: string; atMs: number }[] = [];
        const traces = new Map<string, { acceptedAtMs: number; sentAtMs: number }>();
        child.on((m) => {
          if (m.type === 'tunnel') tunnel.push({ state: m.state, atMs: m.atMs });
          if (m.type === 'alarm-trace') traces.set(`${m.code}@${m.observedAtMs}`, m);
        });
        try {
          await child.start({
            ...agentConfig(spoolDir, sim.modbusPort),
            errorPollIntervalMs,
            alarmCoalesceMs: 0,
            traceAlarms: true,
          });
          const openAtMs = (await open).atMs;
          const backlogRecords = backlog ? backlog.records : 0;
          const holdMs = errorPollIntervalMs + (errorPollIntervalMs >= 1000 ? 100 : 500);
          const deadline = Date.now() + MAX_CASE_S * 1000;
          let next = 0;
          let injected = 0;
          // First raise at a random point of the first 200 ms after the tunnel opened.
          await sleep(Math.random() * 200);
          while (Date.now() < deadline && injected < maxRaises) {
            if (backlog && Date.now() > drainEndMs) break;
            for (let k = 0; k < IMMEDIATE.length; k++) {
              const code = IMMEDIATE[(next + k) % IMMEDIATE.length]!;
              if (active.has(code)) continue;
              next = (next + k + 1) % IMMEDIATE.length;
              sim.inject(code, { holdMs });
              injected++;
              break;
            }
            await sleep(150 + Math.random() * 100);
          }
          // Wait for the hub to store the rest (and, for a drain, the end of the backlog).
          const until = Date.now() + STORE_TIMEOUT_MS + (backlog ? 30_000 : 0);
          while (Date.now() < until) {
            const raisedCount = raises.length;
            if (stored.length >= raisedCount && (!backlog || drainEndMs < Infinity)) break;
            await sleep(20);
          }
          await sleep(errorPollIntervalMs + 200);
          const latencies: Latency[] = [];
          for (const s of stored) {
            // The raise this alarm reports: the latest raise of its code the agent could have seen.
            let best: Raise | undefined;
            for (const r of raises)
              if (r.code === s.code && r.atMs <= s.observedAtMs + 1 && !r.matched) best = r;
            if (!best || best.atMs < openAtMs - 1) continue; // a backlog alarm from the build
            best.matched = true;
            const trace = traces.get(`${s.code}@${s.observedAtMs}`);
            latencies.push({
              ms: s.storedAtMs - best.atMs,
              pipelineMs: s.storedAtMs - s.observedAtMs,
              duringDrain: best.atMs <= drainEndMs,
              ...(trace && {
                observedToAcceptedMs: trace.acceptedAtMs - s.observedAtMs,
                acceptedToSentMs: trace.sentAtMs - trace.acceptedAtMs,
                sentToStoredMs: s.storedAtMs - trace.sentAtMs,
              }),
            });
          }
          const agentStats = (await child.stats()).stats as AgentStatsLike;
          const drainS =
            backlog && drainEndMs < Infinity ? round((drainEndMs - openAtMs) / 1000, 2) : 0;
          return {
            round: {
              backlogRecords,
              drainS,
              drainedRecordsPerS: drainS > 0 ? round(backlogRecords / drainS) : 0,
              alarmsRaised: raises.length,
              alarmsDuringDrain: raises.filter((r) => r.atMs <= drainEndMs).length,
              stored: latencies.length,
              missed: raises.filter((r) => !r.matched).length,
              tunnel: tunnel.map((t) => `${t.state}@${t.atMs - openAtMs}`),
              tunnelConnects: agentStats.tunnelConnects,
              hubStats: hub.stats(),
            },
            latencies,
          };
        } finally {
          await child.kill();
          for (const code of [...active]) sim.clear(code);
          await hub.close();
          hub = undefined;
        }
      };

      for (const errorPollIntervalMs of ERROR_POLLS) {
        for (const backlog of [undefined, ...backlogs]) {
          const name = backlog ? `drain ${backlog.name}` : 'idle';
          const rounds: Round[] = [];
          const all: Latency[] = [];
          const caseStart = Date.now();
          for (let i = 0; i < (backlog ? MAX_DRAIN_ROUNDS : 1); i++) {
            const r = await runRound(errorPollIntervalMs, backlog, backlog ? 1000 : IDLE_RAISES);
            rounds.push(r.round);
            all.push(...r.latencies);
            const during = all.filter((l) => l.duringDrain).length;
            if (!backlog || during >= MIN_DRAIN_ALARMS) break;
            if (Date.now() - caseStart > MAX_CASE_S * 1000) break;
          }
          const result: CaseResult = {
            case: name,
            errorPollIntervalMs,
            backlog: backlog?.name ?? 'none',
            rounds,
            latencyMs: summary(
              all.map((l) => l.ms),
              0,
            ),
            observedToStoredMs: summary(
              all.filter((l) => l.duringDrain || !backlog).map((l) => l.pipelineMs),
              0,
            ),
            missed: rounds.reduce((n, r) => n + r.missed, 0),
            breakdownMs: breakdown(all.filter((l) => l.duringDrain || !backlog)),
          };
          if (backlog) {
            result.latencyDuringDrainMs = summary(
              all.filter((l) => l.duringDrain).map((l) => l.ms),
              0,
            );
            result.latencyAfterDrainMs = summary(
              all.filter((l) => !l.duringDrain).map((l) => l.ms),
              0,
            );
          }
          cases.push(result);
          const l = result.latencyDuringDrainMs ?? result.latencyMs;
          log(
            `  ${name}, error poll ${errorPollIntervalMs} ms: ${l.count} alarms, p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms; observed -> stored p50 ${result.observedToStoredMs.p50} p99 ${result.observedToStoredMs.p99} ms = durable ${result.breakdownMs.observedToAccepted.p50}/${result.breakdownMs.observedToAccepted.p99} + window ${result.breakdownMs.acceptedToSent.p50}/${result.breakdownMs.acceptedToSent.p99} + to hub commit ${result.breakdownMs.sentToStored.p50}/${result.breakdownMs.sentToStored.p99} (${rounds.length} round(s), drain ${rounds.map((r) => r.drainS).join('/')} s)`,
          );
        }
      }
    } finally {
      await Promise.all([...children].map((c) => c.kill()));
      await hub?.close();
      for (const s of sims) await s.close();
      await rm(dir, { recursive: true, force: true });
    }
    const loadAtEnd = loadAvg();

    log(
      table(
        [
          'case',
          'error poll ms',
          'backlog records',
          'drain s',
          'alarms',
          'p50 ms',
          'p99 ms',
          'max ms',
          'observed->stored p50/p99 ms',
          'missed',
        ],
        cases.map((c) => {
          const l = c.latencyDuringDrainMs ?? c.latencyMs;
          return [
            c.case,
            c.errorPollIntervalMs,
            c.rounds[0]?.backlogRecords ?? 0,
            c.backlog === 'none' ? '' : c.rounds.map((r) => r.drainS).join('/'),
            l.count,
            l.p50,
            l.p99,
            l.max,
            `${c.observedToStoredMs.p50}/${c.observedToStoredMs.p99}`,
            c.missed,
          ];
        }),
      ),
    );
    const worst = (backlog: boolean, poll: number): number =>
      Math.max(
        ...cases
          .filter((c) => (c.backlog !== 'none') === backlog && c.errorPollIntervalMs === poll)
          .map((c) => (c.latencyDuringDrainMs ?? c.latencyMs).p99),
      );
    for (const poll of ERROR_POLLS.filter((p) => p < 1000)) {
      log(
        `targets (${poll} ms error poll): idle p99 < 100 ms: ${worst(false, poll)} ms -> ${worst(false, poll) < 100 ? 'met' : 'not met'}; during a 7-day drain p99 < 2000 ms: ${worst(true, poll)} ms -> ${worst(true, poll) < 2000 ? 'met' : 'not met'}`,
      );
    }
    log(`load average at start ${loadAtStart.join(' ')}, at end ${loadAtEnd.join(' ')}`);
    return {
      bench: 'alarm-latency-backlog',
      command: 'npm run bench -- alarm-latency-backlog',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        loadAvgAtStart: loadAtStart,
        loadAvgAtEnd: loadAtEnd,
        sevenDaysSamples: SEVEN_DAYS_SAMPLES,
        build: `two builder agents (child processes) poll firmware-sim (seed 42, tick ${BUILD_POLL_MS} ms, timeScale ${60_000 / BUILD_POLL_MS}: 60 s of model time per poll) every ${BUILD_POLL_MS} ms (poll timeout 2 s) with the hub's port closed, calling agent.flush() after every 15th or every snapshot (records of exactly 15 or 1 samples; the 15-min send timer never fires), until ${SEVEN_DAYS_SAMPLES} samples are accepted (cap ${BUILD_MAX_S} s); FileSpool defaults except groupCommitMs 1 (a poll waits for its appends to be durable, so the default 20 ms wait paces the build)`,
        backlogs,
        drainAgent:
          'agent child (plain node, esbuild bundle of bench/agent-child.ts) on a copy of the backlog spool: pollIntervalMs 60000, telemetry.sendIntervalMs 15 min (defaults), errorPollIntervalMs 50, 100 or 1000, alarmCoalesceMs 0, tunnel window 64 (default); the hub (TLS 1.3, SQLite file restored to its pre-backlog copy) is started on the same port before the agent',
        injection: `firmware-sim (real time, workload off): an alarm-class code that is not active, round robin over the 11 immediate codes, every 150-250 ms from tunnel open until the hub stored the last backlog record (idle: ${IDLE_RAISES} raises); holdMs = error poll + 500 ms (100 ms poll) or + 100 ms (1 s poll)`,
        latency:
          "hub 'stored' event storedAtMs − simulator raise wallTimeMs (same clock); a stored alarm is matched to the latest unmatched raise of its code at or before the alarm's observedAtMs",
        duringDrain: 'raises at or before the hub stored the last backlog telemetry record',
        rounds: `repeated (fresh hub database and spool copies) until ${MIN_DRAIN_ALARMS} alarms fell in drains, at most ${MAX_DRAIN_ROUNDS} rounds or ${MAX_CASE_S} s per case`,
        storeTimeoutMs: STORE_TIMEOUT_MS,
      },
      results: cases,
    };
  },
};

function breakdown(all: readonly Latency[]): CaseResult['breakdownMs'] {
  const leg = (f: (l: Latency) => number | undefined): Summary =>
    summary(
      all.map(f).filter((v): v is number => v !== undefined),
      0,
    );
  return {
    observedToAccepted: leg((l) => l.observedToAcceptedMs),
    acceptedToSent: leg((l) => l.acceptedToSentMs),
    sentToStored: leg((l) => l.sentToStoredMs),
  };
}

interface AgentStatsLike {
  tunnelConnects: number;
  samplesAccepted: number;
  telemetryRecords: number;
  alarmsAccepted: number;
  queue: { records: number; bytes: number };
}
