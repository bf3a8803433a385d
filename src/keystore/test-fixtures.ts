/**
 * Helpers for the keystore tests (not part of the public API). Every key is generated at
 * test time; none is ever committed.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { expect } from 'vitest';
import type { FsOps } from './atomic-write.js';
import type { KeystoreContents } from './contents.js';
import { KeystoreError, type KeystoreErrorCode } from './errors.js';

export async function makeTempDir(): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), 'outpost-keystore-'));
}

export async function removeTempDir(dir: string): Promise<void> {
  await fsp.chmod(dir, 0o700).catch(() => undefined); // a test may have made it read-only
  await fsp.rm(dir, { recursive: true, force: true });
}

function fakePem(label: string): string {
  const body = randomBytes(96).toString('base64');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** Contents with every field filled, fresh random keys each call. */
export function sampleContents(): KeystoreContents {
  const identity = nacl.sign.keyPair();
  return {
    version: 1,
    deviceId: `dev-${randomBytes(6).toString('hex')}`,
    identity: { publicKey: identity.publicKey, secretKey: identity.secretKey },
    tls: {
      certPem: fakePem('CERTIFICATE'),
      keyPem: fakePem('PRIVATE KEY'),
      notAfterMs: 1_900_000_000_000,
    },
    caPems: [fakePem('CERTIFICATE')],
    spkiPins: [randomBytes(32).toString('base64')],
    hubIdentityKey: nacl.sign.keyPair().publicKey,
    releaseKeys: [nacl.sign.keyPair().publicKey, nacl.sign.keyPair().publicKey],
    updatedAtMs: 1_700_000_000_000,
  };
}

/**
 * Text forms in which `bytes` could leak into a message: hex, base64, base64url and decimal
 * lists, of the whole and of a 15-byte prefix (a multiple of 3, so its unpadded base64 is a
 * prefix of the base64 of anything that starts with those bytes).
 */
function encodings(bytes: Uint8Array): string[] {
  const forms = (b: Buffer) => [
    b.toString('hex'),
    b.toString('base64').replace(/=+$/, ''),
    b.toString('base64url'),
    [...b].join(','),
    [...b].join(', '),
  ];
  return [...forms(Buffer.from(bytes)), ...forms(Buffer.from(bytes.subarray(0, 15)))];
}

/** Strings that must never appear in an error message or its causes. */
export function forbiddenText(
  secrets: { keys?: Uint8Array[]; contents?: KeystoreContents } = {},
): string[] {
  const out: string[] = [];
  for (const k of secrets.keys ?? []) out.push(...encodings(k));
  const c = secrets.contents;
  if (c) {
    out.push(c.deviceId);
    if (c.identity) {
      out.push(...encodings(c.identity.secretKey));
    }
    if (c.tls) out.push(c.tls.keyPem.split('\n')[1] ?? c.tls.keyPem);
  }
  return out;
}

function messages(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join('\n');
}

/** Asserts `err` is a KeystoreError with one of `codes` and leaks none of `forbidden`. */
export function expectKeystoreError(
  err: unknown,
  codes: KeystoreErrorCode | KeystoreErrorCode[],
  forbidden: string[] = [],
): KeystoreError {
  if (!(err instanceof KeystoreError) || ![codes].flat().includes(err.code)) {
    // Only now pay for vitest's diffing: these checks run thousands of times per suite.
    expect(err).toBeInstanceOf(KeystoreError);
    expect([codes].flat()).toContain((err as KeystoreError).code);
  }
  const e = err as KeystoreError;
  const text = messages(e);
  const leaks = forbidden.filter((f) => text.includes(f));
  if (leaks.length > 0) expect.fail(`error text leaks ${leaks.length} secret form(s): ${e.code}`);
  return e;
}

/** Runs `fn` and returns what it threw; fails the test if it did not throw. */
export async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export type FsCall = 'open' | 'writeFile' | 'sync' | 'close' | 'rename' | 'link' | 'unlink';

/** An I/O error shaped like Node's. */
export function ioError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault`), { code });
}

/**
 * The real file system with a fault hook: `hook(call, path)` returns an error to throw
 * instead of making the call, or undefined to let it through. File-handle calls report the
 * path the handle was opened with.
 */
export function faultyFs(hook: (call: FsCall, path: string) => Error | undefined): FsOps {
  const check = (call: FsCall, path: string): void => {
    const err = hook(call, path);
    if (err) throw err;
  };
  return {
    lstat: fsp.lstat,
    async open(path, flags, mode) {
      check('open', String(path));
      const fh = await fsp.open(path, flags, mode);
      const { writeFile, sync, close } = fh;
      fh.writeFile = async (...args: Parameters<typeof writeFile>) => {
        check('writeFile', String(path));
        return writeFile.apply(fh, args);
      };
      fh.sync = async () => {
        check('sync', String(path));
        return sync.apply(fh);
      };
      fh.close = async () => {
        await close.apply(fh); // always release the descriptor, then report the fault
        check('close', String(path));
      };
      return fh;
    },
    async rename(from, to) {
      check('rename', String(to));
      return fsp.rename(from, to);
    },
    async link(existing, target) {
      check('link', String(target));
      return fsp.link(existing, target);
    },
    async unlink(path) {
      check('unlink', String(path));
      return fsp.unlink(path);
    },
  };
}

/** Names in `dir` that look like leftover temp files. */
export async function tempFiles(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).filter((n) => n.includes('.tmp-'));
}
