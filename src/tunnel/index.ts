export {
  TunnelClient,
  type TunnelOptions,
  type TunnelTlsOptions,
  type TunnelState,
  type TunnelStats,
  type TunnelEvents,
} from './client.js';
export { TunnelError, CLOSE, type TunnelErrorCode } from './errors.js';
export { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
export { TLS_POLICY, TLS12_POLICY, spkiPin, pinnedServerIdentity } from './tls-policy.js';
