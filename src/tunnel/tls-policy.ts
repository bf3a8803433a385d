import { createHash, X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate, type SecureContextOptions } from 'node:tls';

/**
 * TLS 1.3 only, with the two AEAD suites that use 256-bit keys. Node offers no 0-RTT for TLS
 * clients, so early data (replayable) is never sent.
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
} as const satisfies Pick<SecureContextOptions, 'minVersion' | 'ciphers'>;

/**
 * For hubs behind equipment that cannot do TLS 1.3: TLS 1.2 as well, but only ECDHE key
 * exchange with AEAD suites that use 256-bit keys (AES-256-GCM, ChaCha20-Poly1305).
 */
export const TLS12_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    TLS_POLICY.ciphers,
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
} as const satisfies Pick<SecureContextOptions, 'minVersion' | 'ciphers'>;

export function tlsPolicy(allowTls12: boolean | undefined): {
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  ciphers: string;
} {
  return allowTls12 ? TLS12_POLICY : TLS_POLICY;
}

/** base64(SHA-256(SubjectPublicKeyInfo DER)), the HPKP pin format. */
export function spkiPin(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('base64');
}

/**
 * A `checkServerIdentity` that checks the host name as usual and then requires the hub's
 * public key to match one of `pins`. At least two pins are required - the current key and a
 * backup held offline - so losing one key never bricks a fleet.
 */
export function pinnedServerIdentity(
  pins: readonly string[],
): (host: string, cert: PeerCertificate) => Error | undefined {
  if (pins.length < 2) {
    throw new RangeError(
      'SPKI pinning needs at least two pins: the current hub key and a backup key',
    );
  }
  const allowed = new Set(pins);
  return (host, cert) => {
    const err = checkServerIdentity(host, cert);
    if (err) return err;
    // PeerCertificate.pubkey is the bare key for EC; pins are over the whole SPKI.
    const spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
    const pin = spkiPin(spki);
    if (!allowed.has(pin)) {
      return Object.assign(
        new Error(`hub public key (pin ${pin}) matches none of the configured SPKI pins`),
        {
          code: 'ERR_OUTPOST_SPKI_PIN_MISMATCH',
        },
      );
    }
    return undefined;
  };
}
