/**
 * The reference hub in its own process for the delivery suite, so it can be killed with
 * SIGKILL: a SQLite file store that survives restarts, the device registered, and
 * optionally a crash inside `onCommitted` — after the durable commit of a batch of frames,
 * before its ack is sent. Every stored telemetry frame's seq and sample ids are journalled
 * (the store keeps samples without their frame's seq).
 *
 *   forked by hil/delivery/processes.ts with `--import tsx`
 */
import { startHub, type Hub } from '../../hub/index.js';
import { openJournal } from './journal.js';
import type { FromHubChild, ToHubChild } from './protocol.js';

function send(m: FromHubChild): void {
  if (process.connected) process.send?.(m);
}

let hub: Hub | undefined;

async function start(config: Extract<ToHubChild, { t: 'start' }>['config']): Promise<void> {
  const journal = openJournal(config.journal);
  let commits = 0;
  hub = await startHub({
    tls: config.tls,
    port: config.port,
    dbPath: config.dbPath,
    hubId: 'delivery-hub',
    heartbeatMs: config.heartbeatMs,
    handshakeTimeoutMs: 2000,
    tlsHandshakeTimeoutMs: 2000,
    onCommitted: () => {
      if (++commits === config.crashOnCommit) process.kill(process.pid, 'SIGKILL');
    },
  });
  hub.registerDevice(
    config.deviceId,
    new Uint8Array(Buffer.from(config.devicePublicKey, 'base64')),
  );
  hub.on('stored', ({ frame }) => {
    if (frame.type !== 'telemetry') return;
    const t = frame.telemetry;
    const col = (t.counters ?? []).findIndex((c) => c.name === 'id');
    if (col < 0) return;
    const ids = (t.samples ?? []).map((s) => Number(s.raw?.[col] ?? -1));
    journal.write(`S ${frame.seq} ${ids.join(',')}`);
  });
  hub.on('duplicate', ({ seq }) => journal.write(`D ${seq}`));
  send({
    t: 'started',
    port: hub.port,
    identityKey: Buffer.from(hub.identity.publicKey).toString('base64'),
  });
}

process.on('message', (m: ToHubChild) => {
  if (m.t === 'start') {
    start(m.config).catch((err: unknown) => {
      send({ t: 'start-failed', message: err instanceof Error ? err.message : String(err) });
      process.exitCode = 1;
      process.disconnect?.();
    });
  } else if (m.t === 'stop') {
    void (async () => {
      await hub?.close();
      send({ t: 'stopped' });
      process.disconnect?.();
      setTimeout(() => process.exit(0), 100).unref();
    })();
  }
});

process.on('disconnect', () => {
  void hub?.close().finally(() => process.exit(0));
});
