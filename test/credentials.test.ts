import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, CredentialAuthority, startHub, type Hub } from '../hub/index.js';
import {
  createAgent,
  credentialsFromKeystore,
  enrolDevice,
  EnrolmentError,
  FileKeystore,
  jsonLogger,
  modbusTcpAdapter,
  saveEnrolment,
  StaticKeyProvider,
  type Agent,
  type TlsKeyType,
} from '../src/index.js';
import { catalogue, registerMap, waitFor } from './helpers.js';

type Pki = Awaited<ReturnType<typeof createTestPki>>;

describe('enrolment, rotation and secrets', () => {
  let pki: Pki;
  let hub: Hub;
  let authority: CredentialAuthority;
  let sim: Simulator;
  let dir: string;
  const agents: Agent[] = [];
  const logLines: string[] = [];
  const sealingKey = StaticKeyProvider.generate();

  beforeAll(async () => {
    pki = await createTestPki({ deviceIds: [], hubName: 'cred-hub' });
    hub = await startHub({
      tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    });
    authority = new CredentialAuthority(hub, {
      ca: pki.ca,
      certLifetimeMs: 6000,
      overlapMs: 800,
      backdateMs: 0,
    });
    sim = await startSimulator({ seed: 11, controlPort: false });
    dir = mkdtempSync(join(tmpdir(), 'outpost-cred-'));
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 3000 })));
  });
  afterAll(async () => {
    await hub.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function enrol(deviceId: string, tlsKeyType?: TlsKeyType): Promise<FileKeystore> {
    const token = authority.createEnrolmentToken(deviceId);
    const creds = await enrolDevice({
      hubUrl: hub.url,
      ca: pki.ca.certPem,
      servername: 'localhost',
      deviceId,
      token,
      ...(tlsKeyType ? { tlsKeyType } : {}),
    });
    return saveEnrolment(join(dir, `${deviceId}.keystore`), sealingKey, creds);
  }

  function agentFrom(
    keystore: FileKeystore,
    extra: Partial<Parameters<typeof createAgent>[0]> = {},
  ): Agent {
    const c = credentialsFromKeystore(keystore);
    const agent = createAgent({
      identity: c.identity,
      hub: { ...c.hub, url: hub.url, servername: 'localhost' },
      rotation: c.rotation,
      adapter: modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap }),
      errorCatalogue: catalogue,
      pollIntervalMs: 50,
      errorPollIntervalMs: 0,
      telemetry: { sendIntervalMs: 100 },
      logger: jsonLogger({ level: 'debug', write: (l) => logLines.push(l) }),
      ...extra,
    });
    agents.push(agent);
    return agent;
  }

  it('enrols a device with a one-time token: keys made on the device, certificate issued, tunnel opens', async () => {
    const keystore = await enrol('XR-ENROL-1');
    const contents = keystore.read();
    expect(contents.identity?.secretKey.length).toBe(64);
    expect(new X509Certificate(contents.tls!.certPem).subject).toMatch(/CN=XR-ENROL-1/);
    expect(Buffer.from(contents.hubIdentityKey!)).toEqual(Buffer.from(hub.identityPublicKey));
    const agent = agentFrom(keystore);
    await agent.start();
    expect(await waitFor(() => hub.store.counts('XR-ENROL-1').samples >= 3)).toBe(true);
    expect(
      hub.store
        .securityEvents()
        .some((e) => e.kind === 'device-enrolled' && e.deviceId === 'XR-ENROL-1'),
    ).toBe(true);
  });

  it('enrols with an Ed25519 TLS key by default and still accepts ECDSA P-256 keys, at enrolment and at renewal', async () => {
    const keyType = (ks: FileKeystore): string | undefined =>
      new X509Certificate(ks.read().tls!.certPem).publicKey.asymmetricKeyType;
    const ed = await enrol('XR-KEY-ED');
    expect(keyType(ed)).toBe('ed25519');
    const ec = await enrol('XR-KEY-EC', 'p256');
    expect(keyType(ec)).toBe('ec');
    // Both tunnels open; the P-256 device renews with another P-256 key, and the new
    // certificate works for the next connection.
    const agentEd = agentFrom(ed);
    const agentEc = agentFrom(ec, {
      rotation: { ...credentialsFromKeystore(ec).rotation, tlsKeyType: 'p256' },
    });
    const renewed: number[] = [];
    agentEc.on('credential-renewed', (c) => renewed.push(c.notAfterMs));
    await Promise.all([agentEd.start(), agentEc.start()]);
    expect(await waitFor(() => hub.isConnected('XR-KEY-ED') && hub.isConnected('XR-KEY-EC'))).toBe(
      true,
    );
    expect(authority.forceRotation('XR-KEY-EC')).toBe(true);
    expect(await waitFor(() => renewed.length === 1, 3000)).toBe(true);
    const sealed = (await FileKeystore.open(ec.path, sealingKey)).read();
    expect(sealed.tls!.certPem).not.toBe(sealed.previousTls!.certPem);
    expect(new X509Certificate(sealed.tls!.certPem).publicKey.asymmetricKeyType).toBe('ec');
    hub.redirect('XR-KEY-EC', '', 0, 'test reconnect');
    expect(
      await waitFor(
        () => agentEc.stats().tunnelConnects === 2 && hub.isConnected('XR-KEY-EC'),
        5000,
      ),
    ).toBe(true);
  });

  it('refuses a used token, an expired token and a token for another device', async () => {
    const token = authority.createEnrolmentToken('XR-ENROL-2');
    const base = { hubUrl: hub.url, ca: pki.ca.certPem, servername: 'localhost' };
    await enrolDevice({ ...base, deviceId: 'XR-ENROL-2', token });
    const reused = await enrolDevice({ ...base, deviceId: 'XR-ENROL-2', token }).catch(
      (e: unknown) => e,
    );
    expect(reused).toBeInstanceOf(EnrolmentError);
    expect((reused as EnrolmentError).code).toBe('ENROL_TOKEN_REFUSED');
    expect((reused as EnrolmentError).hubCode).toBe('OUTPOST_ENROL_TOKEN_USED');

    const short = authority.createEnrolmentToken('XR-ENROL-3', 1);
    await new Promise((r) => setTimeout(r, 20));
    const expired = await enrolDevice({ ...base, deviceId: 'XR-ENROL-3', token: short }).catch(
      (e: unknown) => e,
    );
    expect((expired as EnrolmentError).hubCode).toBe('OUTPOST_ENROL_TOKEN_EXPIRED');

    const other = authority.createEnrolmentToken('XR-ENROL-4');
    const wrong = await enrolDevice({ ...base, deviceId: 'XR-ENROL-5', token: other }).catch(
      (e: unknown) => e,
    );
    expect((wrong as EnrolmentError).code).toBe('ENROL_TOKEN_REFUSED');
    // The refused attempt did not burn the token: the right device can still use it.
    await expect(
      enrolDevice({ ...base, deviceId: 'XR-ENROL-4', token: other }),
    ).resolves.toMatchObject({ deviceId: 'XR-ENROL-4' });
    expect(
      hub.store.securityEvents().filter((e) => e.kind === 'enrolment-refused').length,
    ).toBeGreaterThanOrEqual(3);
  });

  it('refuses an enrolment request whose proofs do not match its keys', async () => {
    const token = authority.createEnrolmentToken('XR-ENROL-6');
    const body = JSON.stringify({
      deviceId: 'XR-ENROL-6',
      token,
      identityPublicKey: Buffer.alloc(32, 1).toString('base64'),
      tlsPublicKey: Buffer.alloc(91, 2).toString('base64'),
      identityProof: Buffer.alloc(64, 3).toString('base64'),
      tlsProof: Buffer.alloc(70, 4).toString('base64'),
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `https://127.0.0.1:${hub.port}/v1/enrol`,
        {
          method: 'POST',
          ca: pki.ca.certPem,
          servername: 'localhost',
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(400);
    // The token was not consumed by the forged request.
    await expect(
      enrolDevice({
        hubUrl: hub.url,
        ca: pki.ca.certPem,
        servername: 'localhost',
        deviceId: 'XR-ENROL-6',
        token,
      }),
    ).resolves.toBeTruthy();
  });

  it('rotates the certificate under continuous traffic without dropping the tunnel or losing a message', async () => {
    const keystore = await enrol('XR-ROTATE-1');
    const firstCert = keystore.read().tls!.certPem;
    const agent = agentFrom(keystore);
    const renewed: number[] = [];
    agent.on('credential-renewed', (c) => renewed.push(c.notAfterMs));
    let disconnects = 0;
    hub.on('disconnected', (e) => {
      if (e.deviceId === 'XR-ROTATE-1') disconnects++;
    });
    await agent.start();
    // 6 s certificates renew at 3-3.6 s.
    expect(await waitFor(() => renewed.length >= 1, 8000)).toBe(true);
    const mid = hub.store.counts('XR-ROTATE-1').samples;
    expect(await waitFor(() => hub.store.counts('XR-ROTATE-1').samples > mid + 5)).toBe(true);
    await agent.stop({ drainTimeoutMs: 5000 });
    const stats = agent.stats();
    expect(stats.tunnelConnects).toBe(1);
    // The only disconnect is the stop's (the hub may see that close a moment later).
    expect(await waitFor(() => disconnects === 1, 2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(disconnects).toBe(1);
    expect(hub.store.counts('XR-ROTATE-1').samples).toBe(stats.samplesAccepted);
    // Make before break: the new certificate was sealed before use, the old kept for the overlap.
    const sealed = (await FileKeystore.open(keystore.path, sealingKey)).read();
    expect(sealed.tls!.certPem).not.toBe(firstCert);
    expect(sealed.previousTls!.certPem).toBe(firstCert);
    expect(sealed.tls!.notAfterMs).toBe(renewed.at(-1));
  });

  it('renews at once when the hub forces a rotation, reconnects with the new certificate, and refuses the old one after the overlap', async () => {
    const keystore = await enrol('XR-ROTATE-2');
    const oldTls = keystore.read().tls!;
    const agent = agentFrom(keystore, {
      rotation: { ...credentialsFromKeystore(keystore).rotation, renewAt: 0.99, jitter: 0 },
    });
    const renewed: number[] = [];
    agent.on('credential-renewed', (c) => renewed.push(c.notAfterMs));
    await agent.start();
    await waitFor(() => hub.isConnected('XR-ROTATE-2'));
    const t0 = Date.now();
    expect(authority.forceRotation('XR-ROTATE-2')).toBe(true);
    expect(await waitFor(() => renewed.length === 1, 3000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);

    // A new connection uses the new certificate.
    hub.redirect('XR-ROTATE-2', '', 0, 'test reconnect');
    expect(
      await waitFor(
        () => agent.stats().tunnelConnects === 2 && hub.isConnected('XR-ROTATE-2'),
        5000,
      ),
    ).toBe(true);
    // After the overlap window the superseded certificate is refused at the upgrade.
    await new Promise((r) => setTimeout(r, 900));
    const status = await new Promise<number | string>((resolve) => {
      const ws = new WebSocket(hub.url, {
        ca: pki.ca.certPem,
        cert: oldTls.certPem,
        key: oldTls.keyPem,
        servername: 'localhost',
      } as WebSocket.ClientOptions);
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('error', (e) => resolve(e.message));
    });
    expect(status).toBe(401);
    expect(hub.store.securityEvents().at(-1)!.detail).toMatch(/superseded by a rotation/);
  });

  it("never writes key material, tokens or certificates' keys to the logs", async () => {
    // Everything above ran with debug logging into logLines; run one more enrolment here so the
    // token itself is known to the test.
    const token = authority.createEnrolmentToken('XR-LEAK-1');
    const creds = await enrolDevice({
      hubUrl: hub.url,
      ca: pki.ca.certPem,
      servername: 'localhost',
      deviceId: 'XR-LEAK-1',
      token,
    });
    const keystore = await saveEnrolment(join(dir, 'leak.keystore'), sealingKey, creds);
    const agent = agentFrom(keystore);
    await agent.start();
    await waitFor(() => hub.store.counts('XR-LEAK-1').samples >= 2);
    authority.forceRotation('XR-LEAK-1');
    await waitFor(
      () => agent.stats().tunnelConnects >= 1 && keystore.read().previousTls !== undefined,
      3000,
    );
    await agent.stop({ drainTimeoutMs: 2000 });

    const haystack = [...logLines, ...hub.store.securityEvents().map((e) => e.detail)].join('\n');
    expect(logLines.length).toBeGreaterThan(5);
    const secrets: Array<[string, Uint8Array | string]> = [
      ['identity secret key', creds.identity.secretKey.slice(0, 32)],
      ['TLS private key', creds.tls.keyPem],
      ['rotated TLS private key', keystore.read().tls!.keyPem],
      ['enrolment token', token],
      ['sealing key', await sealingKey.getSealingKey()],
    ];
    for (const [what, secret] of secrets) {
      for (const needle of encodings(secret)) {
        expect(haystack.includes(needle), `${what} appears in the logs`).toBe(false);
      }
    }
  });
});

/** The forms a secret could take in a log line. */
function encodings(secret: Uint8Array | string): string[] {
  if (typeof secret === 'string') {
    // A PEM: its base64 body lines; a token: itself.
    const lines = secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    return lines.length > 0 ? lines : [secret];
  }
  const b = Buffer.from(secret);
  return [
    b.toString('hex'),
    b.toString('base64').slice(0, 24),
    b.toString('base64url').slice(0, 24),
    Array.from(b.subarray(0, 12)).join(','),
  ];
}
