import { createHash } from 'node:crypto';

/**
 * What a device signs to prove it holds the keys it asks a certificate for (enrolment and
 * rotation). Part of the wire contract: the hub rebuilds the same bytes to verify.
 */
function join(label: string, parts: Array<string | Uint8Array>): Uint8Array {
  const chunks: Buffer[] = [Buffer.from(label + '\0', 'utf8')];
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    chunks.push(len, b);
  }
  return Buffer.concat(chunks);
}

/** SHA-256 of an enrolment token, hex. The hub stores only this; the token is a secret. */
export function hashEnrolmentToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Signed by the new TLS key in a RenewCredential request: Ed25519, or ECDSA P-256 with SHA-256.
 */
export function renewProofInput(
  deviceId: string,
  requestId: string,
  spkiDer: Uint8Array,
): Uint8Array {
  return join('outpost/v1 renew', [deviceId, requestId, spkiDer]);
}

/**
 * Signed at enrolment by BOTH new keys: the Ed25519 identity key and the TLS key. Binds the
 * keys to the device id and to this token (by hash, so the proof does not reveal it).
 */
export function enrolProofInput(
  deviceId: string,
  tokenHash: string,
  identityPublicKey: Uint8Array,
  spkiDer: Uint8Array,
): Uint8Array {
  return join('outpost/v1 enrol', [deviceId, tokenHash, identityPublicKey, spkiDer]);
}
