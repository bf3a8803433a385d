import { KeystoreError, type KeystoreErrorCode } from './errors.js';

/** A device's Ed25519 identity in tweetnacl format: `secretKey` is seed ‖ publicKey. */
export interface Ed25519Identity {
  /** 32 bytes. */
  publicKey: Uint8Array;
  /** 64 bytes: the 32-byte seed followed by the public key. */
  secretKey: Uint8Array;
}

/** A TLS client credential (PEM) and when its certificate expires. */
export interface TlsCredential {
  certPem: string;
  keyPem: string;
  /** Certificate notAfter, Unix ms. */
  notAfterMs: number;
}

/** Everything the keystore holds. Version 1 of the contents schema. */
export interface KeystoreContents {
  version: 1;
  deviceId: string;
  /** Device identity for the tunnel's inner handshake; absent before enrolment. */
  identity?: Ed25519Identity;
  /** Current TLS client credential. */
  tls?: TlsCredential;
  /** The credential being rotated out, kept during the overlap so no tunnel drops. */
  previousTls?: TlsCredential;
  /** Pinned CA bundle for the hub (PEM). */
  caPems: string[];
  /** Optional SPKI pins of the hub: base64 of SHA-256 of the SubjectPublicKeyInfo. */
  spkiPins?: string[];
  /** Pinned hub Ed25519 public key (32 bytes). */
  hubIdentityKey?: Uint8Array;
  /** Ed25519 public keys (32 bytes each) that may sign update manifests. */
  releaseKeys: Uint8Array[];
  /** When the contents were last written, Unix ms. Set by the keystore on every write. */
  updatedAtMs: number;
}

/** Size limits for contents; anything larger is treated as malformed. */
export const CONTENTS_LIMITS = {
  deviceIdChars: 256,
  pemChars: 64 * 1024,
  listEntries: 32,
} as const;

const TOP_KEYS = new Set([
  'version',
  'deviceId',
  'identity',
  'tls',
  'previousTls',
  'caPems',
  'spkiPins',
  'hubIdentityKey',
  'releaseKeys',
  'updatedAtMs',
]);
const IDENTITY_KEYS = new Set(['publicKey', 'secretKey']);
const TLS_KEYS = new Set(['certPem', 'keyPem', 'notAfterMs']);
// base64 of a 32-byte digest: 43 significant characters and one '=' of padding.
const SPKI_PIN = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

type Obj = Record<string, unknown>;

/**
 * Checks untrusted data (decoded from disk, or returned by an update mutator) against the
 * contents schema and returns a deep copy: fresh `Uint8Array`s, only known fields, optional
 * fields that are `undefined` dropped. Unknown fields are rejected, not ignored, so an older
 * agent never silently drops what a newer one wrote.
 *
 * @throws KeystoreError with `code` (default `KEYSTORE_CORRUPT`). The message names the field
 *   and the rule, never the value.
 */
export function validateContents(
  value: unknown,
  code: KeystoreErrorCode = 'KEYSTORE_CORRUPT',
): KeystoreContents {
  const fail = (field: string, rule: string): never => {
    throw new KeystoreError(code, `keystore contents: ${field} ${rule}`);
  };
  // Field names from disk are sealed contents too: only a mutator's own field names are echoed.
  const names = code !== 'KEYSTORE_CORRUPT';
  const top = object(value, 'contents', TOP_KEYS, names, fail);
  if (top.version !== 1) fail('version', 'must be 1');
  const out: KeystoreContents = {
    version: 1,
    deviceId: string(top.deviceId, 'deviceId', CONTENTS_LIMITS.deviceIdChars, fail),
    caPems: list(top.caPems, 'caPems', (v, f) => pem(v, f, fail), fail),
    releaseKeys: list(top.releaseKeys, 'releaseKeys', (v, f) => bytes(v, f, 32, fail), fail),
    updatedAtMs: time(top.updatedAtMs, 'updatedAtMs', fail),
  };
  if (top.identity !== undefined) {
    const id = object(top.identity, 'identity', IDENTITY_KEYS, names, fail);
    const publicKey = bytes(id.publicKey, 'identity.publicKey', 32, fail);
    const secretKey = bytes(id.secretKey, 'identity.secretKey', 64, fail);
    if (!equalBytes(secretKey.subarray(32), publicKey)) {
      secretKey.fill(0);
      fail('identity.secretKey', 'does not belong to identity.publicKey');
    }
    out.identity = { publicKey, secretKey };
  }
  try {
    if (top.tls !== undefined) out.tls = tls(top.tls, 'tls', names, fail);
    if (top.previousTls !== undefined) {
      out.previousTls = tls(top.previousTls, 'previousTls', names, fail);
    }
    validateRest(top, out, fail);
  } catch (err) {
    wipeContents(out);
    throw err;
  }
  return out;
}

function validateRest(top: Obj, out: KeystoreContents, fail: Fail): void {
  if (top.spkiPins !== undefined) {
    out.spkiPins = list(
      top.spkiPins,
      'spkiPins',
      (v, f) => {
        const s = string(v, f, 44, fail);
        if (!SPKI_PIN.test(s)) fail(f, 'must be base64 of a 32-byte SHA-256 digest');
        return s;
      },
      fail,
    );
  }
  if (top.hubIdentityKey !== undefined) {
    out.hubIdentityKey = bytes(top.hubIdentityKey, 'hubIdentityKey', 32, fail);
  }
}

/** A deep copy of already-valid contents, with fresh `Uint8Array`s. */
export function copyContents(c: KeystoreContents): KeystoreContents {
  const out: KeystoreContents = {
    version: c.version,
    deviceId: c.deviceId,
    caPems: [...c.caPems],
    releaseKeys: c.releaseKeys.map((k) => new Uint8Array(k)),
    updatedAtMs: c.updatedAtMs,
  };
  if (c.identity) {
    out.identity = {
      publicKey: new Uint8Array(c.identity.publicKey),
      secretKey: new Uint8Array(c.identity.secretKey),
    };
  }
  if (c.tls) out.tls = { ...c.tls };
  if (c.previousTls) out.previousTls = { ...c.previousTls };
  if (c.spkiPins) out.spkiPins = [...c.spkiPins];
  if (c.hubIdentityKey) out.hubIdentityKey = new Uint8Array(c.hubIdentityKey);
  return out;
}

/** Zeroes the byte arrays of contents the caller owns (PEM strings cannot be wiped). */
export function wipeContents(c: KeystoreContents): void {
  c.identity?.secretKey.fill(0);
}

type Fail = (field: string, rule: string) => never;

function object(v: unknown, field: string, allowed: Set<string>, names: boolean, fail: Fail): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) {
    return fail(field, 'must be an object');
  }
  for (const key of Object.keys(v)) {
    if (!allowed.has(key)) {
      fail(
        field,
        names ? `has an unknown field ${JSON.stringify(key.slice(0, 40))}` : 'has an unknown field',
      );
    }
  }
  return v as Obj;
}

function string(v: unknown, field: string, maxChars: number, fail: Fail): string {
  if (typeof v !== 'string' || v.length === 0) return fail(field, 'must be a non-empty string');
  if (v.length > maxChars) fail(field, `must be at most ${maxChars} characters`);
  return v;
}

function pem(v: unknown, field: string, fail: Fail): string {
  const s = string(v, field, CONTENTS_LIMITS.pemChars, fail);
  if (!s.includes('-----BEGIN ')) fail(field, 'must be PEM text');
  return s;
}

function bytes(v: unknown, field: string, length: number, fail: Fail): Uint8Array {
  if (!(v instanceof Uint8Array)) return fail(field, 'must be a Uint8Array');
  if (v.length !== length) fail(field, `must be ${length} bytes (got ${v.length})`);
  return new Uint8Array(v);
}

function time(v: unknown, field: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    return fail(field, 'must be a non-negative integer (Unix ms)');
  }
  return v;
}

function list<T>(v: unknown, field: string, item: (v: unknown, f: string) => T, fail: Fail): T[] {
  if (!Array.isArray(v)) return fail(field, 'must be an array');
  if (v.length > CONTENTS_LIMITS.listEntries) {
    fail(field, `must have at most ${CONTENTS_LIMITS.listEntries} entries`);
  }
  return v.map((x, i) => item(x, `${field}[${i}]`));
}

function tls(v: unknown, field: string, names: boolean, fail: Fail): TlsCredential {
  const t = object(v, field, TLS_KEYS, names, fail);
  return {
    certPem: pem(t.certPem, `${field}.certPem`, fail),
    keyPem: pem(t.keyPem, `${field}.keyPem`, fail),
    notAfterMs: time(t.notAfterMs, `${field}.notAfterMs`, fail),
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
