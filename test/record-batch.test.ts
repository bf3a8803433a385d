import nacl from 'tweetnacl';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startHub, type Hub, type HubOptions } from '../hub/index.js';
import {
  encodeBatchFrame,
  encodeBody,
  encodeFrameWithBody,
  type Frame,
} from '../src/codec/index.js';
import { MemoryQueue } from '../src/index.js';
import type { TunnelClient } from '../src/tunnel/client.js';
import { oneSample, rawClient, tunnelClient, waitFor } from './helpers.js';

// Several records per WebSocket message (RecordBatch) when the agent has a backlog, and the
// hub's side of it: each record keeps its seq, is de-duplicated and acked cumulatively, and a
// hub that does not offer batches gets one record per frame.
describe('record batches through the tunnel', () => {
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  const keys = nacl.sign.keyPair();
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: ['XR-BATCH'] });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function hubWith(options: Partial<HubOptions> = {}): Promise<Hub> {
    const hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      ...options,
    });
    hub.registerDevice('XR-BATCH', keys.publicKey);
    cleanups.push(() => hub.close());
    return hub;
  }

  function tunnelTo(
    hub: Hub,
    queue: MemoryQueue,
    window: number,
    maxBatchBytes?: number,
  ): TunnelClient {
    const tunnel = tunnelClient(hub, pki, 'XR-BATCH', keys.secretKey, {
      queue,
      window,
      maxBatchRecords: 50,
      ...(maxBatchBytes ? { maxBatchBytes } : {}),
    });
    cleanups.push(() => tunnel.close());
    return tunnel;
  }

  /** 20 telemetry records, then 300 alarms of about 2 KB: more than one batch's frame limit. */
  async function backlog(queue: MemoryQueue): Promise<void> {
    for (let i = 0; i < 20; i++)
      await queue.append({
        lane: 'telemetry',
        type: 'telemetry',
        body: encodeBody(oneSample(i)),
        samples: 1,
      });
    for (let i = 0; i < 300; i++)
      await queue.append({
        lane: 'alarm',
        type: 'alarm',
        body: encodeBody({
          type: 'alarm',
          alarm: { code: 2002, state: (i % 2) + 1, text: `${i} `.padEnd(2000, 'x') },
        }),
      });
  }

  it('sends a backlog in batches bounded by the record and frame limits, stored once each, in lane order', async () => {
    // 60 KB frames: at most 29 of the 2 KB alarms fit, below the agent's 50 records.
    const hub = await hubWith({ maxFrameBytes: 60_000 });
    const queue = new MemoryQueue();
    await backlog(queue);
    const seqsInOrder: number[] = [];
    hub.on('stored', (e) => seqsInOrder.push(e.frame.seq));
    const tunnel = tunnelTo(hub, queue, 256, 1 << 20);
    tunnel.start();
    expect(await waitFor(() => queue.stats().records === 0, 15_000)).toBe(true);
    const st = tunnel.stats();
    expect(st.batchesSent).toBeGreaterThanOrEqual(11); // 300 alarms / 29 per frame
    expect(st.batchedRecords / st.batchesSent).toBeLessThanOrEqual(29);
    expect(st.framesSent).toBe(320);
    expect(hub.store.counts('XR-BATCH')).toMatchObject({ samples: 20, alarms: 300, frames: 320 });
    expect(hub.stats().duplicatesDropped).toBe(0);
    expect(hub.stats().protocolErrors).toBe(0);
    // Alarms (seq 21-320) overtake telemetry (1-20); within each lane, ascending seq.
    const alarms = seqsInOrder.filter((s) => s > 20);
    const telemetry = seqsInOrder.filter((s) => s <= 20);
    expect(alarms).toEqual([...alarms].sort((a, b) => a - b));
    expect(telemetry).toEqual([...telemetry].sort((a, b) => a - b));
    expect(hub.store.alarms('XR-BATCH').map((a) => a.text.split(' ')[0])).toEqual(
      Array.from({ length: 300 }, (_, i) => String(i)),
    );
  });

  it('keeps a batch within 16 KiB by default (latency on a slow uplink)', async () => {
    const hub = await hubWith();
    const queue = new MemoryQueue();
    await backlog(queue);
    const tunnel = tunnelTo(hub, queue, 256);
    tunnel.start();
    expect(await waitFor(() => queue.stats().records === 0, 15_000)).toBe(true);
    const st = tunnel.stats();
    expect(st.batchesSent).toBeGreaterThan(0);
    // About 2 KB each, at most 7 alarms fit 16 KiB with their envelopes: 300 take 43 frames.
    expect(st.batchesSent + (st.framesSent - st.batchedRecords)).toBeGreaterThanOrEqual(43 + 1);
    expect(hub.store.counts('XR-BATCH')).toMatchObject({ samples: 20, alarms: 300 });
  });

  it('sends one record per frame to a hub that does not offer batches', async () => {
    const hub = await hubWith({ maxBatchRecords: 0 });
    const queue = new MemoryQueue();
    await backlog(queue);
    const tunnel = tunnelTo(hub, queue, 256);
    tunnel.start();
    expect(await waitFor(() => queue.stats().records === 0, 15_000)).toBe(true);
    expect(tunnel.stats()).toMatchObject({ batchesSent: 0, framesSent: 320 });
    expect(hub.store.counts('XR-BATCH')).toMatchObject({ samples: 20, alarms: 300 });
  });

  it("delivers to a 'seqs-only' hub's listeners exactly once, storing no data rows", async () => {
    const hub = await hubWith({ dataMode: 'seqs-only' });
    const queue = new MemoryQueue();
    await backlog(queue);
    const seen = new Map<number, number>();
    hub.on('stored', (e) => seen.set(e.frame.seq, (seen.get(e.frame.seq) ?? 0) + 1));
    const tunnel = tunnelTo(hub, queue, 64);
    tunnel.start();
    expect(await waitFor(() => queue.stats().records === 0, 15_000)).toBe(true);
    expect(seen.size).toBe(320);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(hub.store.counts('XR-BATCH')).toEqual({ samples: 0, alarms: 0, frames: 0, events: 0 });
  });

  async function raw(hub: Hub): Promise<Awaited<ReturnType<typeof rawClient>>> {
    return rawClient(hub, pki.ca.certPem, pki.devices['XR-BATCH'], 'XR-BATCH', {
      identity: keys.secretKey,
    });
  }
  const record = (seq: number, deviceId = 'XR-BATCH'): Uint8Array =>
    encodeFrameWithBody({ deviceId, seq, sentAtMs: 1 }, 'telemetry', encodeBody(oneSample(seq)));
  const batch = (records: Uint8Array[]): Uint8Array =>
    encodeBatchFrame({ deviceId: 'XR-BATCH', sentAtMs: 1 }, records);

  it('de-duplicates batched records against each other and single frames, and acks cumulatively', async () => {
    const hub = await hubWith();
    const c = await raw(hub);
    c.sendRaw(record(1));
    c.sendRaw(batch([record(2), record(1), record(4), record(2)]));
    c.sendRaw(batch([record(3), record(4)]));
    let upTo = 0;
    await waitFor(() => {
      for (const f of c.frames.splice(0))
        if (f.type === 'ack') upTo = Math.max(upTo, f.ack.upTo ?? 0);
      return upTo === 4;
    });
    expect(upTo).toBe(4);
    expect(hub.store.counts('XR-BATCH').samples).toBe(4);
    expect(hub.stats().duplicatesDropped).toBe(3);
    c.ws.close();
  });

  const refusals: Array<[string, (h: Hub) => Uint8Array, number, string]> = [
    [
      'a record of another device',
      () => batch([record(1), record(2, 'XR-OTHER')]),
      4403,
      'OUTPOST_IDENTITY_MISMATCH',
    ],
    ['a record with seq 0', () => batch([record(1), record(0)]), 4400, 'OUTPOST_MALFORMED_FRAME'],
    [
      'a Gap',
      () =>
        batch([
          encodeFrameWithBody(
            { deviceId: 'XR-BATCH', seq: 0, sentAtMs: 1 },
            'gap',
            encodeBody({ type: 'gap', gap: { fromSeq: 1, toSeq: 2, records: 2 } }),
          ),
        ]),
      4400,
      'OUTPOST_MALFORMED_FRAME',
    ],
    ['a batch inside a batch', () => batch([batch([record(1)])]), 4400, 'OUTPOST_MALFORMED_FRAME'],
    [
      'garbage',
      () => batch([record(1), Buffer.from('\xff\xff\xff not protobuf')]),
      4400,
      'OUTPOST_MALFORMED_FRAME',
    ],
    ['an empty batch', () => batch([]), 4400, 'OUTPOST_MALFORMED_FRAME'],
    [
      'more records than offered',
      () => batch(Array.from({ length: 257 }, (_, i) => record(i + 1))),
      4400,
      'OUTPOST_MALFORMED_FRAME',
    ],
  ];
  for (const [what, bytes, status, code] of refusals) {
    it(`refuses a batch holding ${what}, storing none of it`, async () => {
      const hub = await hubWith();
      const c = await raw(hub);
      c.sendRaw(bytes(hub));
      const error = (await c.next('error')) as Extract<Frame, { type: 'error' }>;
      expect(error.error.code).toBe(code);
      expect((await c.closed).code).toBe(status);
      expect(hub.store.counts('XR-BATCH').frames).toBe(0);
    });
  }

  it('refuses batches at a hub that does not offer them', async () => {
    const hub = await hubWith({ maxBatchRecords: 0 });
    const c = await raw(hub);
    c.sendRaw(batch([record(1), record(2)]));
    const error = (await c.next('error')) as Extract<Frame, { type: 'error' }>;
    expect(error.error.code).toBe('OUTPOST_UNEXPECTED_FRAME');
    expect((await c.closed).code).toBe(4400);
  });
});
