/**
 * The durable spool in the real delivery path: FileSpool on a real directory, the real tunnel,
 * the real hub with its SQLite group commit. What the unit and model tests of src/spool cannot
 * show: that the hub moves its cumulative ack past a reported gap (or the spool would never
 * drain), that it acks only after its durable commit, and that an agent restarted on the same
 * spool directory delivers what the previous process accepted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { encodeBody } from '../src/codec/index.js';
import { createAgent, FileSpool, type QueuedRecord } from '../src/index.js';
import type { TunnelClient } from '../src/tunnel/client.js';
import {
  catalogue,
  countingAdapter,
  hubOptions,
  oneSample,
  tunnelClient,
  waitFor,
} from './helpers.js';

/** A telemetry body with `n` samples (about 10 bytes each). */
function samplesBody(start: number, n: number): Parameters<typeof encodeBody>[0] {
  return {
    type: 'telemetry',
    telemetry: {
      counters: [{ name: 'exposures_total', unit: 'count', scale: 1 }],
      baseTimeMs: Date.now(),
      samples: Array.from({ length: n }, (_, k) => ({
        offsetMs: k * 1000,
        raw: [start * 1_000_000 + k * 4099],
      })),
    },
  };
}

const DEVICES = ['XR-GAP', 'XR-COMMIT', 'XR-RESTART'];

describe('spool delivery through the real tunnel and hub', () => {
  let hub: Hub;
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  let dir: string;
  const committed: Array<{ deviceId: string; upTo: number }> = [];
  const keys = new Map(DEVICES.map((d) => [d, nacl.sign.keyPair()]));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-spool-delivery-'));
    pki = await createTestPki({ deviceIds: DEVICES });
    hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      dbPath: join(dir, 'hub.db'),
      onCommitted: (deviceId, upTo) => committed.push({ deviceId, upTo }),
    });
    for (const [id, k] of keys) hub.registerDevice(id, k.publicKey);
  });
  afterAll(async () => {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  function tunnelFor(deviceId: string, queue: FileSpool, window = 64): TunnelClient {
    return tunnelClient(hub, pki, deviceId, keys.get(deviceId)!.secretKey, { queue, window });
  }

  it('reports records evicted for quota as a gap; the hub acks past it and the spool drains', async () => {
    const link: { tunnel?: TunnelClient } = {};
    const spool = await FileSpool.open({
      dir: join(dir, 'gap'),
      maxBytes: 24 * 1024,
      groupCommitMs: 1,
      persistDelayMs: 1,
      onReadable: () => link.tunnel?.notify(),
    });
    // ~1 KiB telemetry records into a 24 KiB quota: the oldest are evicted. An alarm sits among
    // them and is never evicted.
    const accepted: QueuedRecord[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 10) {
        accepted.push(
          await spool.append({
            lane: 'alarm',
            type: 'alarm',
            body: encodeBody({ type: 'alarm', alarm: { code: 2002, state: 1 } }),
          }),
        );
      }
      accepted.push(
        await spool.append({
          lane: 'telemetry',
          type: 'telemetry',
          body: encodeBody(samplesBody(i, 100)),
          samples: 100,
        }),
      );
    }
    const evicted = spool.stats().evicted;
    expect(evicted).toBeGreaterThan(10);
    await spool.settle(); // the eviction is durable, so its gap may be handed out
    const tunnel = (link.tunnel = tunnelFor('XR-GAP', spool));
    const gaps: Array<{ fromSeq: number; toSeq: number; records: number }> = [];
    tunnel.on('gap', (g) => gaps.push(g));
    tunnel.start();
    try {
      expect(await waitFor(() => spool.stats().records === 0, 15_000)).toBe(true);
      const lastSeq = spool.stats().lastSeq;
      expect(spool.stats().ackedSeq).toBe(lastSeq);
      const stored = hub.store.gaps('XR-GAP');
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.every((g) => g.reason === 'quota' && g.streamId === spool.streamId)).toBe(true);
      // Exactly the evicted records are missing, and each of them is inside a stored gap.
      const inGap = (seq: number): boolean =>
        stored.some((g) => seq >= g.fromSeq && seq <= g.toSeq);
      const counts = hub.store.counts('XR-GAP');
      expect(counts.alarms).toBe(1);
      expect(counts.samples / 100 + evicted).toBe(60);
      expect(stored.reduce((n, g) => n + g.records, 0)).toBe(evicted);
      expect(accepted.filter((r) => inGap(r.seq)).length).toBe(evicted);
      expect(accepted.some((r) => r.lane === 'alarm' && inGap(r.seq))).toBe(false);
      expect(gaps.reduce((n, g) => n + g.records, 0)).toBe(evicted);
    } finally {
      await tunnel.close();
      await spool.close();
    }
  });

  it('stores a burst in few group commits and acks only what a commit made durable', async () => {
    const link: { tunnel?: TunnelClient } = {};
    const spool = await FileSpool.open({
      dir: join(dir, 'commit'),
      groupCommitMs: 2,
      onReadable: () => link.tunnel?.notify(),
    });
    const appends: Array<Promise<QueuedRecord>> = [];
    for (let i = 0; i < 600; i++) {
      appends.push(
        spool.append({
          lane: 'telemetry',
          type: 'telemetry',
          body: encodeBody(oneSample(i)),
          samples: 1,
        }),
      );
    }
    await Promise.all(appends);
    const before = hub.stats();
    const tunnel = (link.tunnel = tunnelFor('XR-COMMIT', spool, 256));
    const violations: number[] = [];
    tunnel.on('acked', (records) => {
      const durable = Math.max(
        0,
        ...committed.filter((c) => c.deviceId === 'XR-COMMIT').map((c) => c.upTo),
      );
      for (const r of records) if (r.seq > durable) violations.push(r.seq);
    });
    tunnel.start();
    try {
      expect(await waitFor(() => spool.stats().records === 0, 15_000)).toBe(true);
      const after = hub.stats();
      const items = after.committedItems - before.committedItems;
      const commits = after.commits - before.commits;
      expect(items).toBe(600);
      // One transaction per burst, not per frame (600 frames through a window of 256).
      expect(commits).toBeLessThan(150);
      expect(violations).toEqual([]);
      expect(hub.store.counts('XR-COMMIT').samples).toBe(600);
    } finally {
      await tunnel.close();
      await spool.close();
    }
  });

  it('an agent restarted on the same spool directory delivers what the last one accepted', async () => {
    const spoolDir = join(dir, 'agent');
    const { adapter } = countingAdapter();
    const make = (url: string): ReturnType<typeof createAgent> =>
      createAgent({
        adapter,
        errorCatalogue: catalogue,
        identity: { secretKey: keys.get('XR-RESTART')!.secretKey },
        hub: { ...hubOptions(hub, pki, 'XR-RESTART'), url },
        spool: { dir: spoolDir, groupCommitMs: 2 },
        pollIntervalMs: 20,
        errorPollIntervalMs: 0,
        telemetry: { sendIntervalMs: 100 },
        tunnel: { backoff: { baseMs: 50, capMs: 200 } },
        rotation: false,
      });
    // First life: the hub is unreachable (a closed port), so nothing is acknowledged.
    const first = make('wss://127.0.0.1:9/v1/tunnel');
    const accepted: QueuedRecord[] = [];
    first.on('accepted', (r) => accepted.push(r));
    await first.start();
    expect(await waitFor(() => accepted.length >= 5, 10_000)).toBe(true);
    await first.stop({ drainTimeoutMs: 0 });
    const samples = accepted.reduce((n, r) => n + r.samples, 0);
    expect(samples).toBeGreaterThan(0);
    // Second life: same directory, the real hub. The first life's records arrive with their
    // original seqs, then the second life's own.
    const second = make(hub.url);
    await second.start();
    try {
      expect(await waitFor(() => hub.store.counts('XR-RESTART').samples >= samples, 15_000)).toBe(
        true,
      );
      await second.flush();
      expect(await second.drain(10_000)).toBe(true);
      const stats = second.stats();
      expect(stats.queue.lastSeq).toBeGreaterThan(Math.max(...accepted.map((r) => r.seq)));
      expect(hub.store.counts('XR-RESTART').frames).toBe(stats.queue.lastSeq);
    } finally {
      await second.stop({ drainTimeoutMs: 1000 });
    }
  });
});
