/**
 * Transmit windows and the bulk bandwidth cap, through the real agent, tunnel and hub: outside
 * its window telemetry waits in the spool while an alarm still goes at once; when the window
 * opens the backlog goes. Bulk records are paced by the cap and never hold an alarm back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { encodeBody } from '../src/codec/index.js';
import { createAgent, MemoryQueue, systemClock, type Clock } from '../src/index.js';
import {
  catalogue,
  countingAdapter,
  hubOptions,
  oneSample,
  tunnelClient,
  waitFor,
} from './helpers.js';

const MIN = 60_000;

describe('transmit schedule and bulk cap against the real hub', () => {
  let hub: Hub;
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  let dir: string;
  const keys = { 'XR-WINDOW': nacl.sign.keyPair(), 'XR-BULK': nacl.sign.keyPair() };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-schedule-'));
    pki = await createTestPki({ deviceIds: Object.keys(keys) });
    hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    });
    for (const [id, k] of Object.entries(keys)) hub.registerDevice(id, k.publicKey);
  });
  afterAll(async () => {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds telemetry until its window opens, while an alarm goes at once', async () => {
    // The agent's clock runs 8 s before the start of a UTC window (windows are whole minutes).
    const realNow = Date.now();
    const windowStart = Math.ceil((realNow + 20_000) / MIN) * MIN;
    const offset = windowStart - 8000 - realNow;
    const clock: Clock = { ...systemClock, now: () => Date.now() + offset };
    const minuteOfDay = (ms: number): string => {
      const d = new Date(ms);
      const hh = String(d.getUTCHours()).padStart(2, '0');
      const mm = String(d.getUTCMinutes()).padStart(2, '0');
      return `${hh}:${mm}`;
    };
    const window = `${minuteOfDay(windowStart)}-${minuteOfDay(windowStart + 5 * MIN)}`;
    const { adapter, emit } = countingAdapter(() => clock.now());
    const agent = createAgent({
      adapter,
      errorCatalogue: catalogue,
      identity: { secretKey: keys['XR-WINDOW'].secretKey },
      hub: hubOptions(hub, pki, 'XR-WINDOW'),
      spool: { dir: join(dir, 'window'), groupCommitMs: 2 },
      clock,
      pollIntervalMs: 50,
      errorPollIntervalMs: 0,
      alarmCoalesceMs: 0,
      telemetry: { schedule: { windows: [window], timeZone: 'utc', sendEvery: '1m' } },
      rotation: false,
    });
    await agent.start();
    try {
      expect(await waitFor(() => agent.stats().tunnel === 'open', 5000)).toBe(true);
      expect(await waitFor(() => agent.stats().samplesAccepted >= 20, 5000)).toBe(true);
      // Into the spool now (what a full batch does): accepted, but held by the schedule.
      await agent.flush();
      expect(agent.stats().telemetryRecords).toBeGreaterThan(0);
      emit({ type: 'error', code: 2002, state: 'raised', atMs: clock.now() });
      expect(await waitFor(() => hub.store.counts('XR-WINDOW').alarms === 1, 3000)).toBe(true);
      // Still before the window: no telemetry has left the device (it was queued before the
      // alarm, so had it been sent, it would be stored by now).
      expect(clock.now()).toBeLessThan(windowStart);
      expect(hub.store.counts('XR-WINDOW').samples).toBe(0);
      // The window opens: everything polled so far arrives.
      const polledBefore = agent.stats().samplesAccepted;
      expect(
        await waitFor(() => hub.store.counts('XR-WINDOW').samples >= polledBefore, 20_000),
      ).toBe(true);
      const firstSample = Math.min(...hub.store.samples('XR-WINDOW').map((s) => s.tMs));
      expect(firstSample).toBeLessThan(windowStart);
    } finally {
      await agent.stop({ drainTimeoutMs: 1000 });
    }
  }, 40_000);

  it('paces bulk records to the cap and lets an alarm overtake them', async () => {
    const queue = new MemoryQueue();
    const bulkBody = (i: number): Uint8Array => {
      const b = oneSample(i);
      if (b.type === 'telemetry') {
        b.telemetry.samples = Array.from({ length: 200 }, (_, k) => ({
          offsetMs: k,
          raw: [i * 1000 + k],
        }));
      }
      return encodeBody(b);
    };
    let bulkBytes = 0;
    for (let i = 0; i < 12; i++) {
      const body = bulkBody(i);
      bulkBytes += body.length;
      await queue.append({ lane: 'bulk', type: 'telemetry', body, samples: 200 });
    }
    const rate = 4000;
    const tunnel = tunnelClient(hub, pki, 'XR-BULK', keys['XR-BULK'].secretKey, {
      queue,
      bulkBytesPerSecond: rate,
    });
    const stored: Array<{ type: string; seq: number }> = [];
    const onStored = (e: { deviceId: string; frame: { type: string; seq: number } }): void => {
      if (e.deviceId === 'XR-BULK') stored.push({ type: e.frame.type, seq: e.frame.seq });
    };
    hub.on('stored', onStored);
    const started = Date.now();
    tunnel.start();
    try {
      expect(await waitFor(() => stored.length >= 3, 10_000)).toBe(true);
      await queue.append({
        lane: 'alarm',
        type: 'alarm',
        body: encodeBody({ type: 'alarm', alarm: { code: 2002, state: 1 } }),
      });
      tunnel.notify();
      expect(await waitFor(() => queue.stats().records === 0, 30_000)).toBe(true);
      const elapsed = Date.now() - started;
      // A lower bound only (a slow machine can be slower, never faster): beyond the first
      // second's burst, the bytes go at no more than the cap.
      expect(elapsed).toBeGreaterThanOrEqual(((bulkBytes - rate) / rate) * 1000 * 0.9);
      const alarmAt = stored.findIndex((s) => s.type === 'alarm');
      expect(alarmAt).toBeGreaterThan(0);
      expect(alarmAt).toBeLessThan(stored.length - 3); // it did not wait behind the bulk
    } finally {
      hub.off('stored', onStored);
      await tunnel.close();
    }
  }, 40_000);
});
