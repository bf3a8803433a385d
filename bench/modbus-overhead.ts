/**
 * modbus-overhead: the agent's own cost per poll on real Modbus TCP, bus time excluded.
 *
 * The responder is the simulator's MBAP face (it writes each reply in the same tick it reads
 * the request; no timer) in a child process, serving the 60-register map's image. Per poll the
 * agent runs what it runs in production: ModbusAdapter.readSnapshot() through ModbusTcpClient
 * (modbus-serial), ErrorTracker.update() and TelemetryBatcher.add() (flush every 15th poll).
 * The bus alone is timed with a bare client sending the same prebuilt requests and counting
 * reply bytes. Blocks of agent polls and bare polls alternate, so both see the same machine;
 * overhead = agent − bare, per block, and the agent process's CPU time per poll (the
 * responder's CPU is in the other process and not counted).
 */
import { bodyBudget } from '../src/codec/index.js';
import { ErrorTracker } from '../src/runtime/error-tracker.js';
import { TelemetryBatcher } from '../src/runtime/telemetry-batcher.js';
import { modbusTcpAdapter } from '../src/index.js';
import { DEVICE_ID, catalogue } from './fixtures.js';
import { median, nowNs, round, table, type Bench } from './lib.js';
import {
  holdingImage,
  RawModbusTcp,
  ResponderProcess,
  sixtyRegisterMap,
  summary,
} from './modbus-kit.js';

const WARMUP_POLLS = 1_000;
const BLOCKS = 8;
const POLLS_PER_BLOCK = 1_000;
const MAX_SECONDS = 45;
const FLUSH_EVERY = 15;
const TARGET_US = 1000;

export const modbusOverheadBench: Bench = {
  name: 'modbus-overhead',
  description: 'agent cost per poll on Modbus TCP (60 registers), bus time excluded',
  async run(log) {
    const t0 = nowNs();
    const deadline = t0 + MAX_SECONDS * 1e9;
    const map = sixtyRegisterMap();
    const responder = await ResponderProcess.start({ rtu: false, holding: holdingImage(map) });
    const adapter = modbusTcpAdapter({
      host: '127.0.0.1',
      port: responder.tcpPort,
      registerMap: map,
      timeoutMs: 1000,
    });
    const raw = await RawModbusTcp.connect(responder.tcpPort);
    try {
      await adapter.connect();
      const tracker = new ErrorTracker(catalogue);
      const batcher = new TelemetryBatcher({ maxBodyBytes: bodyBudget(DEVICE_ID) });
      const requests = adapter.plannedReads.map((r) => RawModbusTcp.request(r.address, r.count));
      let clock = Date.parse('2026-01-05T08:00:00.000Z');
      let polls = 0;

      const agentPoll = async (): Promise<number> => {
        const s = nowNs();
        const snapshot = await adapter.readSnapshot();
        clock += 60_000;
        const r = tracker.update(snapshot.codes, clock, snapshot.raisesTotal);
        const health = { ...adapter.health(), missedErrorRaises: 0 };
        for (const t of r.transitions) if (!t.info.immediate) batcher.addEvent(t, health);
        batcher.add(snapshot, health);
        if (++polls % FLUSH_EVERY === 0) batcher.flush(health);
        return (nowNs() - s) / 1e3;
      };
      const barePoll = async (): Promise<number> => {
        const s = nowNs();
        for (const r of requests) await raw.transact(r);
        return (nowNs() - s) / 1e3;
      };

      for (let i = 0; i < WARMUP_POLLS && nowNs() < deadline; i++) {
        await agentPoll();
        await barePoll();
      }

      const agentUs: number[] = [];
      const bareUs: number[] = [];
      const blockOverheadUs: number[] = [];
      let agentCpuUs = 0;
      let bareCpuUs = 0;
      let blocks = 0;
      for (let b = 0; b < BLOCKS && nowNs() < deadline; b++) {
        const agentBlock: number[] = [];
        const bareBlock: number[] = [];
        let cpu = process.cpuUsage();
        for (let i = 0; i < POLLS_PER_BLOCK; i++) agentBlock.push(await agentPoll());
        let used = process.cpuUsage(cpu);
        agentCpuUs += used.user + used.system;
        cpu = process.cpuUsage();
        for (let i = 0; i < POLLS_PER_BLOCK; i++) bareBlock.push(await barePoll());
        used = process.cpuUsage(cpu);
        bareCpuUs += used.user + used.system;
        agentUs.push(...agentBlock);
        bareUs.push(...bareBlock);
        blockOverheadUs.push(median(agentBlock) - median(bareBlock));
        blocks++;
      }
      const n = blocks * POLLS_PER_BLOCK;
      const agent = summary(agentUs, 1);
      const bare = summary(bareUs, 1);
      const overheadP50 = round(median(blockOverheadUs), 1);
      const cpuAgent = round(agentCpuUs / n, 1);
      const cpuBare = round(bareCpuUs / n, 1);
      const health = adapter.health();
      log(
        table(
          ['per poll (2 reads: 60 + 8 registers)', 'mean us', 'p50 us', 'p99 us', 'max us'],
          [
            ['agent poll (wall)', agent.mean, agent.p50, agent.p99, agent.max],
            ['bare client, same requests (wall)', bare.mean, bare.p50, bare.p99, bare.max],
          ],
        ),
      );
      log(
        table(
          ['figure', 'value'],
          [
            ['overhead = agent - bare, median of block p50s', `${overheadP50} us`],
            ['agent process CPU per poll (user+system)', `${cpuAgent} us`],
            ['bare client CPU per poll', `${cpuBare} us`],
            ['agent CPU - bare CPU per poll', `${round(cpuAgent - cpuBare, 1)} us`],
            ['overhead / 1 ms target', round(overheadP50 / TARGET_US, 3)],
            ['polls (blocks)', `${n} (${blocks})`],
            ['adapter reads ok / failed', `${health.readsOk} / ${health.readsFailed}`],
          ],
        ),
      );
      return {
        bench: 'modbus-overhead',
        command: 'npm run bench -- modbus-overhead',
        wallTimeS: round((nowNs() - t0) / 1e9, 1),
        settings: {
          map: '30 two-register counters at holding 0..59 (u32/i32, both word orders, scales 1/0.1/0.01; the last is error_events_total) + 8 error slots at holding 100: 2 reads per poll',
          responder:
            'firmware-sim startModbusTcp in a child process (bench/modbus-child.ts): the reply is written in the same tick the request is read, no timer',
          agentPoll:
            'modbusTcpAdapter readSnapshot (ModbusTcpClient on modbus-serial) + ErrorTracker.update + TelemetryBatcher.add (+ flush every 15th poll)',
          barePoll:
            'bench/modbus-kit.ts RawModbusTcp: the same two prebuilt requests on one socket, reply complete when its byte count is in',
          warmupPolls: WARMUP_POLLS,
          blocks: BLOCKS,
          pollsPerBlock: POLLS_PER_BLOCK,
          maxSeconds: MAX_SECONDS,
          targetUs: TARGET_US,
        },
        results: {
          agentWallUs: agent,
          bareWallUs: bare,
          overheadUsP50: overheadP50,
          blockOverheadUs: blockOverheadUs.map((v) => round(v, 1)),
          cpuPerPollUs: {
            agent: cpuAgent,
            bare: cpuBare,
            difference: round(cpuAgent - cpuBare, 1),
          },
          overheadVsTarget: round(overheadP50 / TARGET_US, 3),
          polls: n,
          adapterHealth: health,
        },
      };
    } finally {
      raw.close();
      await adapter.close();
      await responder.stop();
    }
  },
};
