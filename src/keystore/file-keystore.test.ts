import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeystoreContents } from './contents.js';
import { FileKeystore } from './file-keystore.js';
import { FileKeyProvider, StaticKeyProvider, type KeyProvider } from './key-provider.js';
import {
  expectKeystoreError,
  faultyFs,
  forbiddenText,
  ioError,
  makeTempDir,
  removeTempDir,
  sampleContents,
  tempFiles,
  thrown,
  type FsCall,
} from './test-fixtures.js';

const NOW = 1_750_000_000_000;
const now = () => NOW;

let dir: string;
let path: string;
let provider: StaticKeyProvider;
let sealingKey: Uint8Array;
let contents: KeystoreContents;
let forbidden: string[];

beforeEach(async () => {
  dir = await makeTempDir();
  path = join(dir, 'device.keystore');
  provider = StaticKeyProvider.generate();
  sealingKey = await provider.getSealingKey();
  contents = sampleContents();
  forbidden = forbiddenText({ keys: [sealingKey], contents });
});
afterEach(async () => {
  await removeTempDir(dir);
});

const stamped = (c: KeystoreContents): KeystoreContents => ({ ...c, updatedAtMs: NOW });

describe('FileKeystore: round trip', () => {
  it('create → open → read gives the contents back (updatedAtMs stamped)', async () => {
    const created = await FileKeystore.create(path, provider, contents, { now });
    expect(created.read()).toEqual(stamped(contents));
    const opened = await FileKeystore.open(path, provider);
    expect(opened.read()).toEqual(stamped(contents));
    if (process.platform !== 'win32') expect((await fsp.stat(path)).mode & 0o777).toBe(0o600);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('read() returns copies that can be wiped without touching the keystore', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    const a = ks.read();
    a.identity?.secretKey.fill(0);
    a.releaseKeys.length = 0;
    expect(ks.read()).toEqual(stamped(contents));
  });

  it('create never overwrites an existing keystore', async () => {
    await FileKeystore.create(path, provider, contents, { now });
    const before = await fsp.readFile(path);
    const err = await thrown(() => FileKeystore.create(path, provider, sampleContents()));
    expectKeystoreError(err, 'KEYSTORE_EXISTS', forbidden);
    expect((await fsp.readFile(path)).equals(before)).toBe(true);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('create rejects malformed contents and writes nothing', async () => {
    const bad = {
      ...contents,
      identity: { publicKey: new Uint8Array(32), secretKey: new Uint8Array(10) },
    };
    expectKeystoreError(
      await thrown(() => FileKeystore.create(path, provider, bad)),
      'KEYSTORE_INVALID_CONTENTS',
      forbidden,
    );
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  it('open of a missing file is KEYSTORE_NOT_FOUND', async () => {
    expectKeystoreError(
      await thrown(() => FileKeystore.open(path, provider)),
      'KEYSTORE_NOT_FOUND',
    );
  });

  it('works with a FileKeyProvider end to end', async () => {
    const keyFile = await FileKeyProvider.create(join(dir, 'sealing.key'));
    await FileKeystore.create(path, keyFile, contents, { now });
    const reopened = await FileKeystore.open(path, new FileKeyProvider(join(dir, 'sealing.key')));
    expect(reopened.read()).toEqual(stamped(contents));
    const otherKey = await FileKeyProvider.create(join(dir, 'other.key'));
    expectKeystoreError(
      await thrown(() => FileKeystore.open(path, otherKey)),
      'KEYSTORE_UNSEAL_FAILED',
    );
  });
});

describe('FileKeystore: update', () => {
  it('persists, stamps updatedAtMs, and a re-open sees it', async () => {
    let t = NOW;
    const ks = await FileKeystore.create(path, provider, contents, { now: () => t });
    const newKey = nacl.sign.keyPair().publicKey;
    t += 5000;
    await ks.update((c) => {
      c.releaseKeys.push(newKey);
      c.previousTls = c.tls;
    });
    const expected = {
      ...contents,
      previousTls: contents.tls,
      releaseKeys: [...contents.releaseKeys, newKey],
      updatedAtMs: t,
    };
    expect(ks.read()).toEqual(expected);
    expect((await FileKeystore.open(path, provider)).read()).toEqual(expected);
  });

  it('accepts a returned object, and clears an optional field set to undefined', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    await ks.update((c) => ({ ...c, previousTls: c.tls, tls: undefined }));
    const after = (await FileKeystore.open(path, provider)).read();
    expect(after.tls).toBeUndefined();
    expect('tls' in after).toBe(false);
    expect(after.previousTls).toEqual(contents.tls);
  });

  it('concurrent updates all apply, in order (no lost update)', async () => {
    const ks = await FileKeystore.create(
      path,
      provider,
      { ...contents, releaseKeys: [], caPems: [] },
      { now },
    );
    const keys = Array.from({ length: 25 }, () => nacl.sign.keyPair().publicKey);
    await Promise.all(keys.map((k) => ks.update((c) => void c.releaseKeys.push(k))));
    expect(ks.read().releaseKeys).toEqual(keys);
    expect((await FileKeystore.open(path, provider)).read().releaseKeys).toEqual(keys);
  });

  it('a mutator that throws changes nothing, reaches the caller, and later updates still run', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    const before = await fsp.readFile(path);
    const boom = new Error('mutator failed');
    await expect(
      ks.update(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await fsp.readFile(path)).equals(before)).toBe(true);
    expect(ks.read()).toEqual(stamped(contents));
    const failing = ks.update(() => {
      throw boom;
    });
    const later = ks.update((c) => ({ ...c, deviceId: 'renamed' }));
    await expect(failing).rejects.toBe(boom);
    await later;
    expect((await FileKeystore.open(path, provider)).read().deviceId).toBe('renamed');
  });

  it('a mutator producing malformed contents is KEYSTORE_INVALID_CONTENTS and writes nothing', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    const before = await fsp.readFile(path);
    for (const mutate of [
      (c: KeystoreContents) => void (c.hubIdentityKey = new Uint8Array(31)),
      (c: KeystoreContents) => ({ ...c, deviceId: 42 }) as unknown as KeystoreContents,
      // An async mutator is a programming error, not a silent no-op.
      (async (c: KeystoreContents) => c) as unknown as (c: KeystoreContents) => void,
    ]) {
      expectKeystoreError(
        await thrown(() => ks.update(mutate)),
        'KEYSTORE_INVALID_CONTENTS',
        forbidden,
      );
    }
    expect((await fsp.readFile(path)).equals(before)).toBe(true);
    expect(ks.read()).toEqual(stamped(contents));
  });

  it('every write uses a fresh nonce', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    const a = await fsp.readFile(path);
    await ks.update(() => undefined);
    const b = await fsp.readFile(path);
    expect(a.length).toBe(b.length);
    expect(a.subarray(5, 29).equals(b.subarray(5, 29))).toBe(false);
  });
});

describe('FileKeystore: keys and tampering', () => {
  it('a wrong sealing key is KEYSTORE_UNSEAL_FAILED with an actionable message', async () => {
    await FileKeystore.create(path, provider, contents, { now });
    const wrong = StaticKeyProvider.generate();
    const err = expectKeystoreError(
      await thrown(() => FileKeystore.open(path, wrong)),
      'KEYSTORE_UNSEAL_FAILED',
      [...forbidden, ...forbiddenText({ keys: [await wrong.getSealingKey()] })],
    );
    expect(err.message).toMatch(/sealing key/);
    expect(err.message).toMatch(/modified/);
  });

  const badProviders: [string, KeyProvider][] = [
    ['31 bytes', { kind: 'short', getSealingKey: async () => new Uint8Array(31) }],
    ['a string', { kind: 'str', getSealingKey: async () => 'k' as unknown as Uint8Array }],
    [
      'a rejection',
      { kind: 'tpm', getSealingKey: async () => Promise.reject(new Error('TPM busy')) },
    ],
  ];
  it.each(badProviders)('a provider returning %s is KEYSTORE_BAD_KEY', async (_n, bad) => {
    await FileKeystore.create(path, provider, contents, { now });
    expectKeystoreError(await thrown(() => FileKeystore.open(path, bad)), 'KEYSTORE_BAD_KEY');
    expectKeystoreError(
      await thrown(() => FileKeystore.create(join(dir, 'other'), bad, contents)),
      'KEYSTORE_BAD_KEY',
    );
    expect(await fsp.readdir(dir)).toEqual(['device.keystore']);
  });

  it('flipping any single byte is KEYSTORE_UNSEAL_FAILED or KEYSTORE_CORRUPT, never success', async () => {
    await FileKeystore.create(path, provider, contents, { now });
    const original = await fsp.readFile(path);
    const target = join(dir, 'flipped.keystore');
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: original.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (index, mask) => {
          const flipped = Buffer.from(original);
          flipped[index] = (flipped[index] ?? 0) ^ mask;
          await fsp.writeFile(target, flipped);
          const err = await thrown(() => FileKeystore.open(target, provider));
          expectKeystoreError(err, ['KEYSTORE_UNSEAL_FAILED', 'KEYSTORE_CORRUPT'], forbidden);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a file truncated at any length is KEYSTORE_CORRUPT or KEYSTORE_UNSEAL_FAILED', async () => {
    await FileKeystore.create(path, provider, contents, { now });
    const original = await fsp.readFile(path);
    const target = join(dir, 'short.keystore');
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: original.length - 1 }), async (length) => {
        await fsp.writeFile(target, original.subarray(0, length));
        const err = await thrown(() => FileKeystore.open(target, provider));
        expectKeystoreError(err, ['KEYSTORE_CORRUPT', 'KEYSTORE_UNSEAL_FAILED'], forbidden);
      }),
      { numRuns: 150, examples: [[0], [4], [5], [28], [29], [44], [original.length - 1]] },
    );
  });

  it('an oversized file is refused as KEYSTORE_CORRUPT before it is read', async () => {
    await fsp.writeFile(path, Buffer.alloc(1024 * 1024 + 1));
    expectKeystoreError(await thrown(() => FileKeystore.open(path, provider)), 'KEYSTORE_CORRUPT');
  });

  it('the file on disk holds none of the plaintext', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    await ks.update((c) => void (c.previousTls = c.tls));
    const raw = await fsp.readFile(path);
    const secret = contents.identity?.secretKey ?? new Uint8Array();
    for (const needle of [
      Buffer.from(contents.deviceId),
      Buffer.from('-----BEGIN'),
      Buffer.from('PRIVATE KEY'),
      Buffer.from(secret),
      Buffer.from(secret.subarray(0, 32)), // the seed alone
      Buffer.from(sealingKey),
    ]) {
      expect(raw.indexOf(needle)).toBe(-1);
    }
  });

  it('inspecting or serialising the keystore shows no secrets', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    const shown = `${inspect(ks, { showHidden: true, depth: 10 })} ${JSON.stringify(ks)} ${inspect(provider, { showHidden: true })}`;
    expect(shown).not.toContain(contents.deviceId);
    expect(shown).not.toContain('PRIVATE KEY');
    expect(shown).not.toContain([...sealingKey].join(', '));
  });
});

describe('FileKeystore: atomic, durable writes', () => {
  const midWriteFaults: FsCall[] = ['open', 'writeFile', 'sync', 'close', 'rename'];
  it.each(midWriteFaults)(
    'a failure at %s leaves the previous file intact, openable, and no temp file',
    async (call) => {
      // Temp-file calls report the temp path; the rename reports its target.
      const hit = (c: FsCall, p: string) =>
        c === call && (c === 'rename' ? p === path : p.includes('.tmp-'));
      const fs = faultyFs((c, p) => (hit(c, p) ? ioError('EIO') : undefined));
      const ks = await FileKeystore.create(path, provider, contents, { now });
      const faulty = await FileKeystore.open(path, provider, { fs, now });
      const before = await fsp.readFile(path);
      const err = await thrown(() => faulty.update((c) => ({ ...c, deviceId: 'lost' })));
      const e = expectKeystoreError(err, 'KEYSTORE_WRITE_FAILED', forbidden);
      expect(e.cause).toMatchObject({ code: 'EIO' });
      expect((await fsp.readFile(path)).equals(before)).toBe(true);
      expect(await tempFiles(dir)).toEqual([]);
      expect(faulty.read()).toEqual(ks.read());
      expect((await FileKeystore.open(path, provider)).read()).toEqual(stamped(contents));
    },
  );

  it('a failed write does not block the next one', async () => {
    let failNext = true;
    const fs = faultyFs((c, p) => {
      if (c === 'rename' && p === path && failNext) {
        failNext = false;
        return ioError('ENOSPC');
      }
      return undefined;
    });
    const ks = await FileKeystore.create(path, provider, contents, { fs, now });
    const first = ks.update((c) => void (c.deviceId = 'first'));
    const second = ks.update((c) => void (c.deviceId = `${c.deviceId}-second`));
    expectKeystoreError(await thrown(() => first), 'KEYSTORE_WRITE_FAILED');
    await second;
    expect((await FileKeystore.open(path, provider)).read().deviceId).toBe(
      `${contents.deviceId}-second`,
    );
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)(
    'a read-only directory fails the write cleanly (skipped as root, which ignores modes)',
    async () => {
      const ks = await FileKeystore.create(path, provider, contents, { now });
      await fsp.chmod(dir, 0o500);
      expectKeystoreError(await thrown(() => ks.update(() => undefined)), 'KEYSTORE_WRITE_FAILED');
      await fsp.chmod(dir, 0o700);
      expect(await tempFiles(dir)).toEqual([]);
      expect((await FileKeystore.open(path, provider)).read()).toEqual(stamped(contents));
    },
  );

  it('fsyncs the temp file before the rename and the directory after it', async () => {
    const calls: string[] = [];
    const fs = faultyFs((c, p) => {
      const what = p === dir ? 'dir' : p.includes('.tmp-') ? 'tmp' : p === path ? 'target' : p;
      calls.push(`${c}:${what}`);
      return undefined;
    });
    const ks = await FileKeystore.create(path, provider, contents, { fs, now });
    calls.length = 0;
    await ks.update(() => undefined);
    expect(calls).toEqual([
      'open:tmp',
      'writeFile:tmp',
      'sync:tmp',
      'close:tmp',
      'rename:target',
      'open:dir',
      'sync:dir',
      'close:dir',
    ]);
  });

  it('when only the directory sync fails, the new contents are in place and read() shows them', async () => {
    const fs = faultyFs((c, p) => (c === 'sync' && p === dir ? ioError('EIO') : undefined));
    const ks = await FileKeystore.open(
      (await FileKeystore.create(path, provider, contents, { now })).path,
      provider,
      { fs, now },
    );
    expectKeystoreError(
      await thrown(() => ks.update((c) => void (c.deviceId = 'new'))),
      'KEYSTORE_WRITE_FAILED',
    );
    expect(ks.read().deviceId).toBe('new');
    expect((await FileKeystore.open(path, provider)).read().deviceId).toBe('new');
  });

  it.each(['EISDIR', 'EINVAL'])(
    'a platform that refuses to sync directories (%s) is tolerated',
    async (code) => {
      const fs = faultyFs((c, p) =>
        p === dir && (c === 'open' || c === 'sync') ? ioError(code) : undefined,
      );
      const ks = await FileKeystore.create(path, provider, contents, { fs, now });
      await ks.update((c) => void (c.deviceId = 'ok'));
      expect((await FileKeystore.open(path, provider)).read().deviceId).toBe('ok');
    },
  );

  it('create falls back to check-then-rename where hard links are unsupported', async () => {
    const fs = faultyFs((c) => (c === 'link' ? ioError('EPERM') : undefined));
    await FileKeystore.create(path, provider, contents, { fs, now });
    expect((await FileKeystore.open(path, provider)).read()).toEqual(stamped(contents));
    expectKeystoreError(
      await thrown(() => FileKeystore.create(path, provider, contents, { fs, now })),
      'KEYSTORE_EXISTS',
    );
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('a failed link during create leaves neither keystore nor temp file', async () => {
    const fs = faultyFs((c) => (c === 'link' ? ioError('EIO') : undefined));
    expectKeystoreError(
      await thrown(() => FileKeystore.create(path, provider, contents, { fs, now })),
      'KEYSTORE_WRITE_FAILED',
    );
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  it('temp names are random, so a stale temp file from a crash does not block writes', async () => {
    const ks = await FileKeystore.create(path, provider, contents, { now });
    await fsp.writeFile(`${path}.tmp-stale`, randomBytes(10));
    await ks.update((c) => void (c.deviceId = 'after-crash'));
    expect((await FileKeystore.open(path, provider)).read().deviceId).toBe('after-crash');
  });
});
