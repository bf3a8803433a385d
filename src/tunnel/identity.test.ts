import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { ed25519Identity, generateIdentityKey, verifyEd25519 } from './identity.js';

describe('Ed25519 identity on node:crypto', () => {
  it('signs byte for byte as tweetnacl does, with a tweetnacl secret key', () => {
    for (let i = 0; i < 20; i++) {
      const keys = nacl.sign.keyPair();
      const message = nacl.randomBytes(i * 37);
      const id = ed25519Identity(keys.secretKey);
      expect(id.publicKey).toEqual(keys.publicKey);
      expect(id.sign(message)).toEqual(nacl.sign.detached(message, keys.secretKey));
    }
  });

  it('generates key pairs tweetnacl accepts', () => {
    const keys = generateIdentityKey();
    expect(keys.secretKey).toHaveLength(64);
    expect(nacl.sign.keyPair.fromSecretKey(keys.secretKey).publicKey).toEqual(keys.publicKey);
    const message = Uint8Array.of(1, 2, 3);
    const sig = ed25519Identity(keys.secretKey).sign(message);
    expect(nacl.sign.detached.verify(message, sig, keys.publicKey)).toBe(true);
  });

  it('verifies good signatures and refuses bad ones without throwing', () => {
    const keys = nacl.sign.keyPair();
    const message = Uint8Array.of(9, 8, 7);
    const sig = nacl.sign.detached(message, keys.secretKey);
    expect(verifyEd25519(message, sig, keys.publicKey)).toBe(true);
    const tampered = Uint8Array.from(sig);
    tampered[5]! ^= 1;
    expect(verifyEd25519(message, tampered, keys.publicKey)).toBe(false);
    expect(verifyEd25519(Uint8Array.of(9, 8, 6), sig, keys.publicKey)).toBe(false);
    expect(verifyEd25519(message, sig.subarray(1), keys.publicKey)).toBe(false);
    expect(verifyEd25519(message, sig, keys.publicKey.subarray(1))).toBe(false);
    expect(verifyEd25519(message, sig, nacl.sign.keyPair().publicKey)).toBe(false);
  });

  it('refuses a secret key of the wrong length or whose public half is not its own', () => {
    expect(() => ed25519Identity(new Uint8Array(32))).toThrow(RangeError);
    const a = nacl.sign.keyPair().secretKey;
    const b = nacl.sign.keyPair().publicKey;
    const mixed = Uint8Array.from([...a.subarray(0, 32), ...b]);
    expect(() => ed25519Identity(mixed)).toThrow(/public half/);
  });
});
