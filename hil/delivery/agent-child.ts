/**
 * The agent under test in the delivery suite, in its own process so it can be killed with
 * SIGKILL: `createAgent` with the durable spool on a real directory, the synthetic device,
 * and journals of what was offered and what was accepted. It installs no error handler that
 * could hide a crash; `uncaughtExceptionMonitor` only reports one.
 *
 *   forked by hil/delivery/processes.ts with `--import tsx`
 */
import { proto } from '../../src/codec/index.js';
import {
  createAgent,
  jsonLogger,
  parseErrorCatalogue,
  type Agent,
  type Clock,
  type QueuedRecord,
} from '../../src/index.js';
import { FaultySpoolFs } from './faulty-spool-fs.js';
import { openJournal, type Journal } from './journal.js';
import { ALARM_CODE, alarmKey, type FromAgentChild, type ToAgentChild } from './protocol.js';
import { sampleIdsOfRecord, SyntheticDevice } from './synthetic-device.js';

function send(m: FromAgentChild): void {
  if (process.connected) process.send?.(m);
}

process.on('uncaughtExceptionMonitor', (err: unknown, origin) => {
  const e = err instanceof Error ? err : new Error(String(err));
  send({ t: 'uncaught', origin, name: e.name, message: e.message, stack: e.stack });
});

let offsetMs = 0;
/** The agent's clock: the real one, moved by `offsetMs` (clock-jump scenario). */
const clock: Clock = {
  now: () => Date.now() + offsetMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

let agent: Agent | undefined;
let device: SyntheticDevice | undefined;
let fs: FaultySpoolFs | undefined;
let journal: Journal | undefined;
let statsTimer: NodeJS.Timeout | undefined;

function journalAccepted(r: QueuedRecord): void {
  const at = Date.now();
  if (r.lane === 'telemetry') {
    journal?.write(`t ${r.seq} ${at} ${sampleIdsOfRecord(r.type, r.body).join(',')}`);
  } else if (r.type === 'alarm') {
    const a = proto.v1.Alarm.decode(r.body);
    const state = a.state === 2 ? 'cleared' : 'raised';
    journal?.write(`A ${r.seq} ${at} ${alarmKey(a.code, state, Number(a.observedAtMs))}`);
  }
}

async function start(config: Extract<ToAgentChild, { t: 'start' }>['config']): Promise<void> {
  journal = openJournal(config.journal);
  const j = journal;
  fs = new FaultySpoolFs(config.fsFaults ?? {});
  device = new SyntheticDevice({
    boot: config.boot,
    alarmCode: ALARM_CODE,
    journal: (line) => j.write(line),
    now: () => clock.now(),
  });
  agent = createAgent({
    deviceId: config.deviceId,
    identity: { secretKey: new Uint8Array(Buffer.from(config.identitySecretKey, 'base64')) },
    adapter: device,
    errorCatalogue: parseErrorCatalogue(config.errorCatalogue),
    hub: {
      url: config.hubUrl,
      ca: config.caPem,
      cert: config.certPem,
      key: config.keyPem,
      servername: 'localhost',
      identityKey: new Uint8Array(Buffer.from(config.hubIdentityKey, 'base64')),
    },
    spool: {
      dir: config.spoolDir,
      fs,
      groupCommitMs: config.groupCommitMs,
      ...(config.maxBytes === undefined ? {} : { maxBytes: config.maxBytes }),
      ...(config.segmentBytes === undefined ? {} : { segmentBytes: config.segmentBytes }),
      retryDelayMs: 100,
    },
    pollIntervalMs: config.pollMs,
    errorPollIntervalMs: 0,
    alarmCoalesceMs: 0,
    telemetry: { sendIntervalMs: config.sendMs },
    tunnel: {
      heartbeatMs: config.heartbeatMs,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      backoff: config.backoff,
      ...(config.window === undefined ? {} : { window: config.window }),
    },
    rotation: false,
    clock,
    logger: jsonLogger({ level: 'error', name: 'agent' }),
  });
  const a = agent;
  let sent = 0;
  let acked = 0;
  a.on('accepted', journalAccepted);
  a.on('gap', (g) => j.write(`g ${g.fromSeq} ${g.toSeq} ${g.records}`));
  a.on('tunnel-state', (state) => {
    j.write(`T ${Date.now()} ${state}`);
    send({ t: 'tunnel', state, atMs: Date.now() });
  });
  a.on('tunnel-down', (err) =>
    j.write(`X ${Date.now()} ${err.code} ${err.message.replace(/\s+/g, '_')}`),
  );
  if (config.killAfterSent !== undefined) {
    const n = config.killAfterSent;
    a.on('sent', () => {
      if (++sent === n) process.kill(process.pid, 'SIGKILL');
    });
  }
  if (config.killAfterAcked !== undefined) {
    const n = config.killAfterAcked;
    a.on('acked', () => {
      if (++acked === n) process.kill(process.pid, 'SIGKILL');
    });
  }
  await a.start();
  send({ t: 'started', atMs: Date.now() });
  device.alarmsEvery(config.alarmEveryMs);
  statsTimer = setInterval(() => {
    const s = a.stats();
    send({
      t: 'stats',
      queued: s.queue.records,
      refused: s.recordsRefused,
      inGaps: s.recordsInGaps,
      syncFailures: fs?.counts.syncFailures ?? 0,
      writeFailures: fs?.counts.writeFailures ?? 0,
      tunnelConnects: s.tunnelConnects,
    });
  }, 200);
}

async function stop(drainTimeoutMs: number): Promise<void> {
  if (statsTimer !== undefined) clearInterval(statsTimer);
  statsTimer = undefined;
  device?.alarmsEvery(0);
  if (agent === undefined) process.exit(0);
  let error: string | undefined;
  try {
    await agent.stop({ drainTimeoutMs });
  } catch (err) {
    // stop() reports a failure to close the spool cleanly; the runner judges it.
    error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  const queued = agent.stats().queue.records;
  journal?.close();
  send({ t: 'stopped', drained: queued === 0, queued, ...(error === undefined ? {} : { error }) });
  process.disconnect?.();
  process.exitCode = 0;
  setTimeout(() => process.exit(0), 200).unref();
}

process.on('message', (m: ToAgentChild) => {
  switch (m.t) {
    case 'start':
      start(m.config).catch((err: unknown) => {
        send({ t: 'start-failed', message: err instanceof Error ? err.message : String(err) });
        process.exitCode = 1;
        process.disconnect?.();
      });
      break;
    case 'stop':
      void stop(m.drainTimeoutMs);
      break;
    case 'clock':
      offsetMs = m.offsetMs;
      break;
    case 'fs':
      if (fs && m.enospc !== undefined) fs.enospc = m.enospc;
      if (fs && m.failSyncs !== undefined) fs.failSyncs = m.failSyncs;
      break;
    case 'alarms':
      device?.alarmsEvery(m.everyMs);
      break;
  }
});

// The runner went away: do not linger as an orphan.
process.on('disconnect', () => {
  if (statsTimer !== undefined) void stop(200);
  else process.exit(0);
});
