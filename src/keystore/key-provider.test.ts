import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileKeyProvider, StaticKeyProvider } from './key-provider.js';
import {
  expectKeystoreError,
  faultyFs,
  forbiddenText,
  ioError,
  makeTempDir,
  removeTempDir,
  tempFiles,
  thrown,
} from './test-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeTempDir(dir);
});

const posix = process.platform !== 'win32';

describe('FileKeyProvider', () => {
  it('create writes 32 random bytes with mode 0600, and getSealingKey returns them', async () => {
    const path = join(dir, 'sealing.key');
    const provider = await FileKeyProvider.create(path);
    expect(provider.kind).toBe('file');
    const onDisk = await fsp.readFile(path);
    expect(onDisk).toHaveLength(32);
    if (posix) expect((await fsp.stat(path)).mode & 0o777).toBe(0o600);
    const key = await provider.getSealingKey();
    expect(Buffer.from(key).equals(onDisk)).toBe(true);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it('hands out a fresh array each call, so zeroing one does not affect the next', async () => {
    const provider = await FileKeyProvider.create(join(dir, 'k'));
    const a = await provider.getSealingKey();
    const copy = a.slice();
    a.fill(0);
    expect(await provider.getSealingKey()).toEqual(copy);
  });

  it('two created keys differ', async () => {
    const a = await (await FileKeyProvider.create(join(dir, 'a'))).getSealingKey();
    const b = await (await FileKeyProvider.create(join(dir, 'b'))).getSealingKey();
    expect(a).not.toEqual(b);
  });

  it('refuses to overwrite an existing key file', async () => {
    const path = join(dir, 'k');
    await FileKeyProvider.create(path);
    const before = await fsp.readFile(path);
    const err = await thrown(() => FileKeyProvider.create(path));
    expectKeystoreError(err, 'KEYSTORE_EXISTS', forbiddenText({ keys: [before] }));
    expect((await fsp.readFile(path)).equals(before)).toBe(true);
    expect(await tempFiles(dir)).toEqual([]);
  });

  it.runIf(posix).each([0o644, 0o640, 0o604, 0o660])(
    'refuses a key file with mode %o (group/other access) as KEYSTORE_BAD_KEY',
    async (mode) => {
      const path = join(dir, 'k');
      const key = randomBytes(32);
      await fsp.writeFile(path, key, { mode: 0o600 });
      await fsp.chmod(path, mode);
      const err = expectKeystoreError(
        await thrown(() => new FileKeyProvider(path).getSealingKey()),
        'KEYSTORE_BAD_KEY',
        forbiddenText({ keys: [key] }),
      );
      expect(err.message).toContain('chmod 600');
    },
  );

  it.each([0, 31, 33, 64])('refuses a %i-byte key file as KEYSTORE_BAD_KEY', async (size) => {
    const path = join(dir, 'k');
    const key = randomBytes(size);
    await fsp.writeFile(path, key, { mode: 0o600 });
    expectKeystoreError(
      await thrown(() => new FileKeyProvider(path).getSealingKey()),
      'KEYSTORE_BAD_KEY',
      size > 0 ? forbiddenText({ keys: [key] }) : [],
    );
  });

  it('a missing key file or a directory is KEYSTORE_BAD_KEY', async () => {
    for (const path of [join(dir, 'absent'), dir]) {
      expectKeystoreError(
        await thrown(() => new FileKeyProvider(path).getSealingKey()),
        'KEYSTORE_BAD_KEY',
      );
    }
  });

  it('create in a missing directory is KEYSTORE_WRITE_FAILED', async () => {
    expectKeystoreError(
      await thrown(() => FileKeyProvider.create(join(dir, 'no', 'such', 'k'))),
      'KEYSTORE_WRITE_FAILED',
    );
  });

  it('a failed fsync during create leaves no key file and no temp file', async () => {
    const path = join(dir, 'k');
    const fs = faultyFs((call, p) =>
      call === 'sync' && p.includes('.tmp-') ? ioError('EIO') : undefined,
    );
    expectKeystoreError(
      await thrown(() => FileKeyProvider.create(path, { fs })),
      'KEYSTORE_WRITE_FAILED',
    );
    await expect(fsp.stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await tempFiles(dir)).toEqual([]);
  });
});

describe('StaticKeyProvider', () => {
  it('keeps a copy of the key and returns fresh copies', async () => {
    const key = new Uint8Array(randomBytes(32));
    const provider = new StaticKeyProvider(key);
    const expected = key.slice();
    key.fill(0);
    const a = await provider.getSealingKey();
    expect(a).toEqual(expected);
    a.fill(0);
    expect(await provider.getSealingKey()).toEqual(expected);
    expect(provider.kind).toBe('static');
  });

  it('rejects a key that is not 32 bytes', async () => {
    const key = new Uint8Array(randomBytes(31));
    expectKeystoreError(
      await thrown(() => new StaticKeyProvider(key)),
      'KEYSTORE_BAD_KEY',
      forbiddenText({ keys: [key] }),
    );
  });

  it('generate() makes distinct random keys', async () => {
    const a = await StaticKeyProvider.generate().getSealingKey();
    const b = await StaticKeyProvider.generate().getSealingKey();
    expect(a).toHaveLength(32);
    expect(a).not.toEqual(b);
  });
});
