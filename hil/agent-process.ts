/**
 * The agent under test, in its own process: `createAgent` from the library with the adapter
 * the rig's face builds, configured by one `start` message from the runner and reporting what
 * it does over IPC (agent-protocol.ts). It installs no error handlers of its own: an uncaught
 * exception or unhandled rejection takes the process down exactly as it would in the field;
 * `uncaughtExceptionMonitor` only reports it first.
 *
 *   forked by hil/agent-host.ts with `--import tsx`
 */
import {
  createAgent,
  jsonLogger,
  parseErrorCatalogue,
  parseRegisterMap,
  type Agent,
} from '../src/index.js';
import type { FromAgent, ToAgent } from './agent-protocol.js';
import { face } from './rigs/index.js';

function send(message: FromAgent): void {
  if (process.connected) process.send?.(message);
}

process.on('uncaughtExceptionMonitor', (err: unknown, origin) => {
  const e = err instanceof Error ? err : new Error(String(err));
  send({ t: 'uncaught', origin, name: e.name, message: e.message, stack: e.stack });
});

let agent: Agent | undefined;
let statsTimer: NodeJS.Timeout | undefined;

async function start(config: Extract<ToAgent, { t: 'start' }>['config']): Promise<void> {
  const registerMap = parseRegisterMap(config.registerMap);
  agent = createAgent({
    deviceId: config.deviceId,
    identity: { secretKey: new Uint8Array(Buffer.from(config.identitySecretKey, 'base64')) },
    adapter: face(config.adapter.face).createAdapter(config.adapter, registerMap),
    errorCatalogue: parseErrorCatalogue(config.errorCatalogue),
    hub: {
      url: config.hubUrl,
      ca: config.caPem,
      cert: config.certPem,
      key: config.keyPem,
      servername: 'localhost',
      identityKey: new Uint8Array(Buffer.from(config.hubIdentityKey, 'base64')),
    },
    pollIntervalMs: config.pollMs,
    errorPollIntervalMs: config.errorPollMs,
    alarmCoalesceMs: config.coalesceMs,
    ...(config.pollTimeoutMs === undefined ? {} : { pollTimeoutMs: config.pollTimeoutMs }),
    telemetry: { sendIntervalMs: config.sendMs },
    logger: jsonLogger({ level: 'warn', name: 'agent' }),
  });
  const a = agent;
  a.on('tunnel-state', (state) => send({ t: 'tunnel', state, atMs: Date.now() }));
  a.on('snapshot', (s) =>
    send({
      t: 'snapshot',
      atMs: s.atMs,
      read: s.counters.map((c) => c.name),
      missing: s.missing,
      codes: s.codes,
    }),
  );
  a.on('poll-error', (err) => {
    const e = err as { code?: unknown; message?: unknown };
    send({
      t: 'poll-error',
      atMs: Date.now(),
      code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
      message: typeof e.message === 'string' ? e.message : String(err),
    });
  });
  a.on('alarm', (t) => send({ t: 'alarm', atMs: Date.now(), code: t.info.code, state: t.state }));
  await a.start();
  send({ t: 'started', atMs: Date.now() });
  statsTimer = setInterval(() => send({ t: 'stats', atMs: Date.now(), stats: a.stats() }), 250);
}

async function stop(drainTimeoutMs: number): Promise<void> {
  if (statsTimer !== undefined) clearInterval(statsTimer);
  statsTimer = undefined;
  if (agent === undefined) process.exit(0);
  await agent.stop({ drainTimeoutMs });
  const stats = agent.stats();
  send({ t: 'stopped', stats, drained: stats.queue.records === 0 });
  process.disconnect?.();
  process.exitCode = 0;
  // Anything the agent left running (a socket, a timer) must not keep the process alive.
  setTimeout(() => process.exit(0), 200).unref();
}

process.on('message', (m: ToAgent) => {
  if (m.t === 'start') {
    start(m.config).catch((err: unknown) => {
      const e = err as { message?: unknown; code?: unknown };
      send({
        t: 'start-failed',
        message: typeof e.message === 'string' ? e.message : String(err),
        ...(typeof e.code === 'string' ? { code: e.code } : {}),
      });
      process.exitCode = 1;
      process.disconnect?.();
    });
  } else if (m.t === 'stop') {
    void stop(m.drainTimeoutMs);
  }
});

// The runner went away: stop quickly rather than linger as an orphan.
process.on('disconnect', () => {
  if (agent !== undefined && statsTimer !== undefined) void stop(500);
});
