/** The hub's TLS policy: TLS 1.3 only, AEAD suites with 256-bit keys. */
export const HUB_TLS_POLICY = {
  minVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
} as const;
