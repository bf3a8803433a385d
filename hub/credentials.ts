import {
  createPublicKey,
  randomBytes,
  verify as verifySignature,
  X509Certificate,
} from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { enrolProofInput, hashEnrolmentToken, renewProofInput } from '../src/codec/index.js';
import { ed25519PublicKey, verifyEd25519 } from './identity.js';
import {
  DEVICE_ID_PATTERN,
  deviceKeyTypeOf,
  issueDeviceCertificateForKey,
  type CertificateAuthority,
} from './pki.js';
import type { Hub } from './server.js';
import type { DeviceSession } from './session.js';

export const ENROL_PATH = '/v1/enrol';
const EMPTY = new Uint8Array(0);

/**
 * A proof of possession by a device TLS key (DER SubjectPublicKeyInfo): Ed25519 over `input`,
 * or ECDSA P-256 with SHA-256. False for any other key type or a bad signature.
 */
export function verifyTlsKeyProof(
  spkiDer: Uint8Array,
  input: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    const type = deviceKeyTypeOf(spkiDer);
    const key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
    return verifySignature(type === 'ed25519' ? null : 'sha256', input, key, signature);
  } catch {
    return false;
  }
}
const MAX_BODY = 16 * 1024;

export interface CredentialAuthorityOptions {
  /** The device CA (the one the hub's TLS listener trusts for client certificates). */
  ca: CertificateAuthority;
  /** Lifetime of issued client certificates. Default 7 days. */
  certLifetimeMs?: number;
  /** How long a superseded certificate is still accepted after a rotation. Default 1 hour. */
  overlapMs?: number;
  /** Default lifetime of an enrolment token. Default 15 minutes. */
  tokenTtlMs?: number;
  /** notBefore is set this far in the past, for devices with slightly slow clocks. Default 5 min. */
  backdateMs?: number;
  now?: () => number;
}

/** The JSON body of POST /v1/enrol. Binary fields are base64. */
export interface EnrolRequest {
  deviceId: string;
  token: string;
  identityPublicKey: string;
  tlsPublicKey: string;
  identityProof: string;
  tlsProof: string;
}

export interface EnrolResponse {
  certificatePem: string;
  notAfterMs: number;
  caPem: string;
  hubIdentityKey: string;
}

/**
 * The hub as the issuer of device credentials: one-time enrolment tokens, certificates for
 * keys generated on the device (enrolment over HTTPS, renewal over the live tunnel), forced
 * rotation, and the overlap window during which a superseded certificate is still accepted.
 * Tokens are stored only as hashes; no private key ever reaches the hub.
 */
export class CredentialAuthority {
  readonly #hub: Hub;
  readonly #o: Required<CredentialAuthorityOptions>;

  constructor(hub: Hub, options: CredentialAuthorityOptions) {
    this.#hub = hub;
    this.#o = {
      certLifetimeMs: 7 * 86_400_000,
      overlapMs: 3_600_000,
      tokenTtlMs: 15 * 60_000,
      backdateMs: 5 * 60_000,
      now: Date.now,
      ...options,
    };
    hub.route((req, res) => {
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'https://hub').pathname !== ENROL_PATH)
        return false;
      void this.#handleEnrol(req, res);
      return true;
    });
    hub.on('renew', (session, request) => void this.#handleRenew(session, request));
  }

  /**
   * A one-time enrolment token for `deviceId`, valid for `ttlMs`. Hand it to the installer out
   * of band; it is shown once and stored only as a hash.
   */
  createEnrolmentToken(deviceId: string, ttlMs = this.#o.tokenTtlMs): string {
    if (!DEVICE_ID_PATTERN.test(deviceId))
      throw new TypeError(`"${deviceId}" is not a valid device id`);
    const token = randomBytes(24).toString('base64url');
    const now = this.#o.now();
    this.#hub.store.addEnrolmentToken(hashEnrolmentToken(token), deviceId, now, now + ttlMs);
    this.#audit('enrolment-token-created', deviceId, `valid for ${Math.round(ttlMs / 1000)} s`);
    return token;
  }

  /** Asks a connected device to renew its certificate now. */
  forceRotation(deviceId: string, reason = 'operator request'): boolean {
    const sent = this.#hub.sendControl(deviceId, { type: 'rotateNow', rotateNow: { reason } });
    if (sent) this.#audit('rotation-forced', deviceId, reason);
    return sent;
  }

  async #issue(
    deviceId: string,
    spkiDer: Uint8Array,
  ): Promise<{ certificatePem: string; notAfterMs: number; previousValidUntilMs: number }> {
    const now = this.#o.now();
    const certificatePem = await issueDeviceCertificateForKey(this.#o.ca, {
      deviceId,
      spkiDer,
      notBefore: new Date(now - this.#o.backdateMs),
      notAfter: new Date(now + this.#o.certLifetimeMs),
    });
    const cert = new X509Certificate(certificatePem);
    const notAfterMs = Date.parse(cert.validTo);
    const previousValidUntilMs = now + this.#o.overlapMs;
    this.#hub.store.recordIssuedCertificate(
      deviceId,
      cert.fingerprint256,
      notAfterMs,
      now,
      previousValidUntilMs,
    );
    return { certificatePem, notAfterMs, previousValidUntilMs };
  }

  async #handleRenew(
    session: DeviceSession,
    request: {
      requestId?: string | null;
      tlsPublicKey?: Uint8Array | null;
      proof?: Uint8Array | null;
    },
  ): Promise<void> {
    const deviceId = session.deviceId;
    const requestId = request.requestId ?? '';
    const spki = request.tlsPublicKey ?? new Uint8Array();
    try {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(requestId)) throw new Error('bad request id');
      if (
        !verifyTlsKeyProof(spki, renewProofInput(deviceId, requestId, spki), request.proof ?? EMPTY)
      ) {
        throw new Error('proof of possession does not verify');
      }
      const issued = await this.#issue(deviceId, spki);
      session.sendControl({ type: 'credentialIssued', credentialIssued: { requestId, ...issued } });
      this.#audit(
        'certificate-renewed',
        deviceId,
        `not after ${new Date(issued.notAfterMs).toISOString()}`,
      );
    } catch (err) {
      this.#audit('renewal-refused', deviceId, err instanceof Error ? err.message : String(err));
      session.sendControl({
        type: 'error',
        error: {
          code: 'OUTPOST_RENEWAL_REFUSED',
          message: 'certificate renewal refused: invalid key or proof',
        },
      });
    }
  }

  async #handleEnrol(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const reply = (status: number, body: object): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const refuse = (
      status: number,
      code: string,
      message: string,
      deviceId: string | null,
    ): void => {
      this.#hub.store.recordSecurityEvent({
        atMs: this.#o.now(),
        kind: 'enrolment-refused',
        deviceId,
        remote,
        detail: `${code}: ${message}`,
      });
      reply(status, { error: { code, message } });
    };
    let body: EnrolRequest;
    try {
      body = parseEnrolRequest(await readBody(req));
    } catch (err) {
      refuse(
        400,
        'OUTPOST_ENROL_BAD_REQUEST',
        err instanceof Error ? err.message : 'malformed request',
        null,
      );
      return;
    }
    const identityPublicKey = Buffer.from(body.identityPublicKey, 'base64');
    const spki = Buffer.from(body.tlsPublicKey, 'base64');
    const tokenHash = hashEnrolmentToken(body.token);
    const input = enrolProofInput(body.deviceId, tokenHash, identityPublicKey, spki);
    let proofsOk = false;
    try {
      proofsOk =
        verifyEd25519(
          input,
          Buffer.from(body.identityProof, 'base64'),
          ed25519PublicKey(identityPublicKey),
        ) && verifyTlsKeyProof(spki, input, Buffer.from(body.tlsProof, 'base64'));
    } catch {
      proofsOk = false;
    }
    if (!proofsOk) {
      refuse(
        400,
        'OUTPOST_ENROL_BAD_PROOF',
        'the request is not signed by the keys it presents',
        body.deviceId,
      );
      return;
    }
    // Checked after the proofs, so a forged request cannot burn someone else's token.
    const consumed = this.#hub.store.consumeEnrolmentToken(tokenHash, body.deviceId, this.#o.now());
    if ('refused' in consumed) {
      refuse(
        403,
        `OUTPOST_ENROL_TOKEN_${consumed.refused.toUpperCase()}`,
        `enrolment token is ${consumed.refused === 'unknown' ? 'not valid' : consumed.refused}; ask for a new one`,
        body.deviceId,
      );
      return;
    }
    const issued = await this.#issue(body.deviceId, spki);
    this.#hub.registerDevice(body.deviceId, identityPublicKey);
    this.#audit('device-enrolled', body.deviceId, `from ${remote}`);
    const response: EnrolResponse = {
      certificatePem: issued.certificatePem,
      notAfterMs: issued.notAfterMs,
      caPem: this.#o.ca.certPem,
      hubIdentityKey: Buffer.from(this.#hub.identityPublicKey).toString('base64'),
    };
    reply(200, response);
  }

  #audit(kind: string, deviceId: string, detail: string): void {
    this.#hub.store.recordSecurityEvent({
      atMs: this.#o.now(),
      kind,
      deviceId,
      remote: null,
      detail,
    });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseEnrolRequest(text: string): EnrolRequest {
  const v = JSON.parse(text) as Record<string, unknown>;
  const fields = [
    'deviceId',
    'token',
    'identityPublicKey',
    'tlsPublicKey',
    'identityProof',
    'tlsProof',
  ] as const;
  for (const f of fields) {
    if (
      typeof v[f] !== 'string' ||
      (v[f] as string).length === 0 ||
      (v[f] as string).length > 4096
    ) {
      throw new Error(`field "${f}" must be a non-empty string`);
    }
  }
  if (!DEVICE_ID_PATTERN.test(v.deviceId as string))
    throw new Error('deviceId is not a valid device id');
  return v as unknown as EnrolRequest;
}
