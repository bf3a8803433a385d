import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyTlsKeyProof } from './credentials.js';

describe('verifyTlsKeyProof', () => {
  const input = new TextEncoder().encode('outpost/v1 enrol\0proof');
  const spki = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) =>
    new Uint8Array(k.export({ format: 'der', type: 'spki' }));

  it('accepts an Ed25519 proof and an ECDSA P-256 (SHA-256) proof by the key presented', () => {
    const ed = generateKeyPairSync('ed25519');
    expect(verifyTlsKeyProof(spki(ed.publicKey), input, sign(null, input, ed.privateKey))).toBe(
      true,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(verifyTlsKeyProof(spki(ec.publicKey), input, sign('sha256', input, ec.privateKey))).toBe(
      true,
    );
  });

  it('refuses a proof by another key, over other bytes, or with another key type', () => {
    const ed = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const proof = sign(null, input, ed.privateKey);
    expect(verifyTlsKeyProof(spki(other.publicKey), input, proof)).toBe(false);
    expect(verifyTlsKeyProof(spki(ed.publicKey), new Uint8Array(4), proof)).toBe(false);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(
      verifyTlsKeyProof(spki(p384.publicKey), input, sign('sha256', input, p384.privateKey)),
    ).toBe(false);
    expect(verifyTlsKeyProof(new Uint8Array([1, 2, 3]), input, proof)).toBe(false);
  });
});
