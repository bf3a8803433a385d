import { constants } from 'node:crypto';

/**
 * The hub's TLS policy: TLS 1.3 only, AEAD suites with 256-bit keys, and no session tickets:
 * agents do not resume TLS sessions, so every connection is a full handshake with the client
 * certificate verified, and issuing tickets nobody uses cost about 15 % of the hub's CPU per
 * handshake and several KiB per open connection (docs/benchmarks.md).
 */
export const HUB_TLS_POLICY = {
  minVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  secureOptions: constants.SSL_OP_NO_TICKET,
} as const;

/** When configured: TLS 1.2 too, but only ECDHE with AES-256-GCM or ChaCha20-Poly1305. */
export const HUB_TLS12_POLICY = {
  minVersion: 'TLSv1.2',
  secureOptions: constants.SSL_OP_NO_TICKET,
  ciphers: [
    HUB_TLS_POLICY.ciphers,
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
} as const;
