import nacl from 'tweetnacl';

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

/** An identity held in memory as a tweetnacl secret key (64 bytes: seed || public key). */
export function ed25519Identity(secretKey: Uint8Array): DeviceIdentity {
  if (secretKey.length !== nacl.sign.secretKeyLength) {
    throw new RangeError(`an Ed25519 secret key is ${nacl.sign.secretKeyLength} bytes`);
  }
  const key = Uint8Array.from(secretKey);
  const publicKey = key.slice(32);
  return {
    publicKey,
    sign: (message) => nacl.sign.detached(message, key),
  };
}

/** Generates a fresh identity key pair (on the device, at enrolment). */
export function generateIdentityKey(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return nacl.sign.keyPair();
}

/** Verifies an Ed25519 signature; false (never a throw) for any malformed input. */
export function verifyEd25519(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (
    signature.length !== nacl.sign.signatureLength ||
    publicKey.length !== nacl.sign.publicKeyLength
  )
    return false;
  return nacl.sign.detached.verify(message, signature, publicKey);
}
