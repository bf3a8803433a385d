export {
  Hub,
  startHub,
  TUNNEL_PATH,
  type HubOptions,
  type HubEvents,
  type HubStats,
} from './server.js';
export {
  HubStore,
  type DataMode,
  type HubStoreOptions,
  type StoredAlarm,
  type StoredGap,
  type StoredSample,
  type SecurityEvent,
} from './store.js';
export { CLOSE } from './session.js';
export {
  createCertificateAuthority,
  issueServerCertificate,
  issueDeviceCertificate,
  createTestPki,
  testAgentHubOptions,
  deviceIdFromCertificate,
  deviceIdFromX509,
  PkiError,
  type CertificateAuthority,
  type KeyPairPem,
} from './pki.js';
export {
  CredentialAuthority,
  ENROL_PATH,
  type CredentialAuthorityOptions,
  type EnrolRequest,
  type EnrolResponse,
} from './credentials.js';
export { HubIdentity } from './identity.js';
