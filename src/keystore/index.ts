export { KeystoreError, type KeystoreErrorCode } from './errors.js';
export {
  FileKeyProvider,
  StaticKeyProvider,
  SEALING_KEY_LENGTH,
  type KeyProvider,
} from './key-provider.js';
export {
  validateContents,
  copyContents,
  wipeContents,
  CONTENTS_LIMITS,
  type KeystoreContents,
  type Ed25519Identity,
  type TlsCredential,
} from './contents.js';
export { FileKeystore, type FileKeystoreOptions, type KeystoreMutator } from './file-keystore.js';
export { SEALED_FORMAT } from './sealed-format.js';
export { nodeFs, type FsOps } from './atomic-write.js';
