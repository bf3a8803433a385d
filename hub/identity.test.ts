import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519PublicKey, verifyEd25519 } from './identity.js';

describe('ed25519PublicKey', () => {
  it('is the same key as the DER SubjectPublicKeyInfo of the raw key, and verifies its signatures', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const raw = new Uint8Array(spki.subarray(spki.length - 32));
    const key = ed25519PublicKey(raw);
    expect(key.equals(createPublicKey({ key: spki, format: 'der', type: 'spki' }))).toBe(true);
    const message = new TextEncoder().encode('outpost');
    expect(verifyEd25519(message, sign(null, message, privateKey), key)).toBe(true);
    expect(verifyEd25519(new Uint8Array(1), sign(null, message, privateKey), key)).toBe(false);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => ed25519PublicKey(new Uint8Array(31))).toThrow(RangeError);
  });
});
