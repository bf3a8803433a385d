import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import type * as X509 from '@peculiar/x509';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEVICE_ID_PATTERN,
  PkiError,
  createCertificateAuthority,
  createTestPki,
  deviceIdFromCertificate,
  deviceIdFromX509,
  deviceKeyTypeOf,
  issueDeviceCertificate,
  issueDeviceCertificateForKey,
  issueServerCertificate,
  testAgentHubOptions,
} from './pki.js';
import type { CertificateAuthority, KeyPairPem } from './pki.js';

type TestPki = Awaited<ReturnType<typeof createTestPki>>;

const DAY_MS = 24 * 60 * 60 * 1000;

// Loaded after ./pki.js, which installs the Reflect metadata shim @peculiar/x509 needs at import.
let x509: typeof X509;
let pki: TestPki;
/** A second CA nobody trusts, with its own server and device certificates. */
let rogue: TestPki;

beforeAll(async () => {
  x509 = await import('@peculiar/x509');
  [pki, rogue] = await Promise.all([
    createTestPki({ deviceIds: ['device-1', 'scanner.ct_02'], hubName: 'test-hub' }),
    createTestPki({ deviceIds: ['device-1'], hubName: 'rogue-hub' }),
  ]);
});

// ---------------------------------------------------------------------------------------------
// Real TLS plumbing: every server and socket is tracked and torn down after each test.

const servers = new Set<tls.Server>();
const sockets = new Set<tls.TLSSocket>();

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(
    [...servers].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
        }),
    ),
  );
  servers.clear();
});

interface HandshakeResult {
  /** What the client read from the server: "ok\n" only after a completed mutual handshake. */
  clientData: string;
  clientError: (Error & { code?: string }) | undefined;
  /** Set only if the server accepted the connection (secureConnection fired). */
  serverPeer: tls.PeerCertificate | undefined;
  serverAuthorized: boolean | undefined;
  /** Why the server did not authorise the client (only observable when it does not reject). */
  serverAuthorizationError: string | undefined;
  serverError: (Error & { code?: string }) | undefined;
}

/**
 * Starts an mTLS server (TLS 1.3, client certificate required and verified against `serverTrusts`)
 * and connects one client. Resolves once both ends have reached a verdict.
 */
async function handshake(opts: {
  server: KeyPairPem;
  /** CA(s) the server trusts for client certificates. */
  serverTrusts: string;
  client: KeyPairPem | undefined;
  /** CA(s) the client trusts for the server certificate. */
  clientTrusts: string;
  /**
   * Default true, as the hub runs. false lets a refused client complete the handshake so the
   * test can read the server's verification verdict (socket.authorizationError).
   */
  serverRejectUnauthorized?: boolean;
}): Promise<HandshakeResult> {
  const result: HandshakeResult = {
    clientData: '',
    clientError: undefined,
    serverPeer: undefined,
    serverAuthorized: undefined,
    serverAuthorizationError: undefined,
    serverError: undefined,
  };

  let serverVerdict!: () => void;
  const serverDone = new Promise<void>((resolve) => (serverVerdict = resolve));

  const server = tls.createServer({
    cert: opts.server.certPem,
    key: opts.server.keyPem,
    ca: [opts.serverTrusts],
    requestCert: true,
    rejectUnauthorized: opts.serverRejectUnauthorized ?? true,
    minVersion: 'TLSv1.3',
  });
  servers.add(server);
  server.on('connection', (raw) => {
    raw.on('error', () => undefined); // reported via tlsClientError
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    result.serverPeer = socket.getPeerCertificate();
    result.serverAuthorized = socket.authorized;
    // Typed as Error by @types/node; at runtime it is an OpenSSL code string such as 'CERT_HAS_EXPIRED'.
    const why: unknown = socket.authorizationError;
    result.serverAuthorizationError = why == null ? undefined : String(why);
    socket.end('ok\n');
    serverVerdict();
  });
  server.on('tlsClientError', (err: Error & { code?: string }) => {
    result.serverError = err;
    serverVerdict();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const clientDone = new Promise<void>((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: [opts.clientTrusts],
      ...(opts.client ? { cert: opts.client.certPem, key: opts.client.keyPem } : {}),
      minVersion: 'TLSv1.3',
    });
    sockets.add(socket);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (result.clientData += chunk));
    socket.on('error', (err: Error & { code?: string }) => {
      result.clientError ??= err;
    });
    socket.on('close', () => resolve());
  });

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('handshake reached no verdict within 3 s')), 3000);
  });
  try {
    await Promise.race([Promise.all([clientDone, serverDone]), deadline]);
  } finally {
    clearTimeout(timer);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------

describe('mutual TLS with the generated PKI', () => {
  it('completes a TLS 1.3 handshake and the server learns the device id from the certificate', async () => {
    const device = pki.devices['scanner.ct_02'];
    expect(device).toBeDefined();
    const r = await handshake({
      server: pki.server,
      serverTrusts: pki.ca.certPem,
      client: device,
      clientTrusts: pki.ca.certPem,
    });

    expect(r.clientError).toBeUndefined();
    expect(r.serverError).toBeUndefined();
    expect(r.clientData).toBe('ok\n');
    expect(r.serverAuthorized).toBe(true);
    expect(r.serverAuthorizationError).toBeUndefined();
    expect(deviceIdFromCertificate(r.serverPeer)).toBe('scanner.ct_02');
  });

  /** Asserts the strict (production) server refuses `client`, then reads the reason from a lenient one. */
  async function expectRefusedByServer(
    client: KeyPairPem | undefined,
  ): Promise<string | undefined> {
    const strict = await handshake({
      server: pki.server,
      serverTrusts: pki.ca.certPem,
      client,
      clientTrusts: pki.ca.certPem,
    });
    expect(strict.serverPeer).toBeUndefined();
    expect(strict.serverAuthorized).toBeUndefined();
    expect(strict.clientData).toBe('');
    expect(strict.serverError).toBeDefined();

    const lenient = await handshake({
      server: pki.server,
      serverTrusts: pki.ca.certPem,
      client,
      clientTrusts: pki.ca.certPem,
      serverRejectUnauthorized: false,
    });
    expect(lenient.serverAuthorized).toBe(false);
    return lenient.serverAuthorizationError;
  }

  it('refuses a device certificate issued by an unrelated CA, even with the same device id', async () => {
    const reason = await expectRefusedByServer(rogue.devices['device-1']);
    expect(reason).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('refuses an expired device certificate', async () => {
    const expired = await issueDeviceCertificate(pki.ca, {
      deviceId: 'device-1',
      notBefore: new Date(Date.now() - 10 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    });
    expect(new Date(new X509Certificate(expired.certPem).validTo).getTime()).toBeLessThan(
      Date.now(),
    );

    const reason = await expectRefusedByServer(expired);
    expect(reason).toBe('CERT_HAS_EXPIRED');
  });

  it('refuses a server certificate used as a client certificate (EKU serverAuth only)', async () => {
    const reason = await expectRefusedByServer(pki.server);
    expect(reason).toBe('INVALID_PURPOSE');
  });

  it('refuses a client that presents no certificate', async () => {
    const r = await handshake({
      server: pki.server,
      serverTrusts: pki.ca.certPem,
      client: undefined,
      clientTrusts: pki.ca.certPem,
    });

    expect(r.serverPeer).toBeUndefined();
    expect(r.clientData).toBe('');
    expect(r.serverError?.code).toBe('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  });

  it('the client refuses a server certificate from an unrelated CA', async () => {
    const r = await handshake({
      server: rogue.server,
      serverTrusts: pki.ca.certPem,
      client: pki.devices['device-1'],
      clientTrusts: pki.ca.certPem,
    });

    expect(r.clientError?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(r.clientData).toBe('');
    expect(r.serverPeer).toBeUndefined();
  });

  it('the client refuses a server certificate whose SAN does not match the name', async () => {
    const other = await issueServerCertificate(pki.ca, {
      commonName: 'localhost',
      dnsNames: ['hub.example'],
    });
    const r = await handshake({
      server: other,
      serverTrusts: pki.ca.certPem,
      client: pki.devices['device-1'],
      clientTrusts: pki.ca.certPem,
    });

    expect(r.clientError?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(r.serverPeer).toBeUndefined();
  });
});

describe('certificate contents', () => {
  function parse(pem: string): { node: X509Certificate; peculiar: X509.X509Certificate } {
    return { node: new X509Certificate(pem), peculiar: new x509.X509Certificate(pem) };
  }

  it('the CA is a self-signed P-256 CA with critical BasicConstraints and KeyUsage', () => {
    const { node, peculiar } = parse(pki.ca.certPem);
    expect(node.ca).toBe(true);
    expect(node.subject).toBe('CN=test-hub test CA');
    expect(node.checkIssued(node)).toBe(true);
    expect(node.verify(node.publicKey)).toBe(true);
    expect(node.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(peculiar.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });

    const bc = peculiar.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.critical).toBe(true);
    const ku = peculiar.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(peculiar.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(
      /^[0-9a-f]{40}$/,
    );

    const lifetimeDays = (peculiar.notAfter.getTime() - peculiar.notBefore.getTime()) / DAY_MS;
    expect(lifetimeDays).toBeCloseTo(3650, 0);
  });

  it('the server certificate chains to the CA and carries the localhost SANs and serverAuth', () => {
    const ca = parse(pki.ca.certPem);
    const { node, peculiar } = parse(pki.server.certPem);
    expect(node.checkIssued(ca.node)).toBe(true);
    expect(node.verify(ca.node.publicKey)).toBe(true);
    expect(node.ca).toBe(false);
    expect(node.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(node.checkHost('localhost')).toBe('localhost');
    expect(node.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(node.checkIP('::1')).toBe('::1');
    expect(node.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // node names the EKU list "keyUsage"

    expect(peculiar.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(peculiar.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature,
    );
    expect(peculiar.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      ca.peculiar.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
  });

  it('device certificates carry CN and URN SAN, clientAuth, and chain to the CA', () => {
    const ca = parse(pki.ca.certPem);
    for (const [deviceId, pair] of Object.entries(pki.devices)) {
      const { node, peculiar } = parse(pair.certPem);
      expect(node.subject).toBe(`CN=${deviceId}`);
      expect(node.issuer).toBe(ca.node.subject);
      expect(node.subjectAltName).toBe(`URI:urn:outpost:device:${deviceId}`);
      expect(node.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(node.ca).toBe(false);
      expect(node.checkIssued(ca.node)).toBe(true);
      expect(node.verify(ca.node.publicKey)).toBe(true);
      expect(node.verify(new X509Certificate(rogue.ca.certPem).publicKey)).toBe(false);
      expect(peculiar.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
        x509.KeyUsageFlags.digitalSignature,
      );
      const lifetimeDays = (peculiar.notAfter.getTime() - peculiar.notBefore.getTime()) / DAY_MS;
      expect(lifetimeDays).toBeCloseTo(30, 0);
      // notBefore is backdated for clock skew
      expect(peculiar.notBefore.getTime()).toBeLessThan(Date.now() - 4 * 60 * 1000);
    }
    expect(Object.keys(pki.devices).sort()).toEqual(['device-1', 'scanner.ct_02']);
  });

  it('private keys are PKCS#8 PEM and match their certificates', () => {
    for (const pair of [pki.ca, pki.server, ...Object.values(pki.devices)]) {
      expect(pair.keyPem).toMatch(/^-----BEGIN PRIVATE[ ]KEY-----\n/); // [ ]: keeps key-scanners quiet
      const key = createPrivateKey(pair.keyPem);
      expect(key.asymmetricKeyType).toBe('ec');
      expect(new X509Certificate(pair.certPem).checkPrivateKey(key)).toBe(true);
    }
    expect(
      new X509Certificate(pki.server.certPem).checkPrivateKey(createPrivateKey(pki.ca.keyPem)),
    ).toBe(false);
  });

  it('serial numbers are random, positive and 16 bytes', () => {
    const serials = [pki.ca, pki.server, ...Object.values(pki.devices), rogue.ca, rogue.server].map(
      (p) => new X509Certificate(p.certPem).serialNumber,
    );
    for (const serial of serials) expect(serial).toMatch(/^[1-7][0-9A-F]{31}$/);
    expect(new Set(serials).size).toBe(serials.length);
  });

  it('honours explicit validity and validDays', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const dev = await issueDeviceCertificate(pki.ca, { deviceId: 'd', notBefore, validDays: 2 });
    const cert = new x509.X509Certificate(dev.certPem);
    expect(cert.notBefore.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(cert.notAfter.toISOString()).toBe('2030-01-03T00:00:00.000Z');
  });

  it('does not expose the CA private CryptoKey as an own enumerable property', () => {
    expect(Object.keys(pki.ca).sort()).toEqual(['certPem', 'keyPem', 'name']);
    expect(pki.ca.name).toBe('test-hub test CA');
  });

  it('a CA restored from PEM (e.g. loaded from disk) can issue certificates', async () => {
    const restored: CertificateAuthority = {
      name: pki.ca.name,
      certPem: pki.ca.certPem,
      keyPem: pki.ca.keyPem,
    };
    const dev = await issueDeviceCertificate(restored, { deviceId: 'restored-1' });
    expect(
      new X509Certificate(dev.certPem).verify(new X509Certificate(pki.ca.certPem).publicKey),
    ).toBe(true);
  });
});

describe('validation', () => {
  async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
    try {
      await p;
    } catch (err) {
      expect(err).toBeInstanceOf(PkiError);
      return (err as PkiError).code;
    }
    return undefined;
  }

  it.each([
    '',
    '-lead',
    '.lead',
    'has space',
    'a/b',
    'ü',
    'a,CN=evil',
    'x'.repeat(65),
    'line\nbreak',
    'trail\n',
  ])('rejects device id %j with PKI_INVALID_DEVICE_ID', async (deviceId) => {
    expect(DEVICE_ID_PATTERN.test(deviceId)).toBe(false);
    expect(await codeOf(issueDeviceCertificate(pki.ca, { deviceId }))).toBe(
      'PKI_INVALID_DEVICE_ID',
    );
    expect(await codeOf(createTestPki({ deviceIds: [deviceId] }))).toBe('PKI_INVALID_DEVICE_ID');
  });

  it.each(['a', 'A9', 'device-1', 'scanner.ct_02', 'x'.repeat(64)])(
    'accepts device id %j',
    (deviceId) => {
      expect(DEVICE_ID_PATTERN.test(deviceId)).toBe(true);
    },
  );

  it('rejects bad server names, IPs and validity with stable codes', async () => {
    expect(
      await codeOf(issueServerCertificate(pki.ca, { commonName: 'h', ipAddresses: ['999.1.1.1'] })),
    ).toBe('PKI_INVALID_IP');
    expect(
      await codeOf(issueServerCertificate(pki.ca, { commonName: 'h', dnsNames: ['bad name'] })),
    ).toBe('PKI_INVALID_DNS_NAME');
    expect(await codeOf(issueServerCertificate(pki.ca, { commonName: 'h' }))).toBe(
      'PKI_INVALID_DNS_NAME',
    );
    expect(
      await codeOf(
        issueDeviceCertificate(pki.ca, {
          deviceId: 'd',
          notBefore: new Date(2),
          notAfter: new Date(1),
        }),
      ),
    ).toBe('PKI_INVALID_VALIDITY');
    expect(await codeOf(issueDeviceCertificate(pki.ca, { deviceId: 'd', validDays: 0 }))).toBe(
      'PKI_INVALID_VALIDITY',
    );
    expect(await codeOf(createCertificateAuthority({ commonName: '' }))).toBe('PKI_INVALID_NAME');
  });

  it('rejects a CA whose key does not belong to its certificate', async () => {
    const mismatched: CertificateAuthority = {
      name: 'x',
      certPem: pki.ca.certPem,
      keyPem: rogue.ca.keyPem,
    };
    expect(await codeOf(issueDeviceCertificate(mismatched, { deviceId: 'd' }))).toBe(
      'PKI_CA_KEY_MISMATCH',
    );
    const notACa: CertificateAuthority = { name: 'x', ...pki.server };
    expect(await codeOf(issueDeviceCertificate(notACa, { deviceId: 'd' }))).toBe('PKI_INVALID_CA');
  });
});

describe('deviceIdFromCertificate', () => {
  it('returns the CN only when it is a single valid device id', () => {
    expect(deviceIdFromCertificate({ subject: { CN: 'device-1' } })).toBe('device-1');
    expect(deviceIdFromCertificate(undefined)).toBeUndefined();
    expect(deviceIdFromCertificate({})).toBeUndefined(); // what getPeerCertificate() returns without a cert
    expect(deviceIdFromCertificate({ subject: {} })).toBeUndefined();
    expect(deviceIdFromCertificate({ subject: { CN: ['a', 'b'] } })).toBeUndefined();
    expect(deviceIdFromCertificate({ subject: { CN: '../etc/passwd' } })).toBeUndefined();
    expect(deviceIdFromCertificate({ subject: { CN: 'device-1\n' } })).toBeUndefined();
  });
});

describe('deviceIdFromX509', () => {
  async function withSubject(name: string): Promise<X509Certificate> {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name,
      keys,
      signingAlgorithm: alg,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + DAY_MS),
    });
    return new X509Certificate(cert.toString('pem'));
  }

  it('agrees with deviceIdFromCertificate on the issued certificates', () => {
    const cert = new X509Certificate(pki.devices['scanner.ct_02']!.certPem);
    expect(deviceIdFromX509(cert)).toBe('scanner.ct_02');
  });

  it('returns the CN only when it is a single valid device id', async () => {
    expect(deviceIdFromX509(undefined)).toBeUndefined();
    expect(deviceIdFromX509(await withSubject('O=Outpost, CN=device-1'))).toBe('device-1');
    expect(deviceIdFromX509(await withSubject('O=Outpost'))).toBeUndefined();
    expect(deviceIdFromX509(await withSubject('CN=a, CN=b'))).toBeUndefined();
    expect(deviceIdFromX509(await withSubject('CN=a+O=b'))).toBeUndefined();
    expect(deviceIdFromX509(await withSubject('CN=../etc/passwd'))).toBeUndefined();
    expect(deviceIdFromX509(await withSubject('CN=device\\, 1'))).toBeUndefined();
  });
});

describe('testAgentHubOptions', () => {
  const pki = {
    ca: { certPem: 'CA PEM' },
    devices: { 'DEV-1': { certPem: 'DEV CERT', keyPem: 'DEV KEY' } },
  };
  const hub = { url: 'wss://localhost:1/v1/tunnel', identityPublicKey: new Uint8Array(32).fill(7) };

  it("is the agent's hub options for a device of the test PKI", () => {
    expect(testAgentHubOptions(pki, 'DEV-1', hub)).toEqual({
      url: hub.url,
      ca: 'CA PEM',
      cert: 'DEV CERT',
      key: 'DEV KEY',
      servername: 'localhost',
      identityKey: hub.identityPublicKey,
    });
  });

  it('refuses a device the PKI has no certificate for', () => {
    expect(() => testAgentHubOptions(pki, 'DEV-2', hub)).toThrow(
      expect.objectContaining({ code: 'PKI_UNKNOWN_DEVICE' }),
    );
  });
});

describe('device TLS key types and a separate device CA', () => {
  let split: TestPki;
  beforeAll(async () => {
    split = await createTestPki({
      deviceIds: ['device-1'],
      hubName: 'split-hub',
      separateDeviceCa: true,
      deviceKeyType: 'ed25519',
    });
  });

  it('issues certificates for Ed25519 and P-256 device keys, and refuses other key types', async () => {
    const ed = generateKeyPairSync('ed25519').publicKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    for (const [key, type] of [
      [ed, 'ed25519'],
      [ec, 'ec'],
    ] as const) {
      const spkiDer = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
      const certPem = await issueDeviceCertificateForKey(pki.ca, { deviceId: 'device-9', spkiDer });
      const cert = new X509Certificate(certPem);
      expect(cert.publicKey.asymmetricKeyType).toBe(type);
      expect(cert.checkIssued(new X509Certificate(pki.ca.certPem))).toBe(true);
      expect(cert.verify(new X509Certificate(pki.ca.certPem).publicKey)).toBe(true);
      expect(deviceKeyTypeOf(spkiDer)).toBe(type === 'ec' ? 'p256' : 'ed25519');
    }
    for (const key of [
      generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey,
      generateKeyPairSync('x25519').publicKey,
    ]) {
      const spkiDer = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
      await expect(
        issueDeviceCertificateForKey(pki.ca, { deviceId: 'device-9', spkiDer }),
      ).rejects.toMatchObject({ code: 'PKI_INVALID_PUBLIC_KEY' });
      expect(() => deviceKeyTypeOf(spkiDer)).toThrow(
        expect.objectContaining({ code: 'PKI_INVALID_PUBLIC_KEY' }),
      );
    }
  });

  it('separateDeviceCa: the server certificate and the device certificates come from two CAs', () => {
    expect(split.deviceCa.certPem).not.toBe(split.ca.certPem);
    expect(pki.deviceCa).toBe(pki.ca);
    const device = new X509Certificate(split.devices['device-1']!.certPem);
    expect(device.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(device.checkIssued(new X509Certificate(split.deviceCa.certPem))).toBe(true);
    expect(device.checkIssued(new X509Certificate(split.ca.certPem))).toBe(false);
    expect(
      new X509Certificate(split.server.certPem).checkIssued(new X509Certificate(split.ca.certPem)),
    ).toBe(true);
  });

  it('a server trusting the device CA accepts an Ed25519 device certificate and refuses a certificate of the server CA', async () => {
    const ok = await handshake({
      server: split.server,
      serverTrusts: split.deviceCa.certPem,
      client: split.devices['device-1'],
      clientTrusts: split.ca.certPem,
    });
    expect(ok.clientData).toBe('ok\n');
    expect(ok.serverAuthorized).toBe(true);
    expect(deviceIdFromCertificate(ok.serverPeer)).toBe('device-1');
    // A client certificate from the CA agents pin for the hub is not a device certificate.
    const fromServerCa = await issueDeviceCertificate(split.ca, { deviceId: 'device-1' });
    const refused = await handshake({
      server: split.server,
      serverTrusts: split.deviceCa.certPem,
      client: fromServerCa,
      clientTrusts: split.ca.certPem,
      serverRejectUnauthorized: false,
    });
    expect(refused.serverAuthorized).toBe(false);
  });

  /** Bytes the client sends in a full mutual handshake, counted by a TCP relay in between. */
  async function clientHandshakeBytes(p: TestPki): Promise<number> {
    let sent = 0;
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const server = tls.createServer({
      cert: p.server.certPem,
      key: p.server.keyPem,
      ca: [p.deviceCa.certPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    });
    servers.add(server);
    server.on('secureConnection', (s: tls.TLSSocket) => {
      sockets.add(s);
      s.end('ok\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const piped: net.Socket[] = [];
    const relay = net.createServer((inbound) => {
      const outbound = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      piped.push(inbound, outbound);
      inbound.on('data', (b: Buffer) => (sent += b.length));
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => undefined);
      outbound.on('error', () => undefined);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const device = Object.values(p.devices)[0]!;
    const socket = tls.connect({
      host: '127.0.0.1',
      port: (relay.address() as AddressInfo).port,
      servername: 'localhost',
      ca: [p.ca.certPem],
      cert: device.certPem,
      key: device.keyPem,
      minVersion: 'TLSv1.3',
    });
    sockets.add(socket);
    socket.on('error', () => undefined);
    // The server writes only once it has verified the client's certificate and Finished.
    socket.once('data', () => release());
    await done;
    for (const s of piped) s.destroy();
    await new Promise<void>((r) => relay.close(() => r()));
    return sent;
  }

  it('with one CA the client sends the CA certificate in every handshake; with a separate device CA it sends only its own', async () => {
    const caDer = new X509Certificate(pki.ca.certPem).raw.length;
    const one = await clientHandshakeBytes(pki);
    const two = await clientHandshakeBytes(split);
    // The device certificates differ by a few bytes (key type, names); the CA certificate is
    // hundreds of bytes.
    expect(one - two).toBeGreaterThan(caDer - 100);
  });
});
