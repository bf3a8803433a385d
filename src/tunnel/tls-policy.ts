import type { SecureContextOptions } from 'node:tls';

/**
 * TLS 1.3 only, with the two AEAD suites that use 256-bit keys. Node offers no 0-RTT for TLS
 * clients, so early data (replayable) is never sent.
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
} as const satisfies Pick<SecureContextOptions, 'minVersion' | 'ciphers'>;
