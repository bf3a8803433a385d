import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { encodeBody } from '../src/codec/index.js';
import { MemoryQueue } from '../src/index.js';
import { oneSample, tunnelClient, waitFor } from './helpers.js';

// Alarms overtake telemetry. If more alarms wait than the window holds, the window fills with
// frames the hub cannot acknowledge cumulatively (the older telemetry is missing) - unless the
// oldest record is always sent. This runs that case against the real hub.
describe('sliding window with alarms ahead of a telemetry backlog', () => {
  let hub: Hub;
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: ['XR-WINDOW'] });
    hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    });
  });
  afterAll(async () => {
    await hub.close();
  });

  it('delivers 150 alarms queued after 5 telemetry records through a window of 16', async () => {
    const keys = nacl.sign.keyPair();
    hub.registerDevice('XR-WINDOW', keys.publicKey);
    const queue = new MemoryQueue();
    for (let i = 0; i < 5; i++)
      await queue.append({
        lane: 'telemetry',
        type: 'telemetry',
        body: encodeBody(oneSample(i)),
        samples: 1,
      });
    for (let i = 0; i < 150; i++) {
      await queue.append({
        lane: 'alarm',
        type: 'alarm',
        body: encodeBody({ type: 'alarm', alarm: { code: 2002, state: (i % 2) + 1 } }),
      });
    }
    const tunnel = tunnelClient(hub, pki, 'XR-WINDOW', keys.secretKey, { queue, window: 16 });
    tunnel.start();
    try {
      expect(await waitFor(() => queue.stats().records === 0, 15_000)).toBe(true);
      expect(hub.store.counts('XR-WINDOW')).toMatchObject({ samples: 5, alarms: 150 });
      expect(hub.stats().duplicatesDropped).toBe(0);
    } finally {
      await tunnel.close();
    }
  });
});
