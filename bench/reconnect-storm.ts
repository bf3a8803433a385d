/**
 * reconnect-storm: how long a fleet takes to come back when its hub restarts. K devices, each
 * with its own client certificate (CN = device id) and registered Ed25519 key, hold tunnels to
 * a hub on a fixed port with a SQLite file; the clients live in child processes and reconnect
 * the way TunnelClient does (backoffDelay from src/tunnel/backoff.ts: base 1 s, cap 60 s, full
 * jitter; 10 s opening-handshake and inner-handshake deadlines). The hub is closed
 * (hub.close()) and a new one started on the same port and database; the bench measures, on
 * the hub side, when each device is authenticated again ('connected'), and on the client side,
 * each client's time from its tunnel dropping to HubAuth verified, and how many attempts it
 * took.
 *
 * K defaults to 10 000 (set OUTPOST_BENCH_STORM_DEVICES to change it); it is lowered to fit
 * the file-descriptor limit when needed (the hub process holds one socket per device).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createTestPki } from '../hub/pki.js';
import { Hub } from '../hub/server.js';
import { nowNs, round, table, type Bench } from './lib.js';
import {
  Child,
  cpuBusy,
  cpuSeconds,
  fdLimit,
  registerKeysInDb,
  sleep,
  summarize,
  waitUntil,
  type ChildOps,
  type Target,
} from './tunnel-kit.js';

const DEFAULT_DEVICES = 10_000;
const CHILDREN = 2;
/** Connection set-ups in flight per child while the fleet first connects (not measured). */
const SETUP_CONCURRENCY = 32;
const SETUP_MAX_S = 240;
/** Hard cap of the measured recovery. */
const STORM_MAX_S = 180;
const TARGET_S = 60;
/** Descriptors kept free for everything else in a process (db, IPC, stdio, listeners). */
const FD_HEADROOM = 512;
const TIMELINE_S = [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 150, 180] as const;

function plannedDevices(): {
  devices: number;
  requested: number;
  fdLimit: number | undefined;
  note: string;
} {
  const requested = Number(process.env.OUTPOST_BENCH_STORM_DEVICES ?? DEFAULT_DEVICES);
  if (!Number.isInteger(requested) || requested < CHILDREN)
    throw new RangeError(`OUTPOST_BENCH_STORM_DEVICES must be an integer >= ${CHILDREN}`);
  const limit = fdLimit();
  // The hub process needs one descriptor per tunnel (plus the listener, the db, IPC); each
  // child needs one per client. Children inherit the same limit.
  const fits = limit === undefined ? requested : Math.max(CHILDREN, limit - FD_HEADROOM);
  const devices = Math.min(requested, fits);
  const note =
    devices < requested
      ? `lowered from ${requested} to fit ulimit -n ${limit} (hub process: one fd per tunnel + ${FD_HEADROOM} headroom)`
      : `ulimit -n ${limit ?? 'unknown'}: hub process needs about ${devices} + headroom, each child about ${Math.ceil(devices / CHILDREN)}`;
  return { devices, requested, fdLimit: limit, note };
}

type StormMode = 'restart' | 'crash';
const MODES: readonly StormMode[] = ['restart', 'crash'];
const MODE_TEXT: Record<StormMode, string> = {
  restart:
    'hub.close(): every agent gets a come-back-later frame with its own random delay, spread at 200 agents/s (the default restartSpreadPerSecond), then the node closes',
  crash:
    'hub.close({ comeBackLater: false }): every tunnel is cut at once with no notice, as in a crash; agents reconnect on their backoff, its window at least the reconnect spread the hub announced in HubAuth (fleet / restartSpreadPerSecond)',
};

interface StormResult {
  mode: StormMode;
  hubCloseMs: number;
  newHubListeningMs: number;
  allBack: boolean;
  backCount: number;
  timeToAllS: number;
  recoveredPerSecond: number | null;
  hubSideS: ReturnType<typeof summarize>;
  clientSideS: ReturnType<typeof summarize>;
  attempts: ReturnType<typeof summarize>;
  redirected: number;
  failedAttempts: Record<string, number>;
  timeline: Array<{ s: number; back: number }>;
  recoveryS: number;
  hubCpuPercentOfOneCore: number;
  clientsCpuPercentOfOneCore: number;
  machineBusyPercent: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  hubRefusals: {
    tlsErrors: number;
    upgradesRefused: number;
    protocolErrors: number;
    connectionsShed: number;
  };
}

type Report = ChildOps['fleet-report']['res'];

async function storm(
  mode: StormMode,
  closing: Hub,
  restart: () => Promise<Hub>,
  children: readonly Child[],
  up: number,
): Promise<{ hub: Hub; result: StormResult }> {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  const back = new Map<string, number>();
  const cpu0 = process.cpuUsage();
  const cpus0 = os.cpus();
  const before: Report[] = await Promise.all(children.map((c) => c.request('fleet-report', {})));
  const storm0 = performance.now();
  // close() stops listening before it first yields, so the replacement binds the port at once
  // while the old node drains its tunnels, as when a supervisor starts the new process as soon
  // as the old one stops listening (and as after a crash, which frees the port at once). Both
  // share this process, so the old node's draining competes with the new one for the CPU.
  let closeMs = Number.NaN;
  const closed = closing
    .close(mode === 'restart' ? {} : { comeBackLater: false })
    .then(() => (closeMs = performance.now() - storm0));
  await new Promise((r) => setImmediate(r));
  const hub = await restart();
  const restartMs = performance.now() - storm0;
  eld.enable();
  hub.on('connected', (id) => {
    if (!back.has(id)) back.set(id, performance.now() - storm0);
  });
  const timeline: Array<{ s: number; back: number }> = [];
  let nextMark = 0;
  const allBack = await waitUntil(
    () => {
      const elapsed = (performance.now() - storm0) / 1000;
      while (nextMark < TIMELINE_S.length && elapsed >= TIMELINE_S[nextMark]!) {
        timeline.push({ s: TIMELINE_S[nextMark]!, back: back.size });
        nextMark++;
      }
      return back.size >= up;
    },
    STORM_MAX_S * 1000,
    25,
  );
  const stormS = (performance.now() - storm0) / 1000;
  eld.disable();
  await closed;
  const cpu1 = process.cpuUsage();
  const cpus1 = os.cpus();
  const after: Report[] = await Promise.all(children.map((c) => c.request('fleet-report', {})));
  // Reports are cumulative: keep what this storm added.
  const since = <T>(a: T[], b: T[]): T[] => b.slice(a.length);
  const hubTimes = [...back.values()];
  const clientMs = after.flatMap((r, i) => since(before[i]!.reconnectMs, r.reconnectMs));
  const attempts = after.flatMap((r, i) => since(before[i]!.attempts, r.attempts));
  const failures: Record<string, number> = {};
  after.forEach((r, i) => {
    for (const [k, v] of Object.entries(r.failures))
      failures[k] = (failures[k] ?? 0) + v - (before[i]!.failures[k] ?? 0);
  });
  for (const k of Object.keys(failures)) if (failures[k] === 0) delete failures[k];
  const stats = hub.stats();
  const timeToAllS = allBack ? Math.max(...hubTimes) / 1000 : Number.NaN;
  const hubCpuS = cpuSeconds(cpu0, cpu1);
  const clientsCpuS = after.reduce((n, r, i) => n + cpuSeconds(before[i]!.cpu, r.cpu), 0);
  return {
    hub,
    result: {
      mode,
      hubCloseMs: round(closeMs),
      newHubListeningMs: round(restartMs),
      allBack,
      backCount: back.size,
      timeToAllS: round(timeToAllS, 2),
      recoveredPerSecond: allBack ? round(up / timeToAllS, 1) : null,
      hubSideS: summarize(
        hubTimes.map((ms) => ms / 1000),
        2,
      ),
      clientSideS: summarize(
        clientMs.map((ms) => ms / 1000),
        2,
      ),
      attempts: summarize(attempts, 0),
      redirected: after.reduce((n, r, i) => n + r.redirected - before[i]!.redirected, 0),
      failedAttempts: failures,
      timeline,
      recoveryS: round(stormS, 1),
      hubCpuPercentOfOneCore: round((100 * hubCpuS) / stormS, 1),
      clientsCpuPercentOfOneCore: round((100 * clientsCpuS) / stormS, 1),
      machineBusyPercent: round(100 * cpuBusy(cpus0, cpus1), 1),
      eventLoopDelayMs: {
        p50: round(eld.percentile(50) / 1e6, 1),
        p99: round(eld.percentile(99) / 1e6, 1),
        max: round(eld.max / 1e6, 1),
      },
      hubRefusals: {
        tlsErrors: stats.tlsErrors,
        upgradesRefused: stats.upgradesRefused,
        protocolErrors: stats.protocolErrors,
        connectionsShed: stats.connectionsShed,
      },
    },
  };
}

function stormRows(r: StormResult): Array<Array<string | number>> {
  return [
    [
      'hub.close() took / new hub listening after',
      `${r.hubCloseMs} ms / ${r.newHubListeningMs} ms`,
    ],
    [
      'time until all authenticated again',
      r.allBack ? `${r.timeToAllS} s` : `not within ${STORM_MAX_S} s (${r.backCount} back)`,
    ],
    [
      'hub side: s from restart to connected, p50 / p99 / max',
      `${r.hubSideS.p50} / ${r.hubSideS.p99} / ${r.hubSideS.max}`,
    ],
    [
      'client side: s from drop to HubAuth verified, p50 / p99 / max',
      `${r.clientSideS.p50} / ${r.clientSideS.p99} / ${r.clientSideS.max} (${r.clientSideS.count} clients)`,
    ],
    [
      'attempts per client p50 / p99 / max',
      `${r.attempts.p50} / ${r.attempts.p99} / ${r.attempts.max}`,
    ],
    ['told to come back later', r.redirected],
    ['failed attempts by reason', JSON.stringify(r.failedAttempts)],
    [
      'back by 1/2/5/10/20/30/45/60 s',
      TIMELINE_S.filter((t) => [1, 2, 5, 10, 20, 30, 45, 60].includes(t))
        .map((t) => r.timeline.find((x) => x.s === t)?.back ?? '-')
        .join(' / '),
    ],
    ['hub CPU during recovery (% of one core)', r.hubCpuPercentOfOneCore],
    ['clients CPU during recovery (% of one core)', r.clientsCpuPercentOfOneCore],
    ['machine busy during recovery %', r.machineBusyPercent],
    ['hub event-loop delay p99 / max ms', `${r.eventLoopDelayMs.p99} / ${r.eventLoopDelayMs.max}`],
    [
      'new hub: tls errors / upgrades refused / protocol errors / connections shed',
      `${r.hubRefusals.tlsErrors} / ${r.hubRefusals.upgradesRefused} / ${r.hubRefusals.protocolErrors} / ${r.hubRefusals.connectionsShed}`,
    ],
  ];
}

export const reconnectStormBench: Bench = {
  name: 'reconnect-storm',
  description: 'K agents reconnecting with backoff after a hub restart: time until all are back',
  async run(log) {
    const t0 = nowNs();
    const plan = plannedDevices();
    const K = plan.devices;
    log(`devices: ${K} (${plan.note})`);
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-storm-'));
    const dbPath = join(dir, 'hub.db');
    const pki = await createTestPki({ deviceIds: [], separateDeviceCa: true });
    const tlsOpts = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.deviceCa.certPem };
    const children = Array.from({ length: CHILDREN }, () => Child.spawn());
    const share = (i: number): [number, number] => [
      Math.floor((i * K) / CHILDREN),
      Math.floor(((i + 1) * K) / CHILDREN),
    ];
    let hub: Hub | undefined;
    try {
      // 1. Certificates and identity keys, issued in the children (in parallel).
      const ids = Array.from({ length: K }, (_, i) => `STORM-${String(i).padStart(5, '0')}`);
      const ca = {
        name: pki.deviceCa.name,
        certPem: pki.deviceCa.certPem,
        keyPem: pki.deviceCa.keyPem,
      };
      const i0 = nowNs();
      const inits = await Promise.all(
        children.map((c, i) => c.request('fleet-init', { ca, deviceIds: ids.slice(...share(i)) })),
      );
      const issueS = (nowNs() - i0) / 1e9;
      log(
        `issued ${K} device certificates + Ed25519 keys in ${round(issueS, 1)} s (${CHILDREN} processes)`,
      );
      const r0 = nowNs();
      registerKeysInDb(
        dbPath,
        inits.flatMap((init, i) =>
          init.publicKeys.map((publicKey, j) => ({ deviceId: ids[share(i)[0] + j]!, publicKey })),
        ),
      );
      const registerS = (nowNs() - r0) / 1e9;

      // 2. The fleet connects to the first hub (set-up, not the measurement).
      hub = await Hub.start({ tls: tlsOpts, dbPath });
      const port = hub.port;
      const firstHub = new Set<string>();
      hub.on('connected', (id) => firstHub.add(id));
      const target: Target = {
        url: hub.url,
        caPem: pki.ca.certPem,
        servername: 'localhost',
        hubKey: hub.identityPublicKey,
      };
      const s0 = nowNs();
      const setups = await Promise.all(
        children.map((c, i) => {
          const [from, to] = share(i);
          return c.request(
            'fleet-connect',
            {
              target,
              from: 0,
              to: to - from,
              concurrency: SETUP_CONCURRENCY,
              crypto: 'fast',
              reconnect: true,
              maxSeconds: SETUP_MAX_S,
            },
            (SETUP_MAX_S + 60) * 1000,
          );
        }),
      );
      const setupS = (nowNs() - s0) / 1e9;
      await waitUntil(() => hub!.stats().connectedDevices >= firstHub.size, 5000);
      const up = hub.stats().connectedDevices;
      log(
        `fleet set-up: ${up} of ${K} tunnels up in ${round(setupS, 1)} s (${SETUP_CONCURRENCY * CHILDREN} set-ups in flight; ${setups.reduce((n, s) => n + s.failed, 0)} failed)`,
      );
      await sleep(1000);

      // 3. The storms: close the hub, start a new one on the same port and database. First a
      // planned restart (the hub tells every agent to come back later, spread over time), then,
      // once all are back, a cut with no notice (as a crash would; agents use their backoff).
      const storms: StormResult[] = [];
      for (const mode of MODES) {
        const closing: Hub = hub;
        hub = undefined;
        const r = await storm(
          mode,
          closing,
          () => Hub.start({ tls: tlsOpts, dbPath, port }),
          children,
          up,
        );
        hub = r.hub;
        storms.push(r.result);
        log('');
        log(`storm: ${mode} (${MODE_TEXT[mode]})`);
        log(table(['figure', 'value'], stormRows(r.result)));
        if (!r.result.allBack) break;
        await sleep(2000);
      }
      for (const r of storms)
        log(
          `target: ${TARGET_S} s for 10 000 agents: ${K < 10_000 ? `not tested at 10 000 (K = ${K})` : r.allBack && r.timeToAllS <= TARGET_S ? 'met' : 'not met'} (${r.mode}: ${r.timeToAllS} s)`,
        );
      return {
        bench: 'reconnect-storm',
        command: 'npm run bench -- reconnect-storm',
        wallTimeS: round((nowNs() - t0) / 1e9, 1),
        settings: {
          devices: K,
          requestedDevices: plan.requested,
          fdLimit: plan.fdLimit ?? null,
          fdNote: plan.note,
          children: CHILDREN,
          setupConcurrencyPerChild: SETUP_CONCURRENCY,
          setupMaxS: SETUP_MAX_S,
          stormMaxS: STORM_MAX_S,
          targetS: TARGET_S,
          modes: MODE_TEXT,
          hub: 'Hub in the bench process on 127.0.0.1, fixed port, SQLite file in a temp dir, default options (maxPendingHandshakes 256, restartSpreadPerSecond 200); restart = hub.close(...) and, as soon as the old node has stopped listening (before its tunnels have drained), Hub.start on the same port and db in the same process',
          certificates:
            'one client certificate per device (CN = device id) from hub/pki.ts issueDeviceCertificateForKey, issued before anything is timed; all devices of a child share one P-256 TLS key pair',
          registration:
            'identity keys inserted into device_keys in one transaction before the first hub starts (Hub.registerDevice commits twice per device)',
          clients:
            'per device: ws with the agent TLS options and a prebuilt secureContext, AgentHandshake with node:crypto signing and HubAuth verification (same bytes as tweetnacl); like TunnelClient, a come-back-later frame sets the next delay, otherwise backoffDelay(attempt++) with DEFAULT_BACKOFF, attempt reset on HubAuth; 10 s opening-handshake and inner-handshake deadlines; no client heartbeat',
          back: 'a device is back when the new hub emits connected for it: TLS with its certificate verified, the inner handshake verified and HubAuth sent (its tunnel is open)',
          hubSide: 'first connected event per device on the new hub, from the start of hub.close()',
          clientSide:
            'per client: from its tunnel closing to HubAuth verified on the new hub (child clock)',
        },
        results: {
          tunnelsUp: up,
          issueCertificatesS: round(issueS, 1),
          registerKeysS: round(registerS, 2),
          setupS: round(setupS, 1),
          setupFailures: setups.map((s) => s.failures),
          storms,
        },
      };
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      if (hub) await hub.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
