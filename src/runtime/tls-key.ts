import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/**
 * The type of the TLS client key an agent generates at enrolment and at each rotation. Ed25519
 * by default: on the hub, which keeps every tunnel's peer certificate and its decoded key, an
 * Ed25519 client certificate costs less memory per idle tunnel and less CPU per handshake than
 * a P-256 one (docs/benchmarks.md, handshake-rate and idle-memory). `p256` (ECDSA P-256) is for
 * a product whose policy asks for it; the hub accepts both.
 */
export type TlsKeyType = 'ed25519' | 'p256';

export const DEFAULT_TLS_KEY_TYPE: TlsKeyType = 'ed25519';

/** A fresh TLS key pair: the private key, its DER SubjectPublicKeyInfo, and a proof signer. */
export function generateTlsKey(type: TlsKeyType = DEFAULT_TLS_KEY_TYPE): {
  privateKey: KeyObject;
  spki: Uint8Array;
  /** Proof of possession: Ed25519 over `input`, or ECDSA P-256 with SHA-256. */
  prove(input: Uint8Array): Uint8Array;
} {
  const { privateKey, publicKey } =
    type === 'ed25519'
      ? generateKeyPairSync('ed25519')
      : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    prove: (input) => new Uint8Array(sign(type === 'ed25519' ? null : 'sha256', input, privateKey)),
  };
}
