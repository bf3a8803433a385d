/**
 * idle-memory: hub memory per idle authenticated tunnel. The server under test runs alone in a
 * child process started with --expose-gc; two other children hold M idle tunnels to it. Memory
 * (process.memoryUsage() after three global.gc() calls) is taken with no tunnels (after a
 * warm-up of 500 tunnels opened and closed), at M/4, M/2, 3M/4 and M idle tunnels, and after
 * closing them again. Per tunnel: (with M - without) / M; marginal: (M - M/2) / (M/2); and the
 * least-squares slope over the four points M/4 … M, which a one-off step of the V8 heap moves
 * least. The slope leaves out the stretch from 0: the first tunnels reuse memory the allocator
 * kept from the warm-up, so RSS barely moves there and "0 to M" understates the cost.
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
/**
 * Warm-up tunnels opened and closed before the baseline, per client child: enough that the V8
 * young generation, buffer pools and caches have grown to their working size, so that the
 * one-off growth of a connection burst is not divided among the M tunnels.
 */
const WARMUP_TUNNELS_PER_CHILD = 250;
const CONNECT_CONCURRENCY = 32;
const SETTLE_MS = 2000;
/** Measurements between 0 and M tunnels (even, so that M/2 is one of them). */
const STEPS = 4;

/** Least-squares slope of y over x. */
function slope(xy: ReadonlyArray<readonly [number, number]>): number {
  const n = xy.length;
  const mx = xy.reduce((a, [x]) => a + x, 0) / n;
  const my = xy.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of xy) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}
const TARGET_KIB = 40;
/**
 * PKI layout: `split` = hub server certificate and device certificates from two CAs, device TLS
 * keys Ed25519 (session 4); `one-ca-p256` = one CA for both, P-256 device keys (sessions 1-3),
 * where each side's OpenSSL sends the CA certificate too and the hub keeps it per tunnel.
 */
type Layout = 'split' | 'one-ca-p256';
const RUNS: ReadonlyArray<{ kind: ServerKind; layout: Layout }> = [
  { kind: 'ws', layout: 'split' },
  { kind: 'wss', layout: 'split' },
  { kind: 'hub', layout: 'split' },
  { kind: 'hub-lb', layout: 'split' },
  { kind: 'wss', layout: 'one-ca-p256' },
  { kind: 'hub', layout: 'one-ca-p256' },
];
const FIELDS = ['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'] as const;
type Field = (typeof FIELDS)[number];
type Memory = Record<Field, number>;

interface KindResult {
  kind: ServerKind;
  layout: Layout;
  tunnels: number;
  /** Tunnels open at the half-way measurement. */
  halfTunnels: number;
  /** Every measurement from 0 to M: tunnels open and memory. */
  points: Array<{ tunnels: number; memory: Memory }>;
  /** Least-squares slope of memory over tunnels across `points`, KiB per tunnel. */
  slopeKiB: Memory;
  connectS: number;
  baseline: Memory;
  half: Memory;
  loaded: Memory;
  afterClose: Memory;
  /** (loaded - baseline) / tunnels, KiB. */
  perTunnelKiB: Memory;
  /** Marginal cost: (loaded - half) / (tunnels - halfTunnels), KiB. */
  marginalKiB: Memory;
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
    if (!Number.isInteger(requested) || requested < CLIENT_CHILDREN * WARMUP_TUNNELS_PER_CHILD)
      throw new RangeError(
        `OUTPOST_BENCH_IDLE_TUNNELS must be an integer >= ${CLIENT_CHILDREN * WARMUP_TUNNELS_PER_CHILD}`,
      );
    const M = requested;
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-idle-'));
    const pkis: Record<Layout, Awaited<ReturnType<typeof createTestPki>>> = {
      split: await createTestPki({ deviceIds: [], separateDeviceCa: true }),
      'one-ca-p256': await createTestPki({ deviceIds: [] }),
    };
    const layouts: readonly Layout[] = ['split', 'one-ca-p256'];
    const clients = Array.from({ length: CLIENT_CHILDREN }, () => Child.spawn());
    const share = (i: number): [number, number] => [
      Math.floor((i * M) / CLIENT_CHILDREN),
      Math.floor(((i + 1) * M) / CLIENT_CHILDREN),
    ];
    const size = (i: number): number => share(i)[1] - share(i)[0];
    const results: KindResult[] = [];
    try {
      // Each child holds one fleet per layout: devices [0, size) of the split layout, then
      // [size, 2 size) of the other.
      const keysOf: Record<Layout, Array<{ deviceId: string; publicKey: Uint8Array }>> = {
        split: [],
        'one-ca-p256': [],
      };
      for (const layout of layouts) {
        const d = pkis[layout].deviceCa;
        const ca = { name: d.name, certPem: d.certPem, keyPem: d.keyPem };
        const ids = Array.from(
          { length: M },
          (_, i) => `IDLE-${layout === 'split' ? 'S' : 'P'}-${String(i).padStart(5, '0')}`,
        );
        const inits = await Promise.all(
          clients.map((c, i) =>
            c.request('fleet-init', {
              ca,
              deviceIds: ids.slice(...share(i)),
              keyType: layout === 'split' ? 'ed25519' : 'p256',
            }),
          ),
        );
        keysOf[layout] = inits.flatMap((init, i) =>
          init.publicKeys.map((publicKey, j) => ({ deviceId: ids[share(i)[0] + j]!, publicKey })),
        );
      }

      for (const { kind, layout } of RUNS) {
        const pki = pkis[layout];
        const tls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.deviceCa.certPem };
        const offset = (i: number): number => (layout === 'split' ? 0 : size(i));
        const dbPath = join(dir, `hub-${kind}-${layout}.db`);
        if (kind === 'hub' || kind === 'hub-lb') registerKeysInDb(dbPath, keysOf[layout]);
        const server = Child.spawn(['--expose-gc']);
        try {
          const { port, hubKey } = await server.request('server-start', { kind, tls, dbPath });
          const target: Target = {
            url: `${kind === 'ws' || kind === 'hub-lb' ? 'ws' : 'wss'}://127.0.0.1:${port}${TUNNEL_PATH}`,
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
                from: from + offset(i),
                to: to + offset(i),
                concurrency: CONNECT_CONCURRENCY,
                crypto: 'fast',
                reconnect: false,
                maxSeconds: 120,
              },
              180_000,
            );
          // Warm-up: code paths, lazy structures, pools and the young generation exist before
          // the baseline.
          await Promise.all(clients.map((_, i) => connect(i, 0, WARMUP_TUNNELS_PER_CHILD)));
          await Promise.all(
            clients.map((c, i) =>
              c.request('fleet-close', {
                from: offset(i),
                to: offset(i) + WARMUP_TUNNELS_PER_CHILD,
              }),
            ),
          );
          await waitUntil(async () => (await open()) === 0, 10_000);
          await sleep(500);
          const baseline = pick((await server.request('server-memory', {})).memory);
          const c0 = nowNs();
          const points: Array<{ tunnels: number; memory: Memory }> = [
            { tunnels: 0, memory: baseline },
          ];
          // Open the tunnels in STEPS equal steps, measuring after each.
          const upTo = (i: number, step: number): number => Math.floor((size(i) * step) / STEPS);
          for (let step = 1; step <= STEPS; step++) {
            await Promise.all(clients.map((_, i) => connect(i, upTo(i, step - 1), upTo(i, step))));
            const want = clients.reduce((n, _, i) => n + upTo(i, step), 0);
            await waitUntil(async () => (await open()) >= want, 10_000);
            const n = await open();
            await sleep(SETTLE_MS);
            points.push({
              tunnels: n,
              memory: pick((await server.request('server-memory', {})).memory),
            });
          }
          const connectS = (nowNs() - c0) / 1e9;
          const { tunnels, memory: loaded } = points.at(-1)!;
          const { tunnels: halfTunnels, memory: half } = points[STEPS / 2]!;
          await Promise.all(
            clients.map((c, i) =>
              c.request('fleet-close', { from: offset(i), to: offset(i) + size(i) }),
            ),
          );
          await waitUntil(async () => (await open()) === 0, 20_000);
          await sleep(1000);
          const afterClose = pick((await server.request('server-memory', {})).memory);
          await server.request('server-stop', {});
          const perTunnelKiB = {} as Memory;
          const marginalKiB = {} as Memory;
          const slopeKiB = {} as Memory;
          for (const f of FIELDS) {
            perTunnelKiB[f] = round((loaded[f] - baseline[f]) / tunnels / 1024, 1);
            marginalKiB[f] = round((loaded[f] - half[f]) / (tunnels - halfTunnels) / 1024, 1);
            // From M/4 on: the first tunnels reuse what the allocator kept from the warm-up's
            // (RSS barely moves up to about the warm-up's count), which would bias the fit low.
            slopeKiB[f] = round(
              slope(points.slice(1).map((p) => [p.tunnels, p.memory[f]] as const)) / 1024,
              1,
            );
          }
          results.push({
            kind,
            layout,
            tunnels,
            halfTunnels,
            points,
            slopeKiB,
            connectS: round(connectS, 1),
            baseline,
            half,
            loaded,
            afterClose,
            perTunnelKiB,
            marginalKiB,
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
      'hub-lb': 'hub behind a TLS-terminating balancer (ws)',
    };
    log(
      table(
        [
          'server',
          'idle tunnels',
          'RSS MiB 0 / M/2 / M / after close',
          'heapUsed MiB 0 / M',
          'RSS KiB/tunnel (0 to M)',
          'RSS KiB/tunnel (M/2 to M)',
          'RSS KiB/tunnel (slope M/4 to M)',
          'heapUsed KiB/tunnel',
          'heapTotal KiB/tunnel',
          'external KiB/tunnel',
        ],
        results.map((r) => [
          r.layout === 'split' ? label[r.kind] : `${label[r.kind]}, one CA + P-256 (before)`,
          r.tunnels,
          `${round(r.baseline.rss / MIB, 1)} / ${round(r.half.rss / MIB, 1)} / ${round(r.loaded.rss / MIB, 1)} / ${round(r.afterClose.rss / MIB, 1)}`,
          `${round(r.baseline.heapUsed / MIB, 1)} / ${round(r.loaded.heapUsed / MIB, 1)}`,
          r.perTunnelKiB.rss,
          r.marginalKiB.rss,
          r.slopeKiB.rss,
          r.perTunnelKiB.heapUsed,
          r.perTunnelKiB.heapTotal,
          r.perTunnelKiB.external,
        ]),
      ),
    );
    const hub = results.find((r) => r.kind === 'hub' && r.layout === 'split');
    // 40 KB = 39.06 KiB.
    const budgetKiB = (TARGET_KIB * 1000) / 1024;
    const verdict = (kib: number): string => (kib <= budgetKiB ? 'met' : 'not met');
    if (hub)
      log(
        `target <= ${TARGET_KIB} KB per idle tunnel (hub, TLS on the node): RSS 0 to M ${hub.perTunnelKiB.rss} KiB -> ${verdict(hub.perTunnelKiB.rss)}; M/2 to M ${hub.marginalKiB.rss} KiB -> ${verdict(hub.marginalKiB.rss)}; slope M/4 … M ${hub.slopeKiB.rss} KiB -> ${verdict(hub.slopeKiB.rss)}`,
      );
    return {
      bench: 'idle-memory',
      command: 'npm run bench -- idle-memory',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        tunnels: M,
        clientChildren: CLIENT_CHILDREN,
        warmupTunnelsPerChild: WARMUP_TUNNELS_PER_CHILD,
        connectConcurrencyPerChild: CONNECT_CONCURRENCY,
        settleMs: SETTLE_MS,
        targetKiB: TARGET_KIB,
        memory:
          'process.memoryUsage() in the server child (node --expose-gc) after 3 x global.gc(), taken after the warm-up with no tunnels, then at M/4, M/2, 3M/4 and M idle tunnels; per tunnel (0 to M) = (M - none) / M; marginal (M/2 to M) = (M - M/2) / (M/2); slope = least-squares fit of memory against open tunnels over the four points M/4 … M (the first tunnels reuse memory kept from the warm-up); KiB = 1024 bytes, the 40 KB target = 39.06 KiB',
        hub: 'Hub (hub/server.ts) defaults, TLS 1.3, SQLite file in a temp dir with the M identity keys pre-registered; heartbeat 30 s (no ping fell in the measurement)',
        hubLb:
          'hub-lb: the same hub with tlsTerminatedUpstream (plain ws; the handshake binds to the terminated-upstream marker); the TLS memory then sits in the balancer',
        references:
          'wss: https.createServer with the hub TLS options (requestCert, TLS 1.3 policy) + WebSocketServer (noServer, no deflate, 256 KiB maxPayload); ws: the same over plain http',
        pki: "split = hub server certificate from one CA (what agents pin), device certificates from another (the servers' tls.ca), device TLS keys Ed25519; one-ca-p256 = one CA for both, P-256 device keys (the layout before session 4); rows without a layout note are split",
        clients:
          'two child processes; agent TLS options with a prebuilt secureContext; for the hub, the signed handshake (node:crypto signing); idle afterwards (no client heartbeat)',
      },
      results,
    };
  },
};
