/**
 * idle-memory: hub memory per idle authenticated tunnel. The server under test runs alone in a
 * child process started with --expose-gc; two other children hold M idle tunnels to it. Memory
 * (process.memoryUsage() after three global.gc() calls) is taken with no tunnels (after a short
 * warm-up of 50 tunnels opened and closed), with M idle tunnels, and after closing them again;
 * per tunnel = (with M - without) / M.
 *
 * Measured side by side against two references with the same transport settings and nothing
 * else: a plain WebSocket server over TLS 1.3 asking for client certificates (wss), and a plain
 * WebSocket server without TLS (ws). The hub's own share is the difference.
 *
 * M defaults to 2000 (set OUTPOST_BENCH_IDLE_TUNNELS to change it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '../hub/pki.js';
import { TUNNEL_PATH } from '../hub/server.js';
import { nowNs, round, table, type Bench } from './lib.js';
import {
  Child,
  registerKeysInDb,
  sleep,
  waitUntil,
  type ServerKind,
  type Target,
} from './tunnel-kit.js';

const DEFAULT_TUNNELS = 2000;
const CLIENT_CHILDREN = 2;
const WARMUP_TUNNELS = 50;
const CONNECT_CONCURRENCY = 32;
const SETTLE_MS = 2000;
const TARGET_KIB = 40;
const KINDS: readonly ServerKind[] = ['ws', 'wss', 'hub'];
const FIELDS = ['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'] as const;
type Field = (typeof FIELDS)[number];
type Memory = Record<Field, number>;

interface KindResult {
  kind: ServerKind;
  tunnels: number;
  connectS: number;
  baseline: Memory;
  loaded: Memory;
  afterClose: Memory;
  /** (loaded - baseline) / tunnels, KiB. */
  perTunnelKiB: Memory;
}

function pick(m: NodeJS.MemoryUsage): Memory {
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

const MIB = 2 ** 20;

export const idleMemoryBench: Bench = {
  name: 'idle-memory',
  description: 'hub memory per idle authenticated tunnel (RSS, heap) vs plain ws and wss servers',
  async run(log) {
    const t0 = nowNs();
    const requested = Number(process.env.OUTPOST_BENCH_IDLE_TUNNELS ?? DEFAULT_TUNNELS);
    if (!Number.isInteger(requested) || requested < CLIENT_CHILDREN * WARMUP_TUNNELS)
      throw new RangeError(
        `OUTPOST_BENCH_IDLE_TUNNELS must be an integer >= ${CLIENT_CHILDREN * WARMUP_TUNNELS}`,
      );
    const M = requested;
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-idle-'));
    const pki = await createTestPki({ deviceIds: [] });
    const tls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem };
    const clients = Array.from({ length: CLIENT_CHILDREN }, () => Child.spawn());
    const share = (i: number): [number, number] => [
      Math.floor((i * M) / CLIENT_CHILDREN),
      Math.floor(((i + 1) * M) / CLIENT_CHILDREN),
    ];
    const size = (i: number): number => share(i)[1] - share(i)[0];
    const results: KindResult[] = [];
    try {
      const ids = Array.from({ length: M }, (_, i) => `IDLE-${String(i).padStart(5, '0')}`);
      const ca = { name: pki.ca.name, certPem: pki.ca.certPem, keyPem: pki.ca.keyPem };
      const inits = await Promise.all(
        clients.map((c, i) => c.request('fleet-init', { ca, deviceIds: ids.slice(...share(i)) })),
      );
      const keys = inits.flatMap((init, i) =>
        init.publicKeys.map((publicKey, j) => ({ deviceId: ids[share(i)[0] + j]!, publicKey })),
      );

      for (const kind of KINDS) {
        const dbPath = join(dir, `hub-${kind}.db`);
        if (kind === 'hub') registerKeysInDb(dbPath, keys);
        const server = Child.spawn(['--expose-gc']);
        try {
          const { port, hubKey } = await server.request('server-start', { kind, tls, dbPath });
          const target: Target = {
            url: `${kind === 'ws' ? 'ws' : 'wss'}://127.0.0.1:${port}${TUNNEL_PATH}`,
            caPem: pki.ca.certPem,
            servername: 'localhost',
            hubKey,
          };
          const open = async (): Promise<number> => (await server.request('server-count', {})).open;
          const connect = (i: number, from: number, to: number) =>
            clients[i]!.request(
              'fleet-connect',
              {
                target,
                from,
                to,
                concurrency: CONNECT_CONCURRENCY,
                crypto: 'fast',
                reconnect: false,
                maxSeconds: 120,
              },
              180_000,
            );
          // Warm-up: code paths, lazy structures and pools exist before the baseline.
          await connect(0, 0, WARMUP_TUNNELS);
          await clients[0]!.request('fleet-close', { from: 0, to: WARMUP_TUNNELS });
          await waitUntil(async () => (await open()) === 0, 10_000);
          await sleep(500);
          const baseline = pick((await server.request('server-memory', {})).memory);
          const c0 = nowNs();
          await Promise.all(clients.map((_, i) => connect(i, 0, size(i))));
          await waitUntil(async () => (await open()) >= M, 10_000);
          const connectS = (nowNs() - c0) / 1e9;
          const tunnels = await open();
          await sleep(SETTLE_MS);
          const loaded = pick((await server.request('server-memory', {})).memory);
          await Promise.all(
            clients.map((c, i) => c.request('fleet-close', { from: 0, to: size(i) })),
          );
          await waitUntil(async () => (await open()) === 0, 20_000);
          await sleep(1000);
          const afterClose = pick((await server.request('server-memory', {})).memory);
          await server.request('server-stop', {});
          const perTunnelKiB = {} as Memory;
          for (const f of FIELDS)
            perTunnelKiB[f] = round((loaded[f] - baseline[f]) / tunnels / 1024, 1);
          results.push({
            kind,
            tunnels,
            connectS: round(connectS, 1),
            baseline,
            loaded,
            afterClose,
            perTunnelKiB,
          });
        } finally {
          await server.stop();
        }
      }
    } finally {
      await Promise.all(clients.map((c) => c.stop()));
      await rm(dir, { recursive: true, force: true });
    }

    const label: Record<ServerKind, string> = {
      ws: 'plain ws (no TLS)',
      wss: 'plain wss (TLS 1.3, client cert)',
      hub: 'hub (wss + signed handshake + session)',
    };
    log(
      table(
        [
          'server',
          'idle tunnels',
          'RSS MiB 0 / M / after close',
          'heapUsed MiB 0 / M',
          'RSS KiB/tunnel',
          'heapUsed KiB/tunnel',
          'heapTotal KiB/tunnel',
          'external KiB/tunnel',
        ],
        results.map((r) => [
          label[r.kind],
          r.tunnels,
          `${round(r.baseline.rss / MIB, 1)} / ${round(r.loaded.rss / MIB, 1)} / ${round(r.afterClose.rss / MIB, 1)}`,
          `${round(r.baseline.heapUsed / MIB, 1)} / ${round(r.loaded.heapUsed / MIB, 1)}`,
          r.perTunnelKiB.rss,
          r.perTunnelKiB.heapUsed,
          r.perTunnelKiB.heapTotal,
          r.perTunnelKiB.external,
        ]),
      ),
    );
    const hub = results.find((r) => r.kind === 'hub');
    if (hub)
      log(
        `target <= ${TARGET_KIB} KB per idle tunnel: RSS ${hub.perTunnelKiB.rss} KiB -> ${hub.perTunnelKiB.rss <= TARGET_KIB ? 'met' : 'not met'}`,
      );
    return {
      bench: 'idle-memory',
      command: 'npm run bench -- idle-memory',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        tunnels: M,
        clientChildren: CLIENT_CHILDREN,
        warmupTunnels: WARMUP_TUNNELS,
        connectConcurrencyPerChild: CONNECT_CONCURRENCY,
        settleMs: SETTLE_MS,
        targetKiB: TARGET_KIB,
        memory:
          'process.memoryUsage() in the server child (node --expose-gc) after 3 x global.gc(); per tunnel = (with M idle tunnels - after warm-up with none) / M; KiB = 1024 bytes',
        hub: 'Hub (hub/server.ts) defaults, TLS 1.3, SQLite file in a temp dir with the M identity keys pre-registered; heartbeat 30 s (no ping fell in the measurement)',
        references:
          'wss: https.createServer with the hub TLS options (requestCert, TLS 1.3 policy) + WebSocketServer (noServer, no deflate, 256 KiB maxPayload); ws: the same over plain http',
        clients:
          'two child processes; agent TLS options with a prebuilt secureContext; for the hub, the signed handshake (node:crypto signing); idle afterwards (no client heartbeat)',
      },
      results,
    };
  },
};
