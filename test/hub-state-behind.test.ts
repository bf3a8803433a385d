/**
 * A hub whose state is older than the device's (its database restored from a backup, or an
 * in-memory hub restarted): it has no record of seqs it acked before, which the agent has
 * deleted. Without the agent reporting them, the hub's cumulative ack would wait for them
 * forever and the agent's window would stall. Real hubs, real TLS, the agent's TunnelClient.
 */
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { encodeBody } from '../src/codec/index.js';
import { MemoryQueue, type QueueGap } from '../src/index.js';
import { tunnelClient, waitFor } from './helpers.js';

const ID = 'XR-BEHIND';

describe('a hub that lost its state', () => {
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  const hubs: Hub[] = [];
  const keys = nacl.sign.keyPair();
  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: [ID] });
  });
  afterAll(async () => {
    for (const h of hubs) await h.close({ comeBackLater: false });
  });

  async function hub(port = 0, identityKeyPem?: string): Promise<Hub> {
    const h = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
      port,
      ...(identityKeyPem ? { identityKeyPem } : {}),
    });
    hubs.push(h);
    h.registerDevice(ID, keys.publicKey);
    return h;
  }

  const alarm = (i: number) => ({
    lane: 'alarm' as const,
    type: 'alarm' as const,
    body: encodeBody({ type: 'alarm', alarm: { code: 2000 + i, state: 1 } }),
  });

  it('is told the seqs it lacks as a hub-state-behind gap, and delivery goes on', async () => {
    const first = await hub();
    const queue = new MemoryQueue();
    const gaps: QueueGap[] = [];
    const tunnel = tunnelClient(first, pki, ID, keys.secretKey, {
      queue,
      backoff: { baseMs: 20, capMs: 100 },
      window: 4,
    });
    tunnel.on('gap', (g) => gaps.push(g));
    tunnel.start();
    try {
      for (let i = 1; i <= 6; i++) await queue.append(alarm(i));
      tunnel.notify();
      // Acked by the first hub and deleted from the queue.
      expect(await waitFor(() => queue.stats().records === 0, 5000)).toBe(true);
      expect(first.store.counts(ID).alarms).toBe(6);

      // The replacement keeps its state in memory: it knows nothing of seqs 1..6.
      const port = first.port;
      const identityKeyPem = first.identity.toPem();
      await first.close({ comeBackLater: false });
      const second = await hub(port, identityKeyPem);
      expect(await waitFor(() => second.isConnected(ID), 5000)).toBe(true);

      // More than a window of new records: they are all acked, nothing stalls.
      for (let i = 7; i <= 16; i++) await queue.append(alarm(i));
      tunnel.notify();
      expect(await waitFor(() => queue.stats().records === 0, 5000)).toBe(true);
      expect(second.store.counts(ID).alarms).toBe(10);
      expect(gaps).toEqual([{ fromSeq: 1, toSeq: 6, records: 6, reason: 'hub-state-behind' }]);
      expect(second.store.gaps(ID)).toMatchObject([
        { fromSeq: 1, toSeq: 6, records: 6, reason: 'hub-state-behind' },
      ]);
      expect(second.stats().duplicatesDropped).toBe(0);
    } finally {
      await tunnel.close();
    }
  });
});
