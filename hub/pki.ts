/**
 * Minimal in-memory PKI for the hub and for tests/demo.
 *
 * - The hub acts as its own device CA (later: issues client certificates at enrolment).
 * - The demo and the tests generate a throwaway PKI at start ({@link createTestPki}).
 *
 * Everything is generated in memory and returned as PEM strings; nothing is written to disk
 * here and no key material is ever committed to the repository.
 *
 * Keys: ECDSA P-256 for the CAs and the hub; device TLS keys Ed25519 or ECDSA P-256 (see
 * {@link DeviceKeyType}). Certificates are signed with ECDSA and SHA-256. Private keys are
 * PKCS#8 PEM (PEM label "PRIVATE KEY").
 */
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata API loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { isIP } from 'node:net';
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';

type WebCryptoKey = webcrypto.CryptoKey;
type WebCryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto);

/** A certificate and its private key, both PEM encoded. */
export interface KeyPairPem {
  /** X.509 certificate, PEM ("-----BEGIN CERTIFICATE-----"). */
  certPem: string;
  /** Private key, PKCS#8 PEM (label "PRIVATE KEY"). */
  keyPem: string;
}

/**
 * A certificate authority able to issue server and device certificates.
 *
 * Objects returned by {@link createCertificateAuthority} carry cached CryptoKey handles in a
 * module-private WeakMap (never enumerable, never serialised). A plain object with the same
 * three fields (e.g. a CA loaded from disk) is accepted too: its key is imported from
 * `keyPem` and checked against `certPem` on first use.
 */
export interface CertificateAuthority extends KeyPairPem {
  /** The CA's subject common name. */
  name: string;
}

/** Stable error codes thrown by this module. */
export type PkiErrorCode =
  | 'PKI_INVALID_DEVICE_ID'
  | 'PKI_INVALID_NAME'
  | 'PKI_INVALID_IP'
  | 'PKI_INVALID_DNS_NAME'
  | 'PKI_INVALID_VALIDITY'
  | 'PKI_INVALID_CA'
  | 'PKI_CA_KEY_MISMATCH'
  | 'PKI_INVALID_PUBLIC_KEY'
  | 'PKI_UNKNOWN_DEVICE';

/**
 * Key types a device TLS key may have. Agents generate Ed25519 since session 4: on the hub,
 * whose OpenSSL keeps every peer certificate and its decoded key for as long as the tunnel
 * lives, an Ed25519 client certificate costs less memory and CPU per handshake than a P-256
 * one (docs/benchmarks.md). P-256 stays accepted (devices enrolled before, keys in a TPM).
 */
export type DeviceKeyType = 'ed25519' | 'p256';

/** Typed error for every failure this module reports deliberately. */
export class PkiError extends Error {
  override readonly name = 'PkiError';
  readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Allowed device identifiers: 1–64 characters, ASCII letters, digits, '.', '_' and '-',
 * starting with a letter or digit. Safe in a certificate CN, a URI, a file name and a log line.
 */
export const DEVICE_ID_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Prefix of the SAN URI carried by device certificates: `urn:outpost:device:<deviceId>`. */
export const DEVICE_URI_PREFIX = 'urn:outpost:device:';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Backdate notBefore to tolerate clock skew between hub and devices. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_DAYS = 30;
const MAX_NAME_LENGTH = 64; // ub-common-name (RFC 5280)

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

interface CaHandles {
  privateKey: WebCryptoKey;
  cert: x509.X509Certificate;
}

/** Cached key handles for CAs created by this module; keeps CryptoKeys off the public object. */
const caHandles = new WeakMap<CertificateAuthority, CaHandles>();

interface ValidityOptions {
  validDays?: number;
  notBefore?: Date;
  notAfter?: Date;
}

function resolveValidity(
  opts: ValidityOptions,
  defaultDays: number,
): { notBefore: Date; notAfter: Date } {
  const validDays = opts.validDays ?? defaultDays;
  if (!Number.isFinite(validDays) || validDays <= 0) {
    throw new PkiError(
      'PKI_INVALID_VALIDITY',
      `validDays must be a positive number, got ${String(validDays)}`,
    );
  }
  const notBefore = opts.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + validDays * DAY_MS);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    throw new PkiError('PKI_INVALID_VALIDITY', 'notBefore/notAfter must be valid dates');
  }
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new PkiError('PKI_INVALID_VALIDITY', 'notAfter must be later than notBefore');
  }
  return { notBefore, notAfter };
}

function checkCommonName(commonName: string): void {
  if (
    typeof commonName !== 'string' ||
    commonName.length === 0 ||
    commonName.length > MAX_NAME_LENGTH
  ) {
    throw new PkiError('PKI_INVALID_NAME', `commonName must be 1–${MAX_NAME_LENGTH} characters`);
  }
  // Control characters in a DN only ever cause trouble (log injection, parser differentials).
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(commonName)) {
    throw new PkiError('PKI_INVALID_NAME', 'commonName must not contain control characters');
  }
}

function assertDeviceId(deviceId: string): void {
  if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) {
    throw new PkiError(
      'PKI_INVALID_DEVICE_ID',
      `invalid device id ${JSON.stringify(deviceId)}: must match ${String(DEVICE_ID_PATTERN)}`,
    );
  }
}

/** Random 16-byte serial number, positive and without a leading zero byte (always 16 bytes in DER). */
function randomSerialHex(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

/** Distinguished name with a single CN, built structurally so no DN-string escaping is involved. */
function cnName(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }];
}

async function generateKeyPair(type: DeviceKeyType = 'p256'): Promise<WebCryptoKeyPair> {
  if (type === 'ed25519')
    // Node's webcrypto generates Ed25519 pairs (CryptoKeyPair) though the typing says CryptoKey.
    return (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, [
      'sign',
      'verify',
    ])) as WebCryptoKeyPair;
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function exportPrivateKeyPem(key: WebCryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
}

/** Creates a self-signed CA (ECDSA P-256, SHA-256) entirely in memory. */
export async function createCertificateAuthority(
  opts: { commonName: string } & ValidityOptions,
): Promise<CertificateAuthority> {
  checkCommonName(opts.commonName);
  const { notBefore, notAfter } = resolveValidity(opts, DEFAULT_CA_DAYS);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialHex(),
      name: cnName(opts.commonName),
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    },
    webcrypto,
  );
  const ca: CertificateAuthority = {
    name: opts.commonName,
    certPem: cert.toString('pem'),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
  caHandles.set(ca, { privateKey: keys.privateKey, cert });
  return ca;
}

/** Returns the CA's signing key and parsed certificate, importing them from PEM if needed. */
async function loadCa(ca: CertificateAuthority): Promise<CaHandles> {
  const cached = caHandles.get(ca);
  if (cached) return cached;

  let cert: x509.X509Certificate;
  let privateKey: WebCryptoKey;
  try {
    cert = new x509.X509Certificate(ca.certPem);
    privateKey = await webcrypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decodeFirst(ca.keyPem),
      KEY_ALGORITHM,
      false,
      ['sign'],
    );
  } catch (err) {
    throw new PkiError(
      'PKI_INVALID_CA',
      'CA certificate or key cannot be parsed (expected ECDSA P-256, PEM)',
      {
        cause: err,
      },
    );
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) {
    throw new PkiError('PKI_INVALID_CA', 'CA certificate lacks BasicConstraints cA=true');
  }
  // The key must belong to the certificate, or every certificate we issue would fail to verify.
  const publicKey = await cert.publicKey.export(KEY_ALGORITHM, ['verify'], webcrypto);
  const probe = webcrypto.getRandomValues(new Uint8Array(32));
  const signature = await webcrypto.subtle.sign(SIGNING_ALGORITHM, privateKey, probe);
  if (!(await webcrypto.subtle.verify(SIGNING_ALGORITHM, publicKey, signature, probe))) {
    throw new PkiError('PKI_CA_KEY_MISMATCH', 'CA private key does not match the CA certificate');
  }
  const handles: CaHandles = { privateKey, cert };
  caHandles.set(ca, handles);
  return handles;
}

async function authorityKeyIdentifier(
  caCert: x509.X509Certificate,
): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, webcrypto);
}

async function issueLeaf(
  ca: CertificateAuthority,
  commonName: string,
  validity: { notBefore: Date; notAfter: Date },
  extensions: x509.Extension[],
  keyType: DeviceKeyType = 'p256',
): Promise<KeyPairPem> {
  const issuer = await loadCa(ca);
  const keys = await generateKeyPair(keyType);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: cnName(commonName),
      // Byte-for-byte copy of the CA's subject so path building never depends on re-encoding.
      issuer: issuer.cert.subjectName,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      publicKey: keys.publicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        ...extensions,
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        await authorityKeyIdentifier(issuer.cert),
      ],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/** Issues a TLS server certificate (EKU serverAuth) with the given DNS names and IP addresses as SAN. */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  opts: { commonName: string; dnsNames?: string[]; ipAddresses?: string[] } & ValidityOptions,
): Promise<KeyPairPem> {
  checkCommonName(opts.commonName);
  const validity = resolveValidity(opts, DEFAULT_LEAF_DAYS);
  const names: x509.JsonGeneralName[] = [];
  for (const dns of opts.dnsNames ?? []) {
    if (
      !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(
        dns,
      ) ||
      dns.length > 253
    ) {
      throw new PkiError('PKI_INVALID_DNS_NAME', `invalid DNS name ${JSON.stringify(dns)}`);
    }
    names.push({ type: 'dns', value: dns });
  }
  for (const ip of opts.ipAddresses ?? []) {
    if (isIP(ip) === 0) {
      throw new PkiError('PKI_INVALID_IP', `invalid IP address ${JSON.stringify(ip)}`);
    }
    names.push({ type: 'ip', value: ip });
  }
  if (names.length === 0) {
    // Modern TLS clients ignore the CN; a server certificate without a SAN can never match.
    throw new PkiError(
      'PKI_INVALID_DNS_NAME',
      'a server certificate needs at least one DNS name or IP address',
    );
  }
  return issueLeaf(ca, opts.commonName, validity, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(names),
  ]);
}

/**
 * Issues a device (TLS client) certificate: subject CN=<deviceId>, SAN URI
 * `urn:outpost:device:<deviceId>`, EKU clientAuth.
 */
export async function issueDeviceCertificate(
  ca: CertificateAuthority,
  opts: { deviceId: string; keyType?: DeviceKeyType } & ValidityOptions,
): Promise<KeyPairPem> {
  assertDeviceId(opts.deviceId);
  const validity = resolveValidity(opts, DEFAULT_LEAF_DAYS);
  return issueLeaf(
    ca,
    opts.deviceId,
    validity,
    [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: `${DEVICE_URI_PREFIX}${opts.deviceId}` },
      ]),
    ],
    opts.keyType ?? 'p256',
  );
}

/**
 * Generates a throwaway PKI: a CA, a server certificate for localhost (SAN DNS localhost,
 * IP 127.0.0.1 and ::1) and one device certificate per id.
 *
 * `ca` is what agents pin (it issued the hub's server certificate); `deviceCa` issued the
 * device certificates and is what the hub trusts for client certificates (its `tls.ca`) and
 * issues from. By default they are one CA. With `separateDeviceCa` they are two, the layout
 * to deploy: with one CA for both, OpenSSL (which Node gives no way to stop building the chain)
 * finds the issuer of its own certificate in the trust store on each side and sends the CA
 * certificate in every handshake, both ways, and the hub then parses the extra certificate and
 * keeps it for as long as the tunnel lives (docs/benchmarks.md, handshake-rate and idle-memory).
 * `deviceKeyType` is the key type of the device certificates (default P-256).
 */
export async function createTestPki(
  opts: {
    deviceIds?: string[];
    hubName?: string;
    separateDeviceCa?: boolean;
    deviceKeyType?: DeviceKeyType;
  } = {},
): Promise<{
  ca: CertificateAuthority;
  deviceCa: CertificateAuthority;
  server: KeyPairPem;
  devices: Record<string, KeyPairPem>;
}> {
  const hubName = opts.hubName ?? 'outpost-hub';
  const deviceIds = [...new Set(opts.deviceIds ?? ['device-1'])];
  deviceIds.forEach(assertDeviceId);
  const ca = await createCertificateAuthority({
    commonName: `${hubName} test CA`.slice(0, MAX_NAME_LENGTH),
  });
  const deviceCa = opts.separateDeviceCa
    ? await createCertificateAuthority({
        commonName: `${hubName} test device CA`.slice(0, MAX_NAME_LENGTH),
      })
    : ca;
  const [server, ...deviceCerts] = await Promise.all([
    issueServerCertificate(ca, {
      commonName: hubName,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    }),
    ...deviceIds.map((deviceId) =>
      issueDeviceCertificate(deviceCa, { deviceId, keyType: opts.deviceKeyType ?? 'p256' }),
    ),
  ]);
  if (!server) throw new Error('unreachable: server certificate missing');
  const devices: Record<string, KeyPairPem> = {};
  deviceIds.forEach((id, i) => {
    const pair = deviceCerts[i];
    if (pair) devices[id] = pair;
  });
  return { ca, deviceCa, server, devices };
}

/**
 * Extracts the device id from a peer certificate (e.g. node's `tls.PeerCertificate`).
 *
 * Returns `undefined` when there is no certificate, no CN, several CNs, or a CN that does not
 * match {@link DEVICE_ID_PATTERN}. Only meaningful for a certificate the TLS layer has already
 * verified against the device CA (`socket.authorized === true`).
 */
export function deviceIdFromCertificate(
  cert: { subject?: { CN?: string | string[] } } | undefined,
): string | undefined {
  const cn = cert?.subject?.CN;
  if (typeof cn !== 'string') return undefined; // absent, or ambiguous (multiple CNs)
  return DEVICE_ID_PATTERN.test(cn) ? cn : undefined;
}

/**
 * The same, from a `node:crypto` X509Certificate (`TLSSocket#getPeerX509Certificate()`). The hub
 * does not use it per connection: on a fresh socket that call copies the certificate and, with
 * OpenSSL 3.0, decodes its public key again (about 0.27 ms against 0.12 ms for the object
 * `getPeerCertificate()` builds; docs/benchmarks.md). Its `subject` is
 * one `TYPE=value` line per attribute (RFC 2253 escaping); a multi-valued RDN joins with " + ",
 * which the device id pattern refuses, and two CN attributes are ambiguous: both give undefined.
 */
export function deviceIdFromX509(cert: { subject: string } | undefined): string | undefined {
  if (!cert) return undefined;
  let cn: string | undefined;
  for (const line of cert.subject.split('\n')) {
    if (!line.startsWith('CN=')) continue;
    if (cn !== undefined) return undefined;
    cn = line.slice(3);
  }
  return cn !== undefined && DEVICE_ID_PATTERN.test(cn) ? cn : undefined;
}

/**
 * Issues a device client certificate for a public key the device generated itself (enrolment
 * and rotation: the private key never leaves the device). `spkiDer` is the SubjectPublicKeyInfo
 * of an Ed25519 or an ECDSA P-256 key ({@link DeviceKeyType}).
 */
export async function issueDeviceCertificateForKey(
  ca: CertificateAuthority,
  opts: { deviceId: string; spkiDer: Uint8Array } & ValidityOptions,
): Promise<string> {
  assertDeviceId(opts.deviceId);
  const validity = resolveValidity(opts, DEFAULT_LEAF_DAYS);
  const issuer = await loadCa(ca);
  let publicKey: WebCryptoKey;
  try {
    const type = deviceKeyTypeOf(opts.spkiDer);
    publicKey = await webcrypto.subtle.importKey(
      'spki',
      Uint8Array.from(opts.spkiDer),
      type === 'ed25519' ? { name: 'Ed25519' } : KEY_ALGORITHM,
      true,
      ['verify'],
    );
  } catch (cause) {
    throw new PkiError(
      'PKI_INVALID_PUBLIC_KEY',
      'the device public key is not an Ed25519 or ECDSA P-256 SubjectPublicKeyInfo',
      { cause },
    );
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: cnName(opts.deviceId),
      issuer: issuer.cert.subjectName,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      publicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: `${DEVICE_URI_PREFIX}${opts.deviceId}` },
        ]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
        await authorityKeyIdentifier(issuer.cert),
      ],
    },
    webcrypto,
  );
  return cert.toString('pem');
}

/**
 * The type of a device TLS public key (DER SubjectPublicKeyInfo); throws a PkiError
 * (`PKI_INVALID_PUBLIC_KEY`) for anything but Ed25519 and ECDSA P-256.
 */
export function deviceKeyTypeOf(spkiDer: Uint8Array): DeviceKeyType {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new PkiError('PKI_INVALID_PUBLIC_KEY', 'not a DER SubjectPublicKeyInfo', { cause });
  }
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return 'p256';
  throw new PkiError(
    'PKI_INVALID_PUBLIC_KEY',
    `device TLS keys must be Ed25519 or ECDSA P-256 (got ${key.asymmetricKeyType ?? 'unknown'})`,
  );
}

/**
 * The `hub` part of an agent's configuration for `deviceId` of a {@link createTestPki} PKI:
 * the hub's URL and pinned identity key, the PKI's CA, the device's certificate and key, and
 * the server name the test server certificate carries. For tests, benches and the demo.
 */
export function testAgentHubOptions(
  pki: { ca: { certPem: string }; devices: Record<string, KeyPairPem> },
  deviceId: string,
  hub: { url: string; identityPublicKey: Uint8Array },
): {
  url: string;
  ca: string;
  cert: string;
  key: string;
  servername: string;
  identityKey: Uint8Array;
} {
  const device = pki.devices[deviceId];
  if (!device) throw new PkiError('PKI_UNKNOWN_DEVICE', `the test PKI has no device ${deviceId}`);
  return {
    url: hub.url,
    ca: pki.ca.certPem,
    cert: device.certPem,
    key: device.keyPem,
    servername: 'localhost',
    identityKey: hub.identityPublicKey,
  };
}
