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
    const pki = await createTestPki({ deviceIds: [] });
    const tlsOpts = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem };
    const children = Array.from({ length: CHILDREN }, () => Child.spawn());
    const share = (i: number): [number, number] => [
      Math.floor((i * K) / CHILDREN),
      Math.floor(((i + 1) * K) / CHILDREN),
    ];
    let hub: Hub | undefined;
    try {
      // 1. Certificates and identity keys, issued in the children (in parallel).
      const ids = Array.from({ length: K }, (_, i) => `STORM-${String(i).padStart(5, '0')}`);
      const ca = { name: pki.ca.name, certPem: pki.ca.certPem, keyPem: pki.ca.keyPem };
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

      // 3. The storm: close the hub, start a new one on the same port and database.
      const eld = monitorEventLoopDelay({ resolution: 10 });
      const back = new Map<string, number>();
      const cpu0 = process.cpuUsage();
      const cpus0 = os.cpus();
      const childCpu0 = await Promise.all(children.map((c) => c.request('fleet-report', {})));
      const storm0 = performance.now();
      await hub.close();
      const closeMs = performance.now() - storm0;
      hub = undefined;
      hub = await Hub.start({ tls: tlsOpts, dbPath, port });
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
      const cpu1 = process.cpuUsage();
      const cpus1 = os.cpus();
      const reports = await Promise.all(children.map((c) => c.request('fleet-report', {})));
      const hubTimes = [...back.values()];
      const clientMs = reports.flatMap((r) => r.reconnectMs);
      const attempts = reports.flatMap((r) => r.attempts);
      const failures: Record<string, number> = {};
      for (const r of reports)
        for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
      const stats = hub.stats();
      const timeToAllS = allBack ? Math.max(...hubTimes) / 1000 : Number.NaN;
      const hubSummary = summarize(
        hubTimes.map((ms) => ms / 1000),
        2,
      );
      const clientSummary = summarize(
        clientMs.map((ms) => ms / 1000),
        2,
      );
      const attemptSummary = summarize(attempts, 0);
      const hubCpuS = cpuSeconds(cpu0, cpu1);
      const clientsCpuS = reports.reduce((n, r, i) => n + cpuSeconds(childCpu0[i]!.cpu, r.cpu), 0);

      log('');
      log(
        table(
          ['figure', 'value'],
          [
            ['devices (tunnels up before the restart)', `${up} of ${K}`],
            [
              'hub.close() took / new hub listening after',
              `${round(closeMs)} ms / ${round(restartMs)} ms`,
            ],
            [
              'time until all authenticated again',
              allBack
                ? `${round(timeToAllS, 1)} s`
                : `not within ${STORM_MAX_S} s (${back.size} of ${up})`,
            ],
            [
              'hub side: s from restart to connected, p50 / p99 / max',
              `${hubSummary.p50} / ${hubSummary.p99} / ${hubSummary.max}`,
            ],
            [
              'client side: s from drop to HubAuth verified, p50 / p99 / max',
              `${clientSummary.p50} / ${clientSummary.p99} / ${clientSummary.max} (${clientSummary.count} clients)`,
            ],
            [
              'attempts per client p50 / p99 / max',
              `${attemptSummary.p50} / ${attemptSummary.p99} / ${attemptSummary.max}`,
            ],
            ['failed attempts by reason', JSON.stringify(failures)],
            [
              'back by 1/2/5/10/20/30/60 s',
              TIMELINE_S.filter((s) => [1, 2, 5, 10, 20, 30, 60].includes(s))
                .map((s) => timeline.find((t) => t.s === s)?.back ?? '-')
                .join(' / '),
            ],
            ['hub CPU during recovery (% of one core)', round((100 * hubCpuS) / stormS, 1)],
            ['clients CPU during recovery (% of one core)', round((100 * clientsCpuS) / stormS, 1)],
            ['machine busy during recovery %', round(100 * cpuBusy(cpus0, cpus1), 1)],
            [
              'hub event-loop delay p99 / max ms',
              `${round(eld.percentile(99) / 1e6, 1)} / ${round(eld.max / 1e6, 1)}`,
            ],
            [
              'hub refusals: tls errors / upgrades refused / protocol errors',
              `${stats.tlsErrors} / ${stats.upgradesRefused} / ${stats.protocolErrors}`,
            ],
          ],
        ),
      );
      log(
        `target: ${TARGET_S} s for 10 000 agents: ${K < 10_000 ? `not tested at 10 000 (K = ${K})` : allBack && timeToAllS <= TARGET_S ? 'met' : 'not met'}`,
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
          hub: 'Hub in the bench process on 127.0.0.1, fixed port, SQLite file in a temp dir; restart = await hub.close() then Hub.start on the same port and db',
          certificates:
            'one client certificate per device (CN = device id) from hub/pki.ts issueDeviceCertificateForKey; all devices of a child share one P-256 TLS key pair',
          registration:
            'identity keys inserted into device_keys in one transaction before the first hub starts (Hub.registerDevice commits twice per device)',
          clients:
            'per device: ws with the agent TLS options and a prebuilt secureContext, AgentHandshake with node:crypto signing and HubAuth verification (same bytes as tweetnacl); on drop, reconnect after backoffDelay(attempt++) with DEFAULT_BACKOFF, attempt reset on HubAuth, 10 s opening-handshake and inner-handshake deadlines; no client heartbeat',
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
          hubCloseMs: round(closeMs),
          newHubListeningMs: round(restartMs),
          allBack,
          backCount: back.size,
          timeToAllS: round(timeToAllS, 2),
          recoveredPerSecond: allBack ? round(up / timeToAllS, 1) : null,
          hubSideS: hubSummary,
          clientSideS: clientSummary,
          attempts: attemptSummary,
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
          },
        },
      };
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      if (hub) await hub.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
