import { describe, expect, it } from 'vitest';
import { MemorySpoolFs } from './memory-spool-fs.js';

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);
const codeOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e as { code?: string }).code,
  );

async function withFile(
  fs: MemorySpoolFs,
  path: string,
  data: Uint8Array,
  sync: boolean,
): Promise<void> {
  const f = await fs.open(path, 'create');
  await f.write(data, 0);
  if (sync) await f.sync();
  await f.close();
}

describe('MemorySpoolFs (stricter than a disk)', () => {
  it('loses what was not synced, and a name whose directory was not synced', async () => {
    const fs = new MemorySpoolFs();
    await fs.mkdir('/d');
    await withFile(fs, '/d/synced', bytes(1, 2, 3), true);
    await withFile(fs, '/d/unsynced', bytes(4, 5), false);
    await fs.syncDir('/d');
    await withFile(fs, '/d/late', bytes(6), true); // file synced, directory not
    const after = fs.crash();
    expect(after.list('/d')).toEqual(['synced', 'unsynced']);
    expect(after.contents('/d/synced')).toEqual(bytes(1, 2, 3));
    expect(after.contents('/d/unsynced')).toEqual(bytes());
  });

  it('makes renames and unlinks durable only with the directory sync', async () => {
    const fs = new MemorySpoolFs();
    await fs.mkdir('/d');
    await withFile(fs, '/d/a', bytes(1), true);
    await withFile(fs, '/d/b', bytes(2), true);
    await fs.syncDir('/d');
    await fs.rename('/d/a', '/d/c');
    await fs.unlink('/d/b');
    expect(fs.list('/d')).toEqual(['c']);
    expect(fs.crash().list('/d')).toEqual(['a', 'b']);
  });

  it('brings a truncated file back to its synced length after a crash', async () => {
    const fs = new MemorySpoolFs();
    await fs.mkdir('/d');
    await withFile(fs, '/d/f', bytes(1, 2, 3, 4), true);
    await fs.syncDir('/d');
    const f = await fs.open('/d/f', 'update');
    await f.truncate(1);
    expect(fs.contents('/d/f')).toEqual(bytes(1));
    expect(fs.crash().contents('/d/f')).toEqual(bytes(1, 2, 3, 4));
  });

  it('keeps any prefix of the unsynced tail on request, as written or as garbage', async () => {
    const fs = new MemorySpoolFs();
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'create');
    await f.write(bytes(1, 2), 0);
    await f.sync();
    await fs.syncDir('/d');
    await f.write(bytes(3, 4, 5), 2);
    expect(fs.crash({ keepUnsynced: () => 2 }).contents('/d/f')).toEqual(bytes(1, 2, 3, 4));
    const g = new MemorySpoolFs();
    await g.mkdir('/d');
    const h = await g.open('/d/f', 'create');
    await h.write(bytes(1), 0);
    await h.sync();
    await g.syncDir('/d');
    await h.write(bytes(9, 9), 1);
    expect(g.crash({ keepUnsynced: (_, n) => n, garbage: 0 }).contents('/d/f')).toEqual(
      bytes(1, 0, 0),
    );
  });

  it('fails the N-th call, tears a write, and fills up', async () => {
    const fs = new MemorySpoolFs({
      fault: (c) =>
        c.op === 'write' && c.n === 2
          ? { tear: 1, error: 'EIO' }
          : c.op === 'sync' && c.n === 1
            ? { error: 'EIO' }
            : undefined,
    });
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'create');
    await f.write(bytes(1, 2), 0);
    expect(await codeOf(f.write(bytes(3, 4, 5), 2))).toBe('EIO');
    expect(fs.contents('/d/f')).toEqual(bytes(1, 2, 3));
    expect(await codeOf(f.sync())).toBe('EIO');
    expect(await codeOf(f.sync())).toBe('resolved');
    expect(fs.count('write')).toBe(2);
    fs.setCapacity(5);
    expect(await codeOf(f.write(bytes(6, 7, 8), 3))).toBe('ENOSPC');
    expect(fs.contents('/d/f')).toEqual(bytes(1, 2, 3, 6, 7));
  });

  it('dies at a power cut: every later call fails, and reboot shows what survived', async () => {
    const fs = new MemorySpoolFs({
      fault: (c) => (c.op === 'write' && c.n === 2 ? { crash: true, tear: 1 } : undefined),
    });
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'create');
    await f.write(bytes(1), 0);
    await f.sync();
    await fs.syncDir('/d');
    expect(await codeOf(f.write(bytes(2, 3), 1))).toBe('EIO');
    expect(fs.dead).toBe(true);
    expect(await codeOf(f.sync())).toBe('EIO');
    expect(await codeOf(fs.readdir('/d'))).toBe('EIO');
    const after = fs.reboot({ keepUnsynced: (_, n) => n });
    expect(after.contents('/d/f')).toEqual(bytes(1, 2));
    expect(await codeOf(after.readdir('/d'))).toBe('resolved');
  });

  it('lets a crash land while a call is under way: the call has no effect', async () => {
    const fs = new MemorySpoolFs();
    await fs.mkdir('/d');
    await withFile(fs, '/d/f', bytes(1), true);
    const pending = fs.syncDir('/d');
    const after = fs.crash();
    expect(await codeOf(pending)).toBe('EIO');
    expect(after.list('/d')).toEqual([]);
  });
});
