import { X509Certificate } from 'node:crypto';
import type { Agent as HttpAgent } from 'node:http';
import { request } from 'node:https';
import { enrolProofInput, hashEnrolmentToken } from '../codec/index.js';
import { FileKeystore } from '../keystore/file-keystore.js';
import type { KeyProvider } from '../keystore/key-provider.js';
import type { KeystoreContents } from '../keystore/contents.js';
import { ed25519Identity, generateIdentityKey } from '../tunnel/identity.js';
import { createProxyAgent, type ProxyConfig } from '../tunnel/proxy.js';
import { TLS_POLICY } from '../tunnel/tls-policy.js';
import { generateTlsKey, type TlsKeyType } from './tls-key.js';

export type EnrolmentErrorCode =
  'ENROL_REFUSED' | 'ENROL_TOKEN_REFUSED' | 'ENROL_CONNECT_FAILED' | 'ENROL_BAD_RESPONSE';

/** Enrolment failed. `hubCode` is the hub's stable error code when it answered with one. */
export class EnrolmentError extends Error {
  override readonly name = 'EnrolmentError';
  constructor(
    readonly code: EnrolmentErrorCode,
    message: string,
    readonly hubCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface EnrolOptions {
  /** The hub's tunnel URL (wss://host[:port]/v1/tunnel); enrolment goes to https://host[:port]/v1/enrol. */
  hubUrl: string;
  /** CA bundle the hub's server certificate must chain to (pinned by the installer). */
  ca: string | Buffer | Array<string | Buffer>;
  servername?: string;
  deviceId: string;
  /** The one-time token from the hub operator. It is sent once and never stored. */
  token: string;
  proxy?: ProxyConfig;
  timeoutMs?: number;
  /** Type of the TLS client key generated here. Default Ed25519 (see {@link TlsKeyType}). */
  tlsKeyType?: TlsKeyType;
}

export interface EnrolledCredentials {
  deviceId: string;
  identity: { publicKey: Uint8Array; secretKey: Uint8Array };
  tls: { certPem: string; keyPem: string; notAfterMs: number };
  /** The CA bundle the hub is verified against (what the installer pinned). */
  hubCaPems: string[];
  /** The hub's Ed25519 key, to pin for the inner handshake. */
  hubIdentityKey: Uint8Array;
}

/**
 * One-time enrolment: generates the device's identity (Ed25519) and TLS (Ed25519 by default) keys on
 * the device, proves possession of both to the hub together with the one-time token, and gets
 * back a client certificate. No private key leaves the device.
 */
export async function enrolDevice(o: EnrolOptions): Promise<EnrolledCredentials> {
  const url = new URL(o.hubUrl);
  if (url.protocol !== 'wss:' && url.protocol !== 'https:') {
    throw new EnrolmentError(
      'ENROL_CONNECT_FAILED',
      `hub URL must be wss:// or https:// (got ${url.protocol}//)`,
    );
  }
  const identity = generateIdentityKey();
  const tlsKey = generateTlsKey(o.tlsKeyType);
  const { privateKey, spki } = tlsKey;
  const input = enrolProofInput(o.deviceId, hashEnrolmentToken(o.token), identity.publicKey, spki);
  const body = JSON.stringify({
    deviceId: o.deviceId,
    token: o.token,
    identityPublicKey: Buffer.from(identity.publicKey).toString('base64'),
    tlsPublicKey: Buffer.from(spki).toString('base64'),
    identityProof: Buffer.from(ed25519Identity(identity.secretKey).sign(input)).toString('base64'),
    tlsProof: Buffer.from(tlsKey.prove(input)).toString('base64'),
  });
  const target = new URL('/v1/enrol', `https://${url.host}`);
  const agent: HttpAgent | undefined = o.proxy ? createProxyAgent(o.proxy, target.href) : undefined;
  const { status, text } = await post(target, body, {
    ca: o.ca,
    servername: o.servername,
    agent,
    timeoutMs: o.timeoutMs ?? 30_000,
  });
  let reply: Record<string, unknown>;
  try {
    reply = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new EnrolmentError(
      'ENROL_BAD_RESPONSE',
      `the hub answered HTTP ${status} with a body that is not JSON`,
      undefined,
      { cause },
    );
  }
  if (status !== 200) {
    const err = (reply.error ?? {}) as { code?: string; message?: string };
    const tokenProblem =
      typeof err.code === 'string' && err.code.startsWith('OUTPOST_ENROL_TOKEN_');
    throw new EnrolmentError(
      tokenProblem ? 'ENROL_TOKEN_REFUSED' : 'ENROL_REFUSED',
      `the hub refused enrolment (HTTP ${status}${err.code ? `, ${err.code}` : ''}): ${err.message ?? 'no reason given'}`,
      err.code,
    );
  }
  const certPem = reply.certificatePem;
  const hubKey =
    typeof reply.hubIdentityKey === 'string'
      ? Buffer.from(reply.hubIdentityKey, 'base64')
      : undefined;
  if (typeof certPem !== 'string' || !hubKey || hubKey.length !== 32) {
    throw new EnrolmentError(
      'ENROL_BAD_RESPONSE',
      'the hub answered without a certificate or hub identity key',
    );
  }
  const cert = new X509Certificate(certPem);
  if (!cert.checkPrivateKey(privateKey)) {
    throw new EnrolmentError(
      'ENROL_BAD_RESPONSE',
      'the issued certificate is not for the key this device generated',
    );
  }
  const cas = (Array.isArray(o.ca) ? o.ca : [o.ca]).map((c) => c.toString());
  return {
    deviceId: o.deviceId,
    identity: { publicKey: identity.publicKey, secretKey: identity.secretKey },
    tls: {
      certPem,
      keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      notAfterMs: Date.parse(cert.validTo),
    },
    hubCaPems: cas,
    hubIdentityKey: new Uint8Array(hubKey),
  };
}

/** Seals enrolled credentials into a new keystore file. */
export function saveEnrolment(
  path: string,
  provider: KeyProvider,
  c: EnrolledCredentials,
): Promise<FileKeystore> {
  const contents: KeystoreContents = {
    version: 1,
    deviceId: c.deviceId,
    identity: c.identity,
    tls: c.tls,
    caPems: c.hubCaPems,
    hubIdentityKey: c.hubIdentityKey,
    releaseKeys: [],
    updatedAtMs: Date.now(),
  };
  return FileKeystore.create(path, provider, contents);
}

/**
 * The agent configuration parts that come from an enrolled keystore, including a rotation
 * `persist` that seals each renewed certificate (keeping the previous one for the overlap).
 */
export function credentialsFromKeystore(keystore: FileKeystore): {
  identity: { secretKey: Uint8Array };
  hub: { ca: string[]; cert: string; key: string; identityKey: Uint8Array };
  rotation: {
    persist: (c: { certPem: string; keyPem: string; notAfterMs: number }) => Promise<void>;
  };
} {
  const c = keystore.read();
  if (!c.identity || !c.tls || !c.hubIdentityKey) {
    throw new EnrolmentError(
      'ENROL_REFUSED',
      'the keystore holds no enrolled credentials; enrol the device first',
    );
  }
  return {
    identity: { secretKey: c.identity.secretKey },
    hub: { ca: c.caPems, cert: c.tls.certPem, key: c.tls.keyPem, identityKey: c.hubIdentityKey },
    rotation: {
      persist: (next) =>
        keystore.update((draft) => {
          draft.previousTls = draft.tls;
          draft.tls = next;
        }),
    },
  };
}

function post(
  url: URL,
  body: string,
  o: {
    ca: EnrolOptions['ca'];
    servername: string | undefined;
    agent: HttpAgent | undefined;
    timeoutMs: number;
  },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca: o.ca,
        servername: o.servername,
        agent: o.agent,
        rejectUnauthorized: true,
        ...TLS_POLICY,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: o.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', (cause: Error & { code?: string }) =>
      reject(
        new EnrolmentError(
          'ENROL_CONNECT_FAILED',
          `cannot reach the hub's enrolment endpoint (${cause.code ?? cause.message})`,
          undefined,
          { cause },
        ),
      ),
    );
    req.end(body);
  });
}
