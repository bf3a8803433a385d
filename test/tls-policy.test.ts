import { X509Certificate, randomBytes } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import {
  createAgent,
  modbusTcpAdapter,
  spkiPin,
  type Agent,
  type TunnelError,
} from '../src/index.js';
import { catalogue, enrolIdentity, registerMap, waitFor } from './helpers.js';

type Pki = Awaited<ReturnType<typeof createTestPki>>;

function tlsOutcome(
  port: number,
  pki: Pki,
  options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string },
): Promise<string> {
  const d = pki.devices['XR-TLS']!;
  return new Promise((resolve) => {
    const s: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      ca: pki.ca.certPem,
      cert: d.certPem,
      key: d.keyPem,
      servername: 'localhost',
      ...options,
    });
    s.on('secureConnect', () => {
      const out = `${s.getProtocol()} ${s.getCipher().name}`;
      s.destroy();
      resolve(out);
    });
    s.on('error', (e: Error & { code?: string }) => resolve(`error ${e.code ?? e.message}`));
  });
}

describe('TLS policy', () => {
  let pki: Pki;
  let hub: Hub;
  let hub12: Hub;
  let sim: Simulator;
  const agents: Agent[] = [];

  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: ['XR-TLS'] });
    const tls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem };
    [hub, hub12, sim] = await Promise.all([
      startHub({ tls }),
      startHub({ tls, allowTls12: true }),
      startSimulator({ seed: 2, controlPort: false }),
    ]);
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 500 })));
  });
  afterAll(async () => {
    await Promise.all([hub.close(), hub12.close(), sim.close()]);
  });

  function agent(spkiPins?: string[]): Agent {
    const id = enrolIdentity(hub, 'XR-TLS');
    const d = pki.devices['XR-TLS']!;
    const a = createAgent({
      identity: id.identity,
      hub: {
        url: hub.url,
        ca: pki.ca.certPem,
        cert: d.certPem,
        key: d.keyPem,
        servername: 'localhost',
        identityKey: hub.identityPublicKey,
        spkiPins,
      },
      adapter: modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap }),
      errorCatalogue: catalogue,
      pollIntervalMs: 100,
      errorPollIntervalMs: 0,
      telemetry: { sendIntervalMs: 200 },
    });
    agents.push(a);
    return a;
  }

  it('negotiates TLS 1.3 with a 256-bit AEAD suite by default and refuses TLS 1.2', async () => {
    expect(await tlsOutcome(hub.port, pki, {})).toMatch(
      /^TLSv1\.3 TLS_(AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/,
    );
    expect(await tlsOutcome(hub.port, pki, { maxVersion: 'TLSv1.2' })).toMatch(/^error/);
  });

  it('accepts TLS 1.2 only when configured, and then only ECDHE with AES-256-GCM or ChaCha20', async () => {
    expect(await tlsOutcome(hub12.port, pki, { maxVersion: 'TLSv1.2' })).toMatch(
      /^TLSv1\.2 ECDHE-ECDSA-(AES256-GCM-SHA384|CHACHA20-POLY1305)$/,
    );
    expect(
      await tlsOutcome(hub12.port, pki, {
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      }),
    ).toMatch(/^error/);
    expect(
      await tlsOutcome(hub12.port, pki, { maxVersion: 'TLSv1.2', ciphers: 'AES256-SHA256' }),
    ).toMatch(/^error/);
    // A TLS 1.3-capable client still gets 1.3.
    expect(await tlsOutcome(hub12.port, pki, {})).toMatch(/^TLSv1\.3/);
  });

  it('connects when the hub key matches an SPKI pin, and refuses a hub whose key matches none', async () => {
    const hubPin = spkiPin(
      new X509Certificate(pki.server.certPem).publicKey.export({ type: 'spki', format: 'der' }),
    );
    const backup = randomBytes(32).toString('base64');
    const good = agent([backup, hubPin]);
    await good.start();
    expect(await waitFor(() => good.stats().tunnel === 'open')).toBe(true);
    await good.stop({ drainTimeoutMs: 500 });

    const bad = agent([randomBytes(32).toString('base64'), backup]);
    const downs: TunnelError[] = [];
    bad.on('tunnel-down', (e) => downs.push(e));
    await bad.start();
    expect(await waitFor(() => downs.length > 0)).toBe(true);
    expect(downs[0]!.code).toBe('TUNNEL_TLS_REJECTED');
    expect(downs[0]!.message).toMatch(/SPKI pins/);
  });

  it('requires a backup pin', () => {
    expect(() => agent([randomBytes(32).toString('base64')])).toThrow(/at least two pins/);
  });
});
