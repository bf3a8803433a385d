/**
 * transport-vs-mqtt: acknowledged 2 KB messages per second, one device, through the Outpost
 * tunnel and through MQTT QoS 1 over TLS, in the same run:
 * - MQTT: the `mqtt` npm client publishing QoS 1 to a local mosquitto (TLS 1.3 with client
 *   certificates, `set_tcp_nodelay true`, no persistence); a message counts when its PUBACK
 *   arrives. Up to `window` publishes await their PUBACK at any time.
 * - Outpost, transport only: the agent's `TunnelClient` fed by a `MemoryQueue`, against the hub
 *   in its in-memory mode (`dbPath` unset: SQLite `:memory:`, the hub's default): the hub still
 *   decodes, de-duplicates and stores every frame (a `frames` row and an `alarms` row, in RAM)
 *   and acks after that in-memory commit; nothing survives a restart. A message counts when the
 *   hub's cumulative ack covers it. With and without `ws`'s native `bufferutil`
 *   (masking/unmasking), each side's process forked accordingly.
 * - Outpost, transport only, hub `seqs-only`: the same against a hub that keeps no data rows,
 *   only each stream's received seqs (`dataMode: 'seqs-only'`): it decodes, de-duplicates and
 *   acks, as mosquitto without a subscriber or persistence decodes and PUBACKs.
 * - Outpost, durable: the same with a `FileSpool` (default group commit; a record is sent only
 *   once its append is durable) on the agent side and a SQLite file on the hub (WAL; the ack
 *   follows the fsync of the WAL that holds the frame, as with synchronous=FULL): a message
 *   counts once both durable commits are behind it.
 *
 * Every side runs in its own process (bench/transport-kit.ts). Rounds interleave the cases;
 * each figure is the median of its rounds, and the ratios are medians of per-round ratios.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '../hub/pki.js';
import { median, nowNs, round, sig, table, type Bench } from './lib.js';
import {
  DEVICE_ID,
  KitChild,
  mosquittoPath,
  startMosquitto,
  type Broker,
  type Drive,
  type RunResult,
} from './transport-kit.js';
import { issueDevices } from './tunnel-kit.js';

const ROUNDS = 3;
const DRIVE: Drive = {
  window: Number(process.env.OUTPOST_BENCH_WINDOW ?? 1024),
  warmupS: 0.75,
  measureS: 2,
  maxMessages: 1_000_000,
};
/**
 * OUTPOST_BENCH_AGENT_FLAG_SETS='unit=--single-threaded --optimize-for-size;…' (a diagnostic):
 * one more durable case per set, its agent child started with those node flags, to weigh what a
 * flag set for the service (deploy/systemd) costs the bulk path.
 */
const AGENT_FLAG_SETS: ReadonlyArray<{ label: string; flags: string[] }> = (
  process.env.OUTPOST_BENCH_AGENT_FLAG_SETS ?? ''
)
  .split(';')
  .filter((s) => s.includes('='))
  .map((s) => {
    const i = s.indexOf('=');
    return {
      label: s.slice(0, i).trim(),
      flags: s
        .slice(i + 1)
        .split(/\s+/)
        .filter(Boolean),
    };
  });
/** Hard stop for the whole bench (the last round is skipped past it), more with more cases. */
const BENCH_BUDGET_S = 75 + 15 * AGENT_FLAG_SETS.length;
const TARGET_VS_MQTT = 2;
const TARGET_DURABLE = 20_000;

type CaseName =
  | 'MQTT QoS 1 (mosquitto, mqtt.js)'
  | 'Outpost transport-only, bufferutil'
  | 'Outpost transport-only, hub seqs-only, bufferutil'
  | 'Outpost transport-only, no bufferutil'
  | 'Outpost durable (FileSpool + SQLite file), bufferutil'
  | `Outpost durable, agent node ${string}`;

interface Trial extends RunResult {
  /** Server-side CPU seconds per 1 000 acked messages (hub or mosquitto, whole trial). */
  serverCpuMsPerMessage: number;
  clientCpuMsPerMessage: number;
  /** Outpost: frames per hub transaction (group commit) over the trial. */
  itemsPerCommit?: number;
  /** Outpost: the hub's event-loop delay over the trial (ms), p99 and max. */
  hubLoopDelayP99Ms?: number;
  hubLoopDelayMaxMs?: number;
  /** Outpost: WAL checkpoints in the trial (worker, on the event loop) and commit holds. */
  checkpoints?: { worker: number; loop: number; holds: number; heldMs: number };
}

export const transportVsMqttBench: Bench = {
  name: 'transport-vs-mqtt',
  description:
    'acked 2 KB messages/s, one device: Outpost tunnel (in-memory and durable) vs MQTT QoS 1/TLS',
  async run(log) {
    const t0 = nowNs();
    if (!mosquittoPath()) throw new Error('mosquitto not found: apt-get install -y mosquitto');
    const dir = await mkdtemp(join(os.tmpdir(), 'outpost-bench-transport-'));
    const pki = await createTestPki({ deviceIds: [] });
    const { devices, publicKeys } = await issueDevices(pki.ca, [DEVICE_ID]);
    const device = devices[0]!;
    const serverTls = { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem };
    const clientTls = { ca: pki.ca.certPem, cert: device.certPem, key: device.keyPem };

    const children: KitChild[] = [];
    const child = (bufferutil: boolean, execArgv: string[] = []): KitChild => {
      const c = KitChild.spawn({ bufferutil, execArgv });
      children.push(c);
      return c;
    };
    let broker: Broker | undefined;
    const rounds: Array<Partial<Record<CaseName, Trial>>> = [];
    const processes: Record<string, unknown> = {};
    try {
      broker = await startMosquitto(serverTls);
      const hubBu = child(true);
      const hubSeqs = child(true);
      const hubNo = child(false);
      const hubDurable = child(true);
      const agentBu = child(true);
      const agentNo = child(false);
      const mqttClient = child(true);
      const flagAgents = AGENT_FLAG_SETS.map((s) => ({ ...s, agent: child(true, s.flags) }));
      for (const [name, c, want] of [
        ['hub, bufferutil', hubBu, true],
        ['hub, seqs-only, bufferutil', hubSeqs, true],
        ['hub, no bufferutil', hubNo, false],
        ['hub, durable', hubDurable, true],
        ['agent, bufferutil', agentBu, true],
        ['agent, no bufferutil', agentNo, false],
        ['mqtt client', mqttClient, true],
        ...flagAgents.map((a) => [`agent, node ${a.label}`, a.agent, true] as const),
      ] as const) {
        const info = await c.request('info', {});
        if (info.bufferutil !== want)
          throw new Error(`${name}: ws bufferutil ${info.bufferutil}, expected ${want}`);
        processes[name] = info;
      }
      const register = { tls: serverTls, deviceId: DEVICE_ID, publicKey: publicKeys[0]! };
      const hubs = {
        bu: await hubBu.request('hub-start', { ...register, dbPath: ':memory:' }),
        seqs: await hubSeqs.request('hub-start', {
          ...register,
          dbPath: ':memory:',
          options: { dataMode: 'seqs-only' },
        }),
        no: await hubNo.request('hub-start', { ...register, dbPath: ':memory:' }),
        durable: await hubDurable.request('hub-start', {
          ...register,
          dbPath: join(dir, 'hub.db'),
        }),
      };
      const outpost = async (
        agent: KitChild,
        hubChild: KitChild,
        h: { url: string; hubKey: Uint8Array },
        queue: 'memory' | { spoolDir: string },
      ): Promise<Trial> => {
        const s0 = await hubChild.request('hub-stats', {});
        const r = await agent.request('agent-run', {
          ...DRIVE,
          url: h.url,
          tls: clientTls,
          seed: device.seed,
          hubKey: h.hubKey,
          queue,
        });
        const s1 = await hubChild.request('hub-stats', {});
        const commits = s1.commits - s0.commits;
        const k0 = s0.checkpoints;
        const k1 = s1.checkpoints;
        return {
          ...withCpu(r, s1.cpuSeconds - s0.cpuSeconds),
          itemsPerCommit:
            commits > 0 ? round((s1.committedItems - s0.committedItems) / commits, 1) : 0,
          hubLoopDelayP99Ms: round(s1.loopDelayP99Ms, 1),
          hubLoopDelayMaxMs: round(s1.loopDelayMaxMs, 1),
          checkpoints: {
            worker: k1.worker - k0.worker,
            loop: k1.loop - k0.loop,
            holds: k1.holds - k0.holds,
            heldMs: k1.heldMs - k0.heldMs,
          },
        };
      };
      let spoolN = 0;
      /** A durable trial: `agent` on a fresh spool directory, the hub on its SQLite file. */
      const durable = async (agent: KitChild): Promise<Trial> => {
        const spoolDir = join(dir, `spool-${spoolN++}`);
        try {
          return await outpost(agent, hubDurable, hubs.durable, { spoolDir });
        } finally {
          await rm(spoolDir, { recursive: true, force: true });
        }
      };
      const cases: Record<CaseName, () => Promise<Trial>> = {
        'MQTT QoS 1 (mosquitto, mqtt.js)': async () => {
          const c0 = broker!.cpuSeconds();
          const r = await mqttClient.request('mqtt-run', {
            ...DRIVE,
            port: broker!.port,
            tls: clientTls,
            clientId: `bench-${Date.now()}`,
          });
          return withCpu(r, broker!.cpuSeconds() - c0);
        },
        'Outpost transport-only, bufferutil': () => outpost(agentBu, hubBu, hubs.bu, 'memory'),
        'Outpost transport-only, hub seqs-only, bufferutil': () =>
          outpost(agentBu, hubSeqs, hubs.seqs, 'memory'),
        'Outpost transport-only, no bufferutil': () => outpost(agentNo, hubNo, hubs.no, 'memory'),
        'Outpost durable (FileSpool + SQLite file), bufferutil': () => durable(agentBu),
      };
      for (const a of flagAgents)
        cases[`Outpost durable, agent node ${a.label}`] = () => durable(a.agent);
      const names = Object.keys(cases) as CaseName[];
      const perTrialS = DRIVE.warmupS + DRIVE.measureS + 1.5;
      for (let r = 0; r < ROUNDS; r++) {
        if ((nowNs() - t0) / 1e9 + names.length * perTrialS > BENCH_BUDGET_S) break;
        const trial: Partial<Record<CaseName, Trial>> = {};
        // Rotate the order so that no case always follows the same one.
        const order = names.map((_, i) => names[(i + r) % names.length]!);
        for (const name of order) {
          const run = cases[name];
          if (run) trial[name] = await run();
        }
        rounds.push(trial);
      }
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await broker?.stop();
      await rm(dir, { recursive: true, force: true });
    }

    const names = Object.keys(rounds[0] ?? {}) as CaseName[];
    const med = (c: CaseName, f: (t: Trial) => number): number =>
      median(rounds.flatMap((r) => (r[c] ? [f(r[c])] : [])));
    const ratio = (a: CaseName, b: CaseName): number =>
      median(rounds.flatMap((r) => (r[a] && r[b] ? [r[a].perSecond / r[b].perSecond] : [])));
    const mqtt: CaseName = 'MQTT QoS 1 (mosquitto, mqtt.js)';
    const summary = names.map((c) => ({
      case: c,
      perSecond: sig(med(c, (t) => t.perSecond)),
      perRound: rounds.map((r) => (r[c] ? sig(r[c].perSecond) : null)),
      vsMqtt: round(ratio(c, mqtt), 2),
      clientCpuUsPerMessage: round(med(c, (t) => t.clientCpuMsPerMessage) * 1000, 1),
      serverCpuUsPerMessage: round(med(c, (t) => t.serverCpuMsPerMessage) * 1000, 1),
      itemsPerCommit:
        c === mqtt
          ? null
          : round(
              med(c, (t) => t.itemsPerCommit ?? 0),
              1,
            ),
      recordsPerMessage:
        c === mqtt
          ? null
          : round(
              med(c, (t) => t.recordsPerMessage ?? 0),
              1,
            ),
      hubLoopDelayP99Ms:
        c === mqtt
          ? null
          : round(
              med(c, (t) => t.hubLoopDelayP99Ms ?? 0),
              1,
            ),
      hubLoopDelayMaxMs:
        c === mqtt ? null : Math.max(...rounds.map((r) => r[c]?.hubLoopDelayMaxMs ?? 0)),
    }));
    const get = (c: CaseName): (typeof summary)[number] | undefined =>
      summary.find((s) => s.case === c);
    const transportRatio = get('Outpost transport-only, bufferutil')?.vsMqtt ?? Number.NaN;
    const transportRatioSeqs =
      get('Outpost transport-only, hub seqs-only, bufferutil')?.vsMqtt ?? Number.NaN;
    const transportRatioNoBu = get('Outpost transport-only, no bufferutil')?.vsMqtt ?? Number.NaN;
    const durable =
      get('Outpost durable (FileSpool + SQLite file), bufferutil')?.perSecond ?? Number.NaN;
    log(
      table(
        [
          'case',
          'acked msg/s',
          'per round',
          'vs MQTT',
          'client CPU µs/msg',
          'server CPU µs/msg',
          'frames/commit',
          'records/WS msg',
          'hub loop delay p99 / max ms',
        ],
        summary.map((s) => [
          s.case,
          s.perSecond,
          s.perRound.join(' / '),
          `${s.vsMqtt}×`,
          s.clientCpuUsPerMessage,
          s.serverCpuUsPerMessage,
          s.itemsPerCommit ?? '',
          s.recordsPerMessage ?? '',
          s.hubLoopDelayP99Ms === null ? '' : `${s.hubLoopDelayP99Ms} / ${s.hubLoopDelayMaxMs}`,
        ]),
      ),
    );
    const ck = rounds.flatMap((r) => {
      const k = r['Outpost durable (FileSpool + SQLite file), bufferutil']?.checkpoints;
      return k ? [k] : [];
    });
    if (ck.length > 0) {
      const sum = (f: (k: (typeof ck)[number]) => number): number =>
        ck.reduce((a, k) => a + f(k), 0);
      log(
        `durable hub, all rounds: ${sum((k) => k.worker)} worker checkpoints, ${sum((k) => k.loop)} on the event loop, ` +
          `${sum((k) => k.holds)} commit holds for a WAL restart (${sum((k) => k.heldMs)} ms held in all)`,
      );
    }
    log(
      `targets: transport-only >= ${TARGET_VS_MQTT}x MQTT: hub in memory ${transportRatio >= TARGET_VS_MQTT ? 'met' : 'NOT met'} (${transportRatio}x), hub seqs-only ${transportRatioSeqs >= TARGET_VS_MQTT ? 'met' : 'NOT met'} (${transportRatioSeqs}x), no bufferutil ${transportRatioNoBu}x; ` +
        `durable >= ${TARGET_DURABLE}/s: ${durable >= TARGET_DURABLE ? 'met' : 'NOT met'} (${durable}/s)`,
    );
    return {
      bench: 'transport-vs-mqtt',
      command: 'npm run bench -- transport-vs-mqtt',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        ...DRIVE,
        rounds: ROUNDS,
        frameBytes: rounds[0]?.[mqtt]?.frameBytes,
        message:
          'an Alarm frame (envelope + body) of 2 048 bytes; MQTT publishes the same encoded frame bytes (QoS 1, topic outpost/<device>/alarm)',
        mqtt: `mosquitto ${broker?.version ?? '?'} on 127.0.0.1: TLS 1.3, require_certificate, set_tcp_nodelay true, persistence false, max_inflight_messages 0, max_queued_messages 0; mqtt.js (MQTT 3.1.1, clean session) with up to \`window\` publishes awaiting PUBACK`,
        outpostTransportOnly:
          "TunnelClient (window = `window`, up to 64 records per RecordBatch frame when several are ready) fed by a MemoryQueue kept 2 x window deep; the hub in its in-memory mode (dbPath ':memory:'): every record decoded, de-duplicated and stored (frames + alarms rows, in RAM), acked after that in-memory commit",
        outpostTransportOnlySeqsOnly:
          "the same against a hub with dataMode 'seqs-only' (dbPath ':memory:'): every record decoded, de-duplicated by (device, stream, seq) and acked after the stream's seq state commits; no data rows (like mosquitto, which stores nothing without a subscriber or persistence)",
        agentFlagSets: Object.fromEntries(AGENT_FLAG_SETS.map((a) => [a.label, a.flags.join(' ')])),
        outpostDurable:
          'FileSpool (default policy, fresh directory per trial, appends kept 2 x window ahead of the ack) and the hub on a SQLite file (WAL, 16 KiB pages; each batch acked only after the fsync of the WAL holding it, run on the thread pool: the durability of synchronous=FULL)',
        processes,
        serverCpu:
          'hub process or mosquitto, user + system, over the whole trial, per acked message',
        targets: { transportOnlyVsMqtt: TARGET_VS_MQTT, durablePerSecond: TARGET_DURABLE },
      },
      results: {
        summary,
        targets: {
          transportOnlyVsMqtt: transportRatio,
          transportOnlyVsMqttMet: transportRatio >= TARGET_VS_MQTT,
          transportOnlySeqsOnlyVsMqtt: transportRatioSeqs,
          transportOnlySeqsOnlyVsMqttMet: transportRatioSeqs >= TARGET_VS_MQTT,
          transportOnlyNoBufferutilVsMqtt: transportRatioNoBu,
          durablePerSecond: durable,
          durableMet: durable >= TARGET_DURABLE,
        },
        rounds,
      },
    };
  },
};

function withCpu(r: RunResult, serverCpuSeconds: number): Trial {
  return {
    ...r,
    serverCpuMsPerMessage: r.totalAcked > 0 ? (serverCpuSeconds * 1000) / r.totalAcked : Number.NaN,
    clientCpuMsPerMessage: r.messages > 0 ? (r.cpuSeconds * 1000) / r.messages : Number.NaN,
  };
}
