/**
 * handshake: full tunnel set-up time - TCP, TLS 1.3 with the device's client certificate, the
 * WebSocket upgrade and the signed inner handshake up to HubAuth verified - over sequential
 * connections to a hub in this process, using the agent's code path (the ws options
 * TunnelClient builds, AgentHandshake, the tweetnacl identity). Measured twice: with the
 * client in this process, and with the client in a child process (so client and hub do not
 * share an event loop). In each, connections alternate between a TLS context built per
 * connection (what TunnelClient does: ca/cert/key in the options) and one prebuilt
 * `tls.createSecureContext` passed as `secureContext`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createTestPki } from '../hub/pki.js';
import { Hub } from '../hub/server.js';
import { tlsPolicy } from '../src/tunnel/tls-policy.js';
import { nowNs, round, runFor, table, type Bench } from './lib.js';
import {
  Child,
  issueDevices,
  sequentialHandshakes,
  summarize,
  type ContextMode,
  type Phases,
  type SequentialResult,
  type Target,
} from './tunnel-kit.js';

const PER_MODE = 300;
const WARMUP = 20;
/** Time cap of each sequential series (in-process, child). */
const MAX_SECONDS = 45;
const PHASES: ReadonlyArray<keyof Phases> = [
  'tcp',
  'tls',
  'upgrade',
  'hello',
  'sign',
  'hubAuth',
  'verify',
  'total',
];

function describe(
  r: SequentialResult,
): Record<ContextMode, Record<keyof Phases, ReturnType<typeof summarize>>> {
  const out = {} as Record<ContextMode, Record<keyof Phases, ReturnType<typeof summarize>>>;
  for (const mode of ['fresh', 'reused'] as const) {
    const per = {} as Record<keyof Phases, ReturnType<typeof summarize>>;
    for (const p of PHASES) per[p] = summarize(r.phases[mode].map((x) => x[p]));
    out[mode] = per;
  }
  return out;
}

export const handshakeBench: Bench = {
  name: 'handshake',
  description:
    'tunnel set-up time (TCP+TLS 1.3+WS upgrade+signed handshake), fresh vs prebuilt TLS context',
  async run(log) {
    const t0 = nowNs();
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-handshake-'));
    const pki = await createTestPki({ deviceIds: [], separateDeviceCa: true });
    const { devices, publicKeys } = await issueDevices(pki.deviceCa, ['BENCH-HS-0001']);
    const device = devices[0]!;
    const hub = await Hub.start({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.deviceCa.certPem },
      dbPath: join(dir, 'hub.db'),
    });
    let inProcess: SequentialResult;
    let inChild: SequentialResult;
    let contextUs: number;
    try {
      hub.registerDevice(device.deviceId, publicKeys[0]!);
      const target: Target = {
        url: hub.url,
        caPem: pki.ca.certPem,
        servername: 'localhost',
        hubKey: hub.identityPublicKey,
      };
      const series = { target, device, perMode: PER_MODE, warmup: WARMUP, maxSeconds: MAX_SECONDS };
      inProcess = await sequentialHandshakes(series);
      const child = Child.spawn();
      try {
        inChild = await child.request('seq-handshakes', series, (MAX_SECONDS + 60) * 1000);
      } finally {
        await child.stop();
      }
      // What the per-connection context costs on its own.
      const ctx = runFor(
        () => {
          tls.createSecureContext({
            ca: pki.ca.certPem,
            cert: device.certPem,
            key: device.keyPem,
            ...tlsPolicy(false),
          });
          return 1;
        },
        { seconds: 1, maxOps: 20_000, chunk: 4 },
      );
      contextUs = 1e6 / ctx.opsPerSec;
    } finally {
      await hub.close();
      await rm(dir, { recursive: true, force: true });
    }

    const where = { 'in-process': describe(inProcess), 'child process': describe(inChild) };
    const rows: unknown[][] = [];
    for (const [name, d] of Object.entries(where)) {
      for (const mode of ['fresh', 'reused'] as const) {
        const s = d[mode];
        rows.push([
          `${name}, ${mode === 'fresh' ? 'context per connection' : 'prebuilt context'}`,
          s.total.count,
          `${s.total.p50} / ${s.total.p99} / ${s.total.max}`,
          ...PHASES.filter((p) => p !== 'total').map((p) => s[p].p50),
        ]);
      }
    }
    log(
      table(
        [
          'client, TLS context',
          'n',
          'total ms p50/p99/max',
          ...PHASES.filter((p) => p !== 'total').map((p) => `${p} p50`),
        ],
        rows,
      ),
    );
    const ratios = Object.fromEntries(
      Object.entries(where).map(([name, d]) => [
        name,
        {
          totalP50ReusedOverFresh: round(d.reused.total.p50 / d.fresh.total.p50, 3),
          tcpTlsP50ReusedOverFresh: round(
            (d.reused.tcp.p50 + d.reused.tls.p50) / (d.fresh.tcp.p50 + d.fresh.tls.p50),
            3,
          ),
          ed25519ShareOfTotalP50: round(
            (d.fresh.sign.p50 + d.fresh.verify.p50) / d.fresh.total.p50,
            3,
          ),
        },
      ]),
    );
    log('');
    log(
      table(
        [
          'client',
          'reused/fresh total p50',
          'reused/fresh tcp+tls p50',
          'tweetnacl sign+verify share',
        ],
        Object.entries(ratios).map(([name, r]) => [
          name,
          r.totalP50ReusedOverFresh,
          r.tcpTlsP50ReusedOverFresh,
          r.ed25519ShareOfTotalP50,
        ]),
      ),
    );
    log(
      `tls.createSecureContext alone: ${round(contextUs, 0)} µs; failures: in-process ${inProcess.failures}, child ${inChild.failures}`,
    );
    const raw = (r: SequentialResult): Record<ContextMode, number[]> => ({
      fresh: r.phases.fresh.map((p) => round(p.total, 2)),
      reused: r.phases.reused.map((p) => round(p.total, 2)),
    });
    return {
      bench: 'handshake',
      command: 'npm run bench -- handshake',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        perMode: PER_MODE,
        warmup: WARMUP,
        maxSecondsPerSeries: MAX_SECONDS,
        hub: 'hub/server.ts Hub on 127.0.0.1, TLS 1.3, device CA, SQLite file in a temp dir (synchronous=FULL), defaults otherwise',
        client:
          'ws with the options TunnelClient#connect builds (TLS 1.3 only, 256-bit AEAD suites, client certificate, rejectUnauthorized, no deflate) + AgentHandshake with the tweetnacl identity; HubAuth verified by AgentHandshake.verifyHubAuth',
        modes:
          'fresh = ca/cert/key in the options, so tls.connect builds a SecureContext per connection (TunnelClient today); reused = one tls.createSecureContext passed as secureContext. Alternated connection by connection.',
        phases:
          'tcp: new WebSocket to TCP connect (includes building the context); tls: to secureConnect; upgrade: to 101; hello: open to Hello; sign: answerHello; hubAuth: DeviceAuth sent to HubAuth received; verify: verifyHubAuth',
        close: 'each tunnel is closed (close handshake awaited) before the next; not timed',
      },
      results: {
        summary: where,
        ratios,
        createSecureContextUs: round(contextUs, 1),
        failures: { inProcess: inProcess.failures, child: inChild.failures },
        seriesSeconds: { inProcess: round(inProcess.seconds, 1), child: round(inChild.seconds, 1) },
        rawTotalMs: { inProcess: raw(inProcess), child: raw(inChild) },
      },
    };
  },
};
