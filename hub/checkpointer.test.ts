import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Checkpointer, type CheckpointResult } from './checkpointer.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

describe('Checkpointer', () => {
  it('checkpoints a WAL database from its worker, one checkpoint at a time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-ckpt-'));
    try {
      const path = join(dir, 'x.db');
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('wal_autocheckpoint = 0');
      db.exec('CREATE TABLE t (x TEXT)');
      const insert = db.prepare('INSERT INTO t VALUES (?)');
      db.transaction(() => {
        for (let i = 0; i < 200; i++) insert.run('y'.repeat(1000));
      })();
      const results: CheckpointResult[] = [];
      const c = new Checkpointer(path, (r) => results.push(r));
      expect(c.request()).toBe(true);
      expect(c.running).toBe(true);
      expect(c.request()).toBe(false); // one at a time
      await until(() => results.length === 1);
      expect(c.running).toBe(false);
      expect(c.completed).toBe(1);
      expect(results[0]!.busy).toBe(0);
      expect(results[0]!.log).toBeGreaterThan(0);
      // Every frame of the WAL is in the database file now.
      expect(results[0]!.checkpointed).toBe(results[0]!.log);
      expect(c.failed).toBeUndefined();
      c.close();
      expect(c.request()).toBe(false);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a worker that cannot open the database as failed, and starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-ckpt-'));
    try {
      const failures: Error[] = [];
      const c = new Checkpointer(
        join(dir, 'missing.db'),
        () => undefined,
        (err) => failures.push(err),
      );
      await until(() => c.failed !== undefined);
      expect(c.failed).toBeInstanceOf(Error);
      await until(() => failures.length > 0, 1000);
      expect(failures).toEqual([c.failed]); // told once
      expect(c.request()).toBe(false);
      c.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('returns from close only once the worker has closed its connection, after its checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-ckpt-'));
    try {
      const path = join(dir, 'x.db');
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (x TEXT)');
      db.prepare('INSERT INTO t VALUES (?)').run('y'.repeat(1000));
      // A slow disk: the worker is 300 ms into its checkpoint when it is asked to close.
      const results: CheckpointResult[] = [];
      const c = new Checkpointer(path, (r) => results.push(r), undefined, 300);
      await until(() => c.request());
      expect(c.close()).toBe(true);
      // The worker's connection is closed, so this one is SQLite's last: it checkpoints and
      // deletes the WAL as it closes (it would not if the worker still held the database).
      expect(existsSync(`${path}-wal`)).toBe(true);
      db.close();
      expect(existsSync(`${path}-wal`)).toBe(false);
      expect(c.close()).toBe(true); // a second close says the same, at once
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not wait at close for a worker that could not open the database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-ckpt-'));
    try {
      const c = new Checkpointer(join(dir, 'missing.db'), () => undefined);
      const t0 = Date.now();
      expect(c.close()).toBe(true); // closed straight after start: the open fails, no wait
      expect(Date.now() - t0).toBeLessThan(5000); // far from the 10 s bound
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
