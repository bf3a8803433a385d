import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
// The pure-JavaScript build: the package root on Node also loads msgpackr-extract, a native
// addon (about 6 MiB of RSS) that only speeds up decoding long strings, which these records
// do not have.
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import type Nacl from 'tweetnacl';
import { validateContents, type KeystoreContents } from './contents.js';
import { KeystoreError } from './errors.js';

/**
 * The sealed file, version 1 (pure codec, no I/O):
 *
 * | offset | size | field                                              |
 * | ------ | ---- | -------------------------------------------------- |
 * | 0      | 4    | magic `OPKS`                                       |
 * | 4      | 1    | format version, 1                                  |
 * | 5      | 24   | nonce, fresh and random for every write            |
 * | 29     | n+16 | `nacl.secretbox(msgpack(contents), nonce, key)`    |
 */
export const SEALED_FORMAT = {
  magic: Uint8Array.of(0x4f, 0x50, 0x4b, 0x53), // "OPKS"
  version: 1,
  headerLength: 29,
  // XSalsa20-Poly1305 (nacl.secretbox): 24-byte nonce, 32-byte key, 16-byte authenticator.
  nonceLength: 24,
  keyLength: 32,
  overheadLength: 16,
  /** Files larger than this are refused before reading. */
  maxFileLength: 1024 * 1024,
} as const;

let naclLib: typeof Nacl | undefined;

/**
 * tweetnacl, loaded (synchronously: it is CommonJS) the first time a keystore is sealed or
 * opened. The running agent signs with Node's crypto and need not load it (about 6 MiB of RSS).
 */
function nacl(): typeof Nacl {
  naclLib ??= createRequire(import.meta.url)('tweetnacl') as typeof Nacl;
  return naclLib;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false });

/**
 * Seals valid contents with a 32-byte key. The MessagePack plaintext is zeroed afterwards.
 * Call `validateContents` first: this function trusts its input.
 */
export function sealContents(contents: KeystoreContents, key: Uint8Array): Uint8Array {
  const { headerLength, nonceLength } = SEALED_FORMAT;
  const nonce = new Uint8Array(randomBytes(nonceLength));
  const plaintext = packr.pack(contents);
  try {
    const box = nacl().secretbox(plaintext, nonce, key);
    const out = new Uint8Array(headerLength + box.length);
    out.set(SEALED_FORMAT.magic, 0);
    out[4] = SEALED_FORMAT.version;
    out.set(nonce, 5);
    out.set(box, headerLength);
    return out;
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Opens a sealed file and validates what it holds.
 *
 * @param where names the file in error messages.
 * @throws KeystoreError `KEYSTORE_CORRUPT` for a bad header, a file too short to hold an
 *   authenticator, or contents of the wrong shape; `KEYSTORE_UNSEAL_FAILED` when
 *   authentication fails (wrong key or modified file).
 */
export function unsealContents(
  file: Uint8Array,
  key: Uint8Array,
  where: string,
  keyKind = 'unknown',
): KeystoreContents {
  const { headerLength, overheadLength, magic, version } = SEALED_FORMAT;
  if (file.length < headerLength) {
    throw corrupt(where, `is ${file.length} bytes, shorter than the ${headerLength}-byte header`);
  }
  if (!magic.every((b, i) => file[i] === b)) throw corrupt(where, 'is not a keystore (bad magic)');
  if (file[4] !== version) {
    throw corrupt(where, `has unsupported format version ${file[4]} (this agent reads ${version})`);
  }
  if (file.length < headerLength + overheadLength) {
    throw corrupt(where, 'is truncated (no room for the authenticator)');
  }
  const nonce = file.subarray(5, headerLength);
  const plaintext = nacl().secretbox.open(file.subarray(headerLength), nonce, key);
  if (plaintext === null) {
    throw new KeystoreError(
      'KEYSTORE_UNSEAL_FAILED',
      `cannot unseal keystore ${where}: either the sealing key (from the '${keyKind}' key ` +
        'provider) is not the key this file was sealed with, or the file was modified or ' +
        'damaged — the two cannot be told apart. Check that the key provider points at this ' +
        "device's sealing key; if it does, restore the keystore from a backup or re-enrol.",
    );
  }
  try {
    let decoded: unknown;
    try {
      decoded = unpackr.unpack(plaintext);
    } catch {
      // Deliberately no `cause`: msgpackr's messages can quote the decoded data.
      throw corrupt(where, 'holds sealed data that is not valid MessagePack');
    }
    try {
      return validateContents(decoded, 'KEYSTORE_CORRUPT');
    } catch (err) {
      if (err instanceof KeystoreError) throw corrupt(where, `holds malformed ${err.message}`);
      throw err;
    }
  } finally {
    plaintext.fill(0);
  }
}

function corrupt(where: string, what: string): KeystoreError {
  return new KeystoreError('KEYSTORE_CORRUPT', `keystore ${where} ${what}`);
}
