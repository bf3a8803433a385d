import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

/**
 * The device's long-term identity for the inner handshake: an Ed25519 key. The secret part may
 * live anywhere (the sealed keystore, a TPM, an HSM): the tunnel only asks it to sign.
 */
export interface DeviceIdentity {
  /** Ed25519 public key, 32 bytes (registered at the hub at enrolment). */
  readonly publicKey: Uint8Array;
  /** Ed25519 signature (64 bytes) over `message`. */
  sign(message: Uint8Array): Uint8Array;
}

const SECRET_KEY_BYTES = 64;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) },
    format: 'jwk',
  });
}

/**
 * An identity held in memory as a 64-byte Ed25519 secret key in the tweetnacl/libsodium layout
 * (32-byte seed ‖ 32-byte public key). It signs with Node's crypto (OpenSSL); Ed25519 is
 * deterministic, so the signatures are byte for byte those tweetnacl would make.
 */
export function ed25519Identity(secretKey: Uint8Array): DeviceIdentity {
  if (secretKey.length !== SECRET_KEY_BYTES) {
    throw new RangeError(`an Ed25519 secret key is ${SECRET_KEY_BYTES} bytes`);
  }
  const publicKey = Uint8Array.from(secretKey.subarray(32));
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secretKey.subarray(0, 32)), x: b64url(publicKey) },
    format: 'jwk',
  });
  const derived = createPublicKey(key).export({ format: 'jwk' }).x;
  if (derived !== b64url(publicKey)) {
    throw new RangeError("the secret key's public half does not belong to its seed");
  }
  return {
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, key)),
  };
}

/**
 * Generates a fresh identity key pair (on the device, at enrolment): the secret key in the
 * 64-byte seed ‖ public key layout {@link ed25519Identity} takes.
 */
export function generateIdentityKey(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d ?? '', 'base64url');
  const publicKey = new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
  const secretKey = new Uint8Array(SECRET_KEY_BYTES);
  secretKey.set(seed, 0);
  secretKey.set(publicKey, 32);
  seed.fill(0);
  return { publicKey, secretKey };
}

/** Verifies an Ed25519 signature; false (never a throw) for any malformed input. */
export function verifyEd25519(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false; // a public key OpenSSL refuses to load: not a valid signature either
  }
}
