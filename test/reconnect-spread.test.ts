/**
 * The reconnect spread a hub announces in HubAuth: when a node dies without telling its agents
 * to come back later, each agent draws its first reconnect in the window the node announced,
 * sized to the fleet, instead of the 1 s first backoff window every device would share. Real
 * hub, real TLS, the agent's TunnelClient; a recording clock shows the delay it chose.
 */
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startHub, type Hub, type HubOptions } from '../hub/index.js';
import { encodeBody } from '../src/codec/index.js';
import { MemoryQueue, systemClock, type Clock } from '../src/index.js';
import type { TunnelClient } from '../src/tunnel/client.js';
import { tunnelClient, waitFor } from './helpers.js';

const IDS = ['SPREAD-A', 'SPREAD-B', 'SPREAD-C'];

describe('reconnect spread', () => {
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  const hubs: Hub[] = [];
  const keys = IDS.map(() => nacl.sign.keyPair());
  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: IDS });
  });
  afterAll(async () => {
    for (const h of hubs) await h.close({ comeBackLater: false });
  });

  async function hub(options: Partial<HubOptions>): Promise<Hub> {
    const h = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      ...options,
    });
    hubs.push(h);
    IDS.forEach((id, i) => h.registerDevice(id, keys[i]!.publicKey));
    return h;
  }

  /**
   * A TunnelClient for device `i` (random() = 0.5, backoff 100 ms base, 400 ms cap) and every
   * reconnect delay it chooses (timers set while it is waiting).
   */
  function client(i: number, h: Hub, queue = new MemoryQueue()) {
    const waits: number[] = [];
    const seen: { tunnel?: TunnelClient } = {};
    const clock: Clock = {
      now: systemClock.now,
      setTimeout(fn, ms) {
        if (seen.tunnel?.state === 'waiting') waits.push(ms);
        return systemClock.setTimeout(fn, ms);
      },
      clearTimeout: systemClock.clearTimeout,
    };
    const tunnel = tunnelClient(h, pki, IDS[i]!, keys[i]!.secretKey, {
      queue,
      clock,
      backoff: { baseMs: 100, capMs: 400 },
      random: () => 0.5,
    });
    seen.tunnel = tunnel;
    return { tunnel, waits };
  }

  it('sizes the window to the registered fleet and the restart pace, and follows revocations', async () => {
    const h = await hub({ restartSpreadPerSecond: 2 });
    // 3 active devices at 2 per second.
    expect(h.reconnectSpreadMs()).toBe(1500);
    h.revokeDevice('SPREAD-C');
    expect(h.reconnectSpreadMs()).toBe(1000);
    const fixed = await hub({ restartSpreadPerSecond: 2, reconnectSpreadMs: 0 });
    expect(fixed.reconnectSpreadMs()).toBe(0);
    const none = await hub({ restartSpreadPerSecond: 0 });
    expect(none.reconnectSpreadMs()).toBe(0);
    const capped = await hub({ restartSpreadPerSecond: 2, restartSpreadMaxMs: 700 });
    expect(capped.reconnectSpreadMs()).toBe(700);
  });

  it('an agent that loses an open tunnel without notice draws its first reconnect in the announced window, and returns', async () => {
    const first = await hub({ reconnectSpreadMs: 1600 });
    const port = first.port;
    const identityKeyPem = first.identity.toPem();
    const { tunnel, waits } = client(0, first);
    tunnel.start();
    try {
      expect(await waitFor(() => tunnel.state === 'open', 5000)).toBe(true);
      expect(waits).toEqual([]);

      // A crash-like cut: no come-back-later frame.
      await first.close({ comeBackLater: false });
      expect(await waitFor(() => waits.length === 1, 3000)).toBe(true);
      // Half of the announced 1 600 ms window, not half of the 100 ms first backoff window.
      expect(waits[0]).toBe(800);

      // Nobody listens now: the attempt after the spread fails, and the window stays at least
      // the announced one while the node is away.
      expect(await waitFor(() => waits.length === 2, 5000)).toBe(true);
      expect(waits[1]).toBe(800);

      // The replacement node comes up; the agent returns to it.
      const second = await hub({ port, identityKeyPem, reconnectSpreadMs: 0 });
      expect(await waitFor(() => second.isConnected('SPREAD-A'), 8000)).toBe(true);
      expect(await waitFor(() => tunnel.state === 'open', 2000)).toBe(true);

      // This node announced no spread: after a cut the agent's own backoff applies again
      // (checked after the next test).
      const before = waits.length;
      await second.close({ comeBackLater: false });
      expect(await waitFor(() => waits.length > before, 3000)).toBe(true);
      expect(waits[before]).toBe(50);
    } finally {
      await tunnel.close();
    }
  });

  it('an alarm waiting in the queue does not wait out the spread', async () => {
    const h = await hub({ reconnectSpreadMs: 600_000 });
    const port = h.port;
    const identityKeyPem = h.identity.toPem();
    const queue = new MemoryQueue();
    const { tunnel, waits } = client(1, h, queue);
    tunnel.start();
    try {
      expect(await waitFor(() => tunnel.state === 'open', 5000)).toBe(true);
      await h.close({ comeBackLater: false });
      expect(await waitFor(() => waits.length === 1, 3000)).toBe(true);
      expect(waits[0]).toBe(300_000); // half of the ten-minute window
      const back = await hub({ port, identityKeyPem });
      // An alarm is raised while the agent waits: it retries on its backoff at once.
      await queue.append({
        lane: 'alarm',
        type: 'alarm',
        body: encodeBody({ type: 'alarm', alarm: { code: 2002, state: 1 } }),
      });
      tunnel.notify();
      expect(waits[1]).toBe(50);
      expect(await waitFor(() => back.isConnected('SPREAD-B'), 5000)).toBe(true);
      expect(await waitFor(() => back.store.counts('SPREAD-B').alarms === 1, 5000)).toBe(true);
    } finally {
      await tunnel.close();
    }
  });
});
