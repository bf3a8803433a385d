/**
 * The worked example of docs/adapters.md runs as written: examples/custom-adapter.ts (an
 * adapter for a JSON-over-HTTP controller) with the real agent, over the real tunnel, into the
 * hub — values, an alarm, the controller going away and coming back, timeouts and cancellation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DR9_COUNTERS, HttpControllerAdapter } from '../examples/custom-adapter.js';
import { startHttpController, type HttpController } from '../examples/http-controller.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { AdapterError, createAgent, type Logger } from '../src/index.js';
import { catalogue, enrolIdentity, hubOptions, waitFor } from './helpers.js';

const DEVICE = 'DR9-0001';

interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}
function recordingLogger(into: LogLine[]): Logger {
  const at =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      into.push({ level, msg, ...(fields ? { fields } : {}) });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
let pki: Awaited<ReturnType<typeof createTestPki>>;
let hub: Hub;
let controller: HttpController;

beforeAll(async () => {
  pki = await createTestPki({ deviceIds: [DEVICE], hubName: 'test-hub' });
  hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
  });
  controller = await startHttpController();
});
afterAll(async () => {
  await controller.close();
  await hub.close();
});

describe('examples/custom-adapter.ts', () => {
  it('runs with the agent against a hub: samples, an alarm, an outage and recovery', async () => {
    const lines: LogLine[] = [];
    const adapter = new HttpControllerAdapter({
      baseUrl: controller.url,
      counters: DR9_COUNTERS,
      timeoutMs: 500,
    });
    const agent = createAgent({
      identity: enrolIdentity(hub, DEVICE).identity,
      adapter,
      errorCatalogue: catalogue,
      hub: hubOptions(hub, pki, DEVICE),
      pollIntervalMs: 100,
      errorPollIntervalMs: 50,
      telemetry: { sendIntervalMs: 300 },
      logger: recordingLogger(lines),
    });
    const pollErrors: string[] = [];
    agent.on('poll-error', (e) => pollErrors.push(e instanceof AdapterError ? e.code : String(e)));
    try {
      controller.set('frames_total', 4242);
      controller.set('panel_temp', 33.27);
      await agent.start();
      expect(await waitFor(() => hub.store.counts(DEVICE).samples >= 3)).toBe(true);
      const sample = hub.store.samples(DEVICE).at(-1)!;
      expect(sample.values).toMatchObject({
        frames_total: 4242,
        panel_temp: 33.3,
        battery_pct: 87,
      });

      controller.raise(3003); // DET_LINK_LOST: alarm-class
      expect(await waitFor(() => hub.store.alarms(DEVICE).some((a) => a.code === 3003), 3000)).toBe(
        true,
      );

      await controller.down();
      expect(await waitFor(() => pollErrors.includes('ADAPTER_DISCONNECTED'), 3000)).toBe(true);
      expect(adapter.health().connected).toBe(false);
      // Down for a second: some 20 failed error polls and 10 failed full polls.
      await new Promise((r) => setTimeout(r, 1000));
      const failedWhileDown = pollErrors.length;
      await controller.up();
      controller.set('frames_total', 4300);
      expect(
        await waitFor(() => hub.store.samples(DEVICE).at(-1)?.values.frames_total === 4300, 5000),
      ).toBe(true);
      expect(adapter.health().connected).toBe(true);
      expect(agent.stats().tunnel).toBe('open');
      // The log carries the outage in a few lines, not one per failed poll: per poller the first
      // failure (and one more if the error changed), then one line when reads work again that
      // counts them.
      expect(failedWhileDown).toBeGreaterThan(10);
      const failed = lines.filter((l) => l.msg === 'poll failed');
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed.length).toBeLessThanOrEqual(6);
      const back = lines.filter((l) => l.msg === 'device reads work again');
      expect(back.map((l) => l.fields?.poller).sort()).toEqual(['error poll', 'poll']);
      const counted = back.reduce((n, l) => n + Number(l.fields?.failedPolls), 0);
      expect(counted).toBeGreaterThanOrEqual(failedWhileDown);
      expect(counted).toBeLessThanOrEqual(pollErrors.length);
    } finally {
      await agent.stop({ drainTimeoutMs: 2000 });
    }
  });

  it('times out a wedged controller, and an abort is a cancellation, not a failure', async () => {
    const adapter = new HttpControllerAdapter({
      baseUrl: controller.url,
      counters: DR9_COUNTERS,
      timeoutMs: 200,
    });
    controller.hang();
    try {
      await expect(adapter.readSnapshot()).rejects.toMatchObject({ code: 'ADAPTER_TIMEOUT' });
      expect(adapter.health()).toMatchObject({ readsFailed: 1, timeouts: 1 });
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 50);
      await expect(adapter.readActiveErrors(ctl.signal)).rejects.toMatchObject({
        code: 'ADAPTER_CANCELLED',
        canceled: true,
      });
      expect(adapter.health()).toMatchObject({ readsFailed: 1, timeouts: 1 });
    } finally {
      controller.hang(false);
      await adapter.close();
    }
    // After close every call is a cancellation.
    await expect(adapter.readSnapshot()).rejects.toMatchObject({ code: 'ADAPTER_CANCELLED' });
  });
});
