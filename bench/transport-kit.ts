/**
 * Parts of the transport-vs-mqtt bench: the 2 KB message, a local mosquitto broker (TLS, client
 * certificates, `set_tcp_nodelay true`), and the child processes that run each side. This file
 * is also the child's entry point (forked by {@link KitChild.spawn}): the hub, the agent
 * (`TunnelClient` fed by a queue) and the MQTT publisher each run in their own process, so no
 * two sides share an event loop, and a child forked with `WS_NO_BUFFER_UTIL=1` runs `ws`
 * without its native `bufferutil`.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hub, type HubOptions } from '../hub/server.js';
import { encodeBody, encodeFrameWithBody } from '../src/codec/index.js';
import { systemClock } from '../src/runtime/clock.js';
import { silentLogger } from '../src/runtime/logger.js';
import { FileSpool } from '../src/spool/file-spool.js';
import { MemoryQueue } from '../src/spool/memory-queue.js';
import type { OutboundQueue, RecordInput } from '../src/spool/queue.js';
import { TunnelClient } from '../src/tunnel/client.js';
import { RpcChild, serveRpc } from './child-rpc.js';
import { nowNs } from './lib.js';
import { nodeIdentity, sleep, waitUntil } from './tunnel-kit.js';

// ---------------------------------------------------------------------------------------------
// The message

export const DEVICE_ID = 'BENCH-MQTT-0001';
export const MESSAGE_BYTES = 2048;

/**
 * An Alarm body whose frame (envelope with a 5-digit seq and a current send time) is
 * `MESSAGE_BYTES` long: the hub stores it as one frame row and one alarm row, the closest the
 * hub comes to what a broker does with a publish (store one opaque message).
 */
export function messageBody(): Uint8Array {
  const body = (textLength: number): Uint8Array =>
    encodeBody({
      type: 'alarm',
      alarm: {
        code: 1003,
        state: 1,
        severity: 3,
        subsystem: 'generator',
        text: 'x'.repeat(textLength),
        observedAtMs: Date.now(),
      },
    });
  const frameLength = (b: Uint8Array): number =>
    encodeFrameWithBody({ deviceId: DEVICE_ID, seq: 10_000, sentAtMs: Date.now() }, 'alarm', b)
      .length;
  let n = MESSAGE_BYTES - 100;
  while (frameLength(body(n)) < MESSAGE_BYTES) n++;
  while (frameLength(body(n)) > MESSAGE_BYTES) n--;
  return body(n);
}

// ---------------------------------------------------------------------------------------------
// mosquitto

export interface Broker {
  port: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
  /** User + system CPU seconds the broker has used (from /proc). */
  cpuSeconds(): number;
}

/** The mosquitto binary on the PATH or in /usr/sbin (Debian package `mosquitto`), if any. */
export function mosquittoPath(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  for (const dir of dirs) {
    const p = join(dir, 'mosquitto');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts mosquitto on 127.0.0.1 with one TLS 1.3 listener that requires a client certificate
 * (as the hub does), TCP_NODELAY, no persistence. Files live in a temp dir removed by `stop()`.
 */
export async function startMosquitto(tls: {
  ca: string;
  cert: string;
  key: string;
}): Promise<Broker> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto not found (apt-get install -y mosquitto)');
  const dir = await mkdtemp(join(os.tmpdir(), 'outpost-bench-mosquitto-'));
  const port = await freePort();
  await writeFile(join(dir, 'ca.pem'), tls.ca);
  await writeFile(join(dir, 'server.pem'), tls.cert);
  await writeFile(join(dir, 'server.key'), tls.key, { mode: 0o600 });
  const conf = [
    `user ${os.userInfo().username}`,
    'persistence false',
    'log_dest none',
    'per_listener_settings false',
    'allow_anonymous true',
    'set_tcp_nodelay true',
    'max_queued_messages 0',
    'max_inflight_messages 0',
    `listener ${port} 127.0.0.1`,
    'protocol mqtt',
    `cafile ${join(dir, 'ca.pem')}`,
    `certfile ${join(dir, 'server.pem')}`,
    `keyfile ${join(dir, 'server.key')}`,
    'require_certificate true',
    'use_identity_as_username true',
    'tls_version tlsv1.3',
    '',
  ].join('\n');
  await writeFile(join(dir, 'mosquitto.conf'), conf);
  const proc = spawn(bin, ['-c', join(dir, 'mosquitto.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const up = await waitUntil(
    () =>
      new Promise<boolean>((resolve) => {
        if (proc.exitCode !== null) return resolve(false);
        const s = createServer();
        s.once('error', () => resolve(true)); // port taken: the broker listens
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
      }),
    5000,
    50,
  );
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  if (!up || proc.pid === undefined) {
    await stop();
    throw new Error(`mosquitto did not start: ${stderr.trim()}`);
  }
  const pid = proc.pid;
  const version = /version ([\d.]+)/.exec(
    await new Promise<string>((resolve) => {
      const v = spawn(bin, ['-h'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      v.stdout.on('data', (d: Buffer) => (out += d.toString()));
      v.once('exit', () => resolve(out));
    }),
  )?.[1];
  return {
    port,
    pid,
    version: version ?? 'unknown',
    stop,
    cpuSeconds: () => procCpuSeconds(pid),
  };
}

/** utime + stime of a process from /proc/<pid>/stat, in seconds (Linux). */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ = 100 on Linux
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// The child's operations

export interface TlsPem {
  ca: string;
  cert: string;
  key: string;
}

/** How long to drive a side and how much to keep in flight. */
export interface Drive {
  /** Messages kept in flight (tunnel `window`; MQTT publishes awaiting PUBACK). */
  window: number;
  /** Unrecorded seconds first, then the measured ones; both bounded by `maxMessages`. */
  warmupS: number;
  measureS: number;
  maxMessages: number;
}

export interface RunResult {
  /** Acknowledged messages within the measured interval. */
  messages: number;
  seconds: number;
  perSecond: number;
  /** User + system CPU seconds of this (client) process during the measured interval. */
  cpuSeconds: number;
  /** Acknowledged in total (warm-up included). */
  totalAcked: number;
  frameBytes: number;
  /** Outpost: records per WebSocket message the agent sent (RecordBatch frames), whole trial. */
  recordsPerMessage?: number;
}

export interface KitOps {
  info: { req: Record<string, never>; res: { pid: number; bufferutil: boolean } };
  'hub-start': {
    req: {
      dbPath: string;
      tls: TlsPem;
      deviceId: string;
      publicKey: Uint8Array;
      /** Further hub options (e.g. the data mode). */
      options?: Omit<HubOptions, 'tls' | 'dbPath'>;
    };
    res: { port: number; url: string; hubKey: Uint8Array };
  };
  'hub-stats': {
    req: Record<string, never>;
    res: {
      framesStored: number;
      commits: number;
      committedItems: number;
      cpuSeconds: number;
      /** The hub's event-loop delay since the previous hub-stats (ms): p99 and max. */
      loopDelayP99Ms: number;
      loopDelayMaxMs: number;
      /** The store's WAL checkpoint counters (a file database), cumulative. */
      checkpoints: { worker: number; loop: number; holds: number; heldMs: number };
    };
  };
  'hub-stop': { req: Record<string, never>; res: { stopped: boolean } };
  'agent-run': {
    req: Drive & {
      url: string;
      tls: TlsPem;
      seed: Uint8Array;
      hubKey: Uint8Array;
      /** `memory`: MemoryQueue. A directory: a fresh FileSpool there (default policy). */
      queue: 'memory' | { spoolDir: string };
    };
    res: RunResult;
  };
  'mqtt-run': {
    req: Drive & { port: number; tls: TlsPem; clientId: string };
    res: RunResult;
  };
}
type KitOp = keyof KitOps;

/** Whether `ws` in this process masks and unmasks with the native `bufferutil`. */
function wsUsesBufferutil(): boolean {
  const require = createRequire(import.meta.url);
  const path = join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js');
  const bu = require(path) as { mask: (...a: unknown[]) => unknown };
  return bu.mask.toString().includes('bufferUtil');
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Drives `pump` until the warm-up and then the measured interval have passed (or
 * `maxMessages` are acked); `acked()` is the running count. Samples are taken at the interval's
 * edges, so the figure is acks per second in steady state.
 */
async function measure(
  d: Drive,
  acked: () => number,
  frameBytes: number,
): Promise<Omit<RunResult, 'totalAcked'>> {
  const deadline = nowNs() + (d.warmupS + d.measureS + 20) * 1e9;
  const until = async (ns: number): Promise<void> => {
    while (nowNs() < ns && acked() < d.maxMessages) await sleep(20);
  };
  const t0 = nowNs();
  await until(t0 + d.warmupS * 1e9);
  const a1 = acked();
  const c1 = cpuNow();
  const t1 = nowNs();
  await until(Math.min(t1 + d.measureS * 1e9, deadline));
  const a2 = acked();
  const c2 = cpuNow();
  const seconds = (nowNs() - t1) / 1e9;
  return {
    messages: a2 - a1,
    seconds,
    perSecond: (a2 - a1) / seconds,
    cpuSeconds: c2 - c1,
    frameBytes,
  };
}

let hub: Hub | undefined;
/** The event-loop delay of this child (a hub's: how long a checkpoint or a commit blocked it). */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

async function agentRun(r: KitOps['agent-run']['req']): Promise<RunResult> {
  const streamId = `bench-${process.pid}-${Date.now()}`;
  const queue: OutboundQueue =
    r.queue === 'memory'
      ? new MemoryQueue({ streamId })
      : await FileSpool.open({ dir: r.queue.spoolDir, streamId });
  const body = messageBody();
  const record: RecordInput = { lane: 'alarm', type: 'alarm', body };
  const client = new TunnelClient({
    url: r.url,
    tls: { ca: r.tls.ca, cert: r.tls.cert, key: r.tls.key, servername: 'localhost' },
    deviceId: DEVICE_ID,
    agentVersion: 'bench',
    identity: nodeIdentity(r.seed),
    hubIdentityKey: r.hubKey,
    queue,
    clock: systemClock,
    logger: silentLogger,
    window: r.window,
  });
  let acked = 0;
  let issued = 0;
  let failed = 0;
  let stopped = false;
  let notifyQueued = false;
  // Records waiting for an ack: the window plus as much again queued behind it.
  const backlog = 2 * r.window;
  const notify = (): void => {
    if (notifyQueued) return;
    notifyQueued = true;
    queueMicrotask(() => {
      notifyQueued = false;
      client.notify();
    });
  };
  const refill = (): void => {
    while (!stopped && issued - acked - failed < backlog && issued < r.maxMessages) {
      issued++;
      queue.append(record).then(notify, () => failed++);
    }
  };
  client.on('acked', (records) => {
    acked += records.length;
    refill();
  });
  refill();
  client.start();
  try {
    if (!(await waitUntil(() => client.state === 'open', 10_000)))
      throw new Error(`tunnel did not open (state ${client.state})`);
    const m = await measure(r, () => acked, encodedLength(body));
    const st = client.stats();
    const messages = st.framesSent - st.batchedRecords + st.batchesSent;
    return {
      ...m,
      totalAcked: acked,
      recordsPerMessage: messages > 0 ? Math.round((st.framesSent / messages) * 10) / 10 : 0,
    };
  } finally {
    stopped = true;
    await client.close();
    await queue.close();
  }
}

function encodedLength(body: Uint8Array): number {
  return encodeFrameWithBody(
    { deviceId: DEVICE_ID, seq: 10_000, sentAtMs: Date.now() },
    'alarm',
    body,
  ).length;
}

async function mqttRun(r: KitOps['mqtt-run']['req']): Promise<RunResult> {
  const { connect } = await import('mqtt');
  const body = messageBody();
  const client = connect({
    host: '127.0.0.1',
    port: r.port,
    protocol: 'mqtts',
    ca: r.tls.ca,
    cert: r.tls.cert,
    key: r.tls.key,
    servername: 'localhost',
    rejectUnauthorized: true,
    protocolVersion: 4,
    clientId: r.clientId,
    clean: true,
    keepalive: 60,
    reconnectPeriod: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const topic = `outpost/${DEVICE_ID}/alarm`;
  let acked = 0;
  let issued = 0;
  let failed = 0;
  let stopped = false;
  let seq = 0;
  const publishMore = (): void => {
    while (!stopped && issued - acked - failed < r.window && issued < r.maxMessages) {
      issued++;
      // The same bytes the tunnel carries: the envelope with its seq and send time.
      const frame = encodeFrameWithBody(
        { deviceId: DEVICE_ID, seq: ++seq, sentAtMs: Date.now() },
        'alarm',
        body,
      );
      client.publish(topic, Buffer.from(frame), { qos: 1 }, (err) => {
        if (err) failed++;
        else acked++;
        publishMore();
      });
    }
  };
  publishMore();
  try {
    const m = await measure(r, () => acked, encodedLength(body));
    return { ...m, totalAcked: acked };
  } finally {
    stopped = true;
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}

async function handle(op: KitOp, req: unknown): Promise<unknown> {
  switch (op) {
    case 'info':
      return { pid: process.pid, bufferutil: wsUsesBufferutil() };
    case 'hub-start': {
      const r = req as KitOps['hub-start']['req'];
      hub = await Hub.start({ ...r.options, tls: r.tls, dbPath: r.dbPath });
      hub.registerDevice(r.deviceId, r.publicKey);
      return { port: hub.port, url: hub.url, hubKey: hub.identityPublicKey };
    }
    case 'hub-stats': {
      const st = hub?.stats();
      const c = hub?.store.checkpoints;
      const res: KitOps['hub-stats']['res'] = {
        framesStored: st?.framesStored ?? 0,
        commits: st?.commits ?? 0,
        committedItems: st?.committedItems ?? 0,
        cpuSeconds: cpuNow(),
        loopDelayP99Ms: loopDelay.count > 0 ? loopDelay.percentile(99) / 1e6 : 0,
        loopDelayMaxMs: loopDelay.count > 0 ? loopDelay.max / 1e6 : 0,
        checkpoints: {
          worker: c?.worker ?? 0,
          loop: c?.loop ?? 0,
          holds: c?.holds ?? 0,
          heldMs: c?.heldMs ?? 0,
        },
      };
      loopDelay.reset();
      return res;
    }
    case 'hub-stop':
      await hub?.close();
      hub = undefined;
      return { stopped: true };
    case 'agent-run':
      return agentRun(req as KitOps['agent-run']['req']);
    case 'mqtt-run':
      return mqttRun(req as KitOps['mqtt-run']['req']);
    default:
      throw new Error(`unknown op ${String(op)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The parent's handle on a child

const SELF = fileURLToPath(import.meta.url);
const CHILD_FLAG = '--outpost-transport-kit-child';

export class KitChild extends RpcChild<KitOps> {
  /**
   * Forks this file as a child; `bufferutil: false` sets `WS_NO_BUFFER_UTIL=1` for its ws, and
   * `execArgv` adds node flags.
   */
  static spawn(o: { bufferutil: boolean; execArgv?: readonly string[] }): KitChild {
    const env = { ...process.env };
    if (o.bufferutil) delete env.WS_NO_BUFFER_UTIL;
    else env.WS_NO_BUFFER_UTIL = '1';
    // OUTPOST_BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits.
    const profDir = process.env.OUTPOST_BENCH_CPU_PROF;
    const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const proc = fork(SELF, [CHILD_FLAG], {
      execArgv: [...process.execArgv, ...(o.execArgv ?? []), ...prof],
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new KitChild(proc, 60_000);
  }
}

if (process.argv.includes(CHILD_FLAG)) {
  serveRpc((op, req) => handle(op as KitOp, req));
  process.on('disconnect', () => {
    void (async () => {
      await hub?.close().catch(() => undefined);
      process.exit(0);
    })();
  });
}
