/**
 * Helper process of agent-footprint and alarm-latency-backlog (started by `AgentProcess` in
 * bench/agent-kit.ts, never by hand): the real agent — `createAgent` with the Modbus TCP
 * adapter against the firmware simulator, the hub over TLS, the crash-safe `FileSpool` — alone
 * in its own process, so its RSS and CPU can be read from /proc without the harness in them.
 *
 * The parent bundles this file with esbuild (packages external) and runs it with plain `node`,
 * as a built agent runs: no tsx loader in the measured process.
 *
 * IPC (parent → child): `start` (config), `stats`, `stop`. With `mode: 'loaded'` the child only
 * loads the agent's code and waits (the "packages loaded" reference). The child exits when the
 * parent disconnects.
 */
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import {
  createAgent,
  jsonLogger,
  modbusTcpAdapter,
  parseErrorCatalogue,
  parseRegisterMap,
} from '../src/index.js';

export interface AgentChildConfig {
  hubUrl: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Device Ed25519 secret key (64 bytes). */
  secretKey: number[];
  hubIdentityKey: number[];
  simPort: number;
  spoolDir: string;
  pollIntervalMs?: number;
  errorPollIntervalMs?: number;
  alarmCoalesceMs?: number;
  sendIntervalMs?: number;
  pollTimeoutMs?: number;
  /** Report `alarm-trace` messages for raised alarms. */
  traceAlarms?: boolean;
  /** Backlog builder: `agent.flush()` after every N snapshots (records of exactly N samples). */
  flushEverySamples?: number;
  /** FileSpool group-commit wait (default the spool's 20 ms); the backlog builder shortens it. */
  groupCommitMs?: number;
  /** Reconnect backoff (default: the agent's). */
  backoff?: { baseMs: number; capMs: number };
}

export type AgentChildRequest =
  | { op: 'start'; config: AgentChildConfig }
  /**
   * `gc`: run a full GC first (needs `node --expose-gc`): the heap then holds live objects only.
   * `spaces`: also V8's heap spaces (loads `node:v8` into the agent's process at the first ask,
   * so the footprint bench asks only once sampling is over).
   */
  | { op: 'stats'; gc?: boolean; spaces?: boolean }
  | { op: 'stop'; drainTimeoutMs: number };

export type AgentChildMessage =
  | { type: 'ready'; mode: 'loaded' | 'agent' }
  | { type: 'started' }
  | {
      type: 'stats';
      stats: unknown;
      memory: NodeJS.MemoryUsage;
      cpu: NodeJS.CpuUsage;
      /** With `spaces`: V8's heap spaces as name, committed bytes, used bytes. */
      heapSpaces?: Array<[string, number, number]>;
    }
  | { type: 'tunnel'; state: string; atMs: number }
  /** With `traceAlarms`: when an alarm record was accepted (durable) and handed to the socket. */
  | {
      type: 'alarm-trace';
      code: number;
      observedAtMs: number;
      acceptedAtMs: number;
      sentAtMs: number;
    }
  | { type: 'stopped'; stats: unknown }
  | { type: 'error'; error: string };

const send = (m: AgentChildMessage): void => {
  if (process.connected) process.send?.(m);
};

let agent: ReturnType<typeof createAgent> | undefined;

async function start(c: AgentChildConfig): Promise<void> {
  agent = createAgent({
    identity: { secretKey: Uint8Array.from(c.secretKey) },
    adapter: modbusTcpAdapter({
      host: '127.0.0.1',
      port: c.simPort,
      registerMap: parseRegisterMap(registerMapJson),
    }),
    errorCatalogue: parseErrorCatalogue(catalogueJson),
    hub: {
      url: c.hubUrl,
      ca: c.caPem,
      cert: c.certPem,
      key: c.keyPem,
      servername: 'localhost',
      identityKey: Uint8Array.from(c.hubIdentityKey),
    },
    spool: {
      dir: c.spoolDir,
      ...(c.groupCommitMs === undefined ? {} : { groupCommitMs: c.groupCommitMs }),
    },
    ...(c.pollIntervalMs === undefined ? {} : { pollIntervalMs: c.pollIntervalMs }),
    ...(c.errorPollIntervalMs === undefined ? {} : { errorPollIntervalMs: c.errorPollIntervalMs }),
    ...(c.pollTimeoutMs === undefined ? {} : { pollTimeoutMs: c.pollTimeoutMs }),
    ...(c.alarmCoalesceMs === undefined ? {} : { alarmCoalesceMs: c.alarmCoalesceMs }),
    ...(c.sendIntervalMs === undefined ? {} : { telemetry: { sendIntervalMs: c.sendIntervalMs } }),
    ...(c.backoff === undefined ? {} : { tunnel: { backoff: c.backoff } }),
    logger: jsonLogger({
      level: 'error',
      name: 'agent',
      write: (l) => process.stderr.write(l + '\n'),
    }),
  });
  agent.on('tunnel-state', (state) => send({ type: 'tunnel', state, atMs: Date.now() }));
  if (c.traceAlarms) {
    // The tunnel may take a record as soon as it is durable, before the agent's 'alarm' event:
    // either event can come first.
    const raised = new Map<number, { code: number; observedAtMs: number; acceptedAtMs: number }>();
    const sentAt = new Map<number, number>();
    const report = (seq: number): void => {
      const a = raised.get(seq);
      const s = sentAt.get(seq);
      if (!a || s === undefined) return;
      raised.delete(seq);
      sentAt.delete(seq);
      send({ type: 'alarm-trace', ...a, acceptedAtMs: Math.min(a.acceptedAtMs, s), sentAtMs: s });
    };
    agent.on('alarm', (t, record) => {
      if (t.state !== 'raised') return;
      raised.set(record.seq, {
        code: t.info.code,
        observedAtMs: t.atMs,
        // Now, not record.acceptedAtMs (the append call): the append resolves once durable.
        acceptedAtMs: Date.now(),
      });
      report(record.seq);
    });
    agent.on('sent', (record) => {
      if (record.type !== 'alarm') return;
      sentAt.set(record.seq, Date.now());
      report(record.seq);
    });
  }
  const every = c.flushEverySamples;
  if (every !== undefined) {
    let n = 0;
    const a = agent;
    a.on('snapshot', () => {
      if (++n % every === 0) void a.flush();
    });
  }
  await agent.start();
  send({ type: 'started' });
  const allocDir = process.env.OUTPOST_BENCH_ALLOC_PROFILE;
  if (allocDir) void profileAllocations(allocDir);
}

/**
 * OUTPOST_BENCH_ALLOC_PROFILE=<dir> (a diagnostic): after 60 s of running, V8's sampling heap
 * profiler records every sampled allocation for 120 s, including objects a GC later freed, and
 * writes `alloc-<pid>.heapprofile` (open it in Chrome DevTools' Memory tab): where the agent's
 * garbage comes from.
 */
async function profileAllocations(dir: string): Promise<void> {
  const { Session } = await import('node:inspector');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
    );
  // OUTPOST_BENCH_ALLOC_PROFILE_PROMOTED=1: leave out what a scavenge freed (and profile for
  // 600 s): what remains is what survived young-generation GCs, i.e. what reached old space.
  const promoted = process.env.OUTPOST_BENCH_ALLOC_PROFILE_PROMOTED === '1';
  await new Promise((r) => setTimeout(r, 60_000));
  await post('HeapProfiler.startSampling', {
    samplingInterval: promoted ? 64 : 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !promoted,
  });
  await new Promise((r) => setTimeout(r, promoted ? 600_000 : 120_000));
  const res = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
  await writeFile(`${dir}/alloc-${process.pid}.heapprofile`, JSON.stringify(res.profile));
  session.disconnect();
}

async function stop(drainTimeoutMs: number): Promise<void> {
  const a = agent;
  agent = undefined;
  if (a) await a.stop({ drainTimeoutMs });
  send({ type: 'stopped', stats: a?.stats() ?? null });
}

process.on('message', (raw) => {
  const m = raw as AgentChildRequest;
  const fail = (err: unknown): void =>
    send({ type: 'error', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  if (m.op === 'start') start(m.config).catch(fail);
  else if (m.op === 'stats') {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (m.gc && gc) gc();
    const reply = (heapSpaces?: Array<[string, number, number]>): void =>
      send({
        type: 'stats',
        stats: agent?.stats() ?? null,
        memory: process.memoryUsage(),
        cpu: process.cpuUsage(),
        ...(heapSpaces ? { heapSpaces } : {}),
      });
    if (!m.spaces) reply();
    else
      import('node:v8')
        .then((v8) =>
          reply(
            v8
              .getHeapSpaceStatistics()
              .map((h) => [h.space_name, h.physical_space_size, h.space_used_size]),
          ),
        )
        .catch(fail);
  } else if (m.op === 'stop') stop(m.drainTimeoutMs).catch(fail);
});

process.once('disconnect', () => {
  const a = agent;
  agent = undefined;
  void (a ? a.stop({ drainTimeoutMs: 0 }) : Promise.resolve()).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});

send({ type: 'ready', mode: process.argv.includes('--loaded') ? 'loaded' : 'agent' });
