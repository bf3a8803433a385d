export type TunnelErrorCode =
  | 'TUNNEL_CONNECT_FAILED'
  | 'TUNNEL_TLS_REJECTED'
  | 'TUNNEL_HANDSHAKE_TIMEOUT'
  | 'TUNNEL_VERSION_MISMATCH'
  | 'TUNNEL_PROTOCOL_ERROR'
  | 'TUNNEL_CLOSED_BY_HUB'
  | 'TUNNEL_DEAD_PEER'
  | 'TUNNEL_BAD_CONFIG'
  | 'TUNNEL_HUB_AUTH_FAILED'
  | 'TUNNEL_REDIRECTED';

/** Why the tunnel went down. `closeCode` is the WebSocket close status when there was one. */
export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  constructor(
    readonly code: TunnelErrorCode,
    message: string,
    options: { cause?: unknown; closeCode?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.closeCode = options.closeCode;
  }
  readonly closeCode: number | undefined;
}

/** WebSocket close statuses the hub and agent use (4000-4999 are application-defined). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  TOO_BIG: 1009,
  MALFORMED_FRAME: 4400,
  IDENTITY_MISMATCH: 4403,
  AUTH_FAILED: 4401,
  HANDSHAKE_TIMEOUT: 4408,
  REPLACED: 4409,
  UNSUPPORTED_VERSION: 4426,
  INTERNAL: 4500,
} as const;
