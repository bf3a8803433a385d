/**
 * How a hub node protects itself and its fleet under load: admission control before TLS, the
 * come-back-later frame on a restart, and TLS without session resumption (every connection is a
 * full handshake with the client certificate verified). Real TLS 1.3 on loopback.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { startHub } from '../hub/index.js';
import { type TunnelError } from '../src/index.js';
import { enrolIdentity, rawClient, waitFor } from './helpers.js';
import { hubBed } from './hub-bed.js';

const IDS = ['ADM-A', 'ADM-B', 'ADM-C'];

const bed = hubBed({ deviceIds: IDS, seed: 5 });
const { hubWith, agentFor } = bed;

/** A TLS client with device A's certificate; resolves with how the attempt ended. */
function tlsAttempt(
  port: number,
  session?: Buffer,
): Promise<{ outcome: string; reused: boolean; socket: TLSSocket; session?: Buffer }> {
  const d = bed.pki.devices['ADM-A']!;
  return new Promise((resolve) => {
    let ticket: Buffer | undefined;
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: bed.pki.ca.certPem,
      cert: d.certPem,
      key: d.keyPem,
      servername: 'localhost',
      ...(session ? { session } : {}),
    });
    s.on('session', (b: Buffer) => (ticket = b));
    s.on('secureConnect', () => {
      // A TLS 1.3 server sends its tickets just after the handshake: give them a moment.
      setTimeout(
        () =>
          resolve({
            outcome: 'connected',
            reused: s.isSessionReused(),
            socket: s,
            session: ticket,
          }),
        200,
      );
    });
    s.on('error', (e: Error & { code?: string }) =>
      resolve({ outcome: e.code ?? e.message, reused: false, socket: s }),
    );
  });
}

describe('admission control', () => {
  it('resets connections beyond maxPendingHandshakes before TLS, audits it once, and serves again when the queue drains', async () => {
    const hub = await hubWith({ maxPendingHandshakes: 2 });
    // Two connections that never start TLS hold both pending slots.
    const stalled: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = netConnect({ host: '127.0.0.1', port: hub.port });
      s.on('error', () => undefined);
      stalled.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    expect(await waitFor(() => hub.stats().connectionsShed === 0, 200)).toBe(true);

    const refused = await tlsAttempt(hub.port);
    expect(refused.outcome).toBe('ECONNRESET');
    expect(hub.stats().connectionsShed).toBe(1);
    // Audited as one load-shed summary, not as a refused TLS handshake.
    expect(
      await waitFor(() => hub.store.securityEvents().some((e) => e.kind === 'load-shed'), 3000),
    ).toBe(true);
    expect(hub.stats().tlsErrors).toBe(0);

    for (const s of stalled) s.destroy();
    expect(await waitFor(() => hub.stats().tlsErrors === 2, 2000)).toBe(true); // the stalled two
    const admitted = await tlsAttempt(hub.port);
    expect(admitted.outcome).toBe('connected');
    admitted.socket.destroy();
  });

  it('counts open tunnels as admitted, not pending', async () => {
    const hub = await hubWith({ maxPendingHandshakes: 1 });
    const ids = ['ADM-B', 'ADM-C'];
    const started = ids.map((id) => {
      const keys = enrolIdentity(hub, id);
      return agentFor(id, keys.identity, { url: hub.url, identityKey: keys.identityKey });
    });
    // One at a time, so each waits for its slot; both end up open.
    for (const agent of started) {
      await agent.start();
      expect(await waitFor(() => agent.stats().tunnel === 'open', 5000)).toBe(true);
    }
    expect(ids.every((id) => hub.isConnected(id))).toBe(true);
  });
});

describe('restart', () => {
  it('tells every agent to come back later, and they return to the node that replaces it', async () => {
    const first = await startHub({
      tls: { cert: bed.pki.server.certPem, key: bed.pki.server.keyPem, ca: bed.pki.ca.certPem },
      restartSpreadPerSecond: 4, // two agents: delays spread over 500 ms
    });
    const port = first.port;
    const identityKeyPem = first.identity.toPem();
    const ids = ['ADM-B', 'ADM-C'];
    const keys = ids.map((id) => enrolIdentity(first, id));
    const downs = new Map<string, TunnelError[]>(ids.map((id) => [id, []]));
    for (const [i, id] of ids.entries()) {
      const agent = agentFor(id, keys[i]!.identity, {
        url: first.url,
        identityKey: keys[i]!.identityKey,
      });
      agent.on('tunnel-down', (e) => downs.get(id)!.push(e));
      await agent.start();
      expect(await waitFor(() => agent.stats().tunnel === 'open', 5000)).toBe(true);
    }

    await first.close();
    // Each agent was told to come back later: none saw a bare disconnect. (An agent whose
    // random delay ended before the replacement listens also fails an attempt after that.)
    for (const id of ids) expect(downs.get(id)![0]?.code).toBe('TUNNEL_REDIRECTED');
    expect(
      [...downs.values()].flatMap((d) => d.slice(1)).every((e) => e.code !== 'TUNNEL_REDIRECTED'),
    ).toBe(true);

    const second = await hubWith({ port, identityKeyPem });
    ids.forEach((id, i) => second.registerDevice(id, keys[i]!.publicKey));
    expect(await waitFor(() => ids.every((id) => second.isConnected(id)), 5000)).toBe(true);
  });

  it('cuts every tunnel at once with comeBackLater: false', async () => {
    const hub = await startHub({
      tls: { cert: bed.pki.server.certPem, key: bed.pki.server.keyPem, ca: bed.pki.ca.certPem },
    });
    const keys = enrolIdentity(hub, 'ADM-B');
    const agent = agentFor('ADM-B', keys.identity, { url: hub.url, identityKey: keys.identityKey });
    const downs: TunnelError[] = [];
    agent.on('tunnel-down', (e) => downs.push(e));
    await agent.start();
    expect(await waitFor(() => agent.stats().tunnel === 'open', 5000)).toBe(true);
    await hub.close({ comeBackLater: false });
    expect(await waitFor(() => downs.length > 0, 2000)).toBe(true);
    expect(downs[0]!.code).not.toBe('TUNNEL_REDIRECTED');
  });
});

describe('closing a tunnel', () => {
  it('cuts a tunnel whose agent does not answer the close within closeTimeoutMs', async () => {
    const hub = await hubWith({ closeTimeoutMs: 300 });
    const keys = enrolIdentity(hub, 'ADM-A');
    const client = await rawClient(hub, bed.pki.ca.certPem, bed.pki.devices['ADM-A'], 'ADM-A', {
      identity: keys.identity.secretKey,
    });
    expect(hub.isConnected('ADM-A')).toBe(true);
    const gone: Array<{ deviceId: string; code: number }> = [];
    hub.on('disconnected', (e) => gone.push(e));
    // A dead path: the agent reads nothing more, so it never answers the hub's close frame.
    client.socket!.pause();
    const t0 = Date.now();
    hub.revokeDevice('ADM-A');
    // ws alone would keep the session for 30 s.
    expect(await waitFor(() => gone.length > 0, 3000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(gone[0]!.deviceId).toBe('ADM-A');
    client.ws.terminate();
  });
});

describe('TLS sessions', () => {
  it('issues no resumable session: a client offering its previous session gets a full handshake', async () => {
    const hub = await hubWith();
    const first = await tlsAttempt(hub.port);
    expect(first.outcome).toBe('connected');
    expect(first.reused).toBe(false);
    const offered = first.session ?? first.socket.getSession();
    first.socket.destroy();
    expect(offered).toBeDefined();

    const second = await tlsAttempt(hub.port, offered);
    expect(second.outcome).toBe('connected');
    // Not resumed: the client certificate was verified again, so a revoked or superseded
    // certificate can never ride on an earlier session.
    expect(second.reused).toBe(false);
    expect(second.socket.authorized).toBe(true);
    second.socket.destroy();
  });
});
