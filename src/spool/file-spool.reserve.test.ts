/**
 * A full disk must not wedge the spool: deleting acked segments needs a state write first,
 * and on a full disk that write needs the reserve the spool keeps for itself.
 */
import { describe, expect, it } from 'vitest';
import { SpoolError } from './errors.js';
import { MemorySpoolFs } from './memory-spool-fs.js';
import { RESERVE_FILE } from './reserve.js';
import { DIR, ManualClock, makeBody, openSpool } from './spool-test-fixtures.js';

async function fillUntilFull(
  spool: Awaited<ReturnType<typeof openSpool>>,
  clock: ManualClock,
): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < 10_000; i++) {
    const append = spool.append({ lane: 'telemetry', type: 'telemetry', body: makeBody(i, 200) });
    clock.advance(10);
    try {
      await append;
      accepted++;
    } catch (err) {
      expect(err).toBeInstanceOf(SpoolError);
      expect((err as SpoolError).code).toBe('SPOOL_DISK_FULL');
      return accepted;
    }
  }
  throw new Error('the disk never filled');
}

describe('FileSpool on a full disk', () => {
  it('gives up its reserve to save the state, deletes acked segments and accepts again', async () => {
    const fs = new MemorySpoolFs({ capacity: 96 * 1024 });
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { reserveBytes: 8 * 1024, persistDelayMs: 1 });
    expect((await fs.readdir(DIR)).includes(RESERVE_FILE)).toBe(true);
    const accepted = await fillUntilFull(spool, clock);
    expect(accepted).toBeGreaterThan(50);
    // The hub acknowledges everything; only a state write (which needs space) can free it.
    spool.ack(spool.stats().lastSeq);
    clock.advance(5);
    await spool.settle();
    expect(spool.stats().lastError?.code ?? 'none').not.toBe('SPOOL_WRITE_FAILED');
    expect(spool.stats().segments).toBeLessThanOrEqual(2);
    // Space is back: an alarm is accepted, and the reserve is taken again.
    const alarm = spool.append({ lane: 'alarm', type: 'alarm', body: makeBody(99_999, 50) });
    clock.advance(10);
    await expect(alarm).resolves.toMatchObject({ lane: 'alarm' });
    await spool.settle();
    expect((await fs.readdir(DIR)).includes(RESERVE_FILE)).toBe(true);
    await spool.close();
  });

  it('without a reserve the same disk stays wedged (what the reserve is for)', async () => {
    const fs = new MemorySpoolFs({ capacity: 96 * 1024 });
    const clock = new ManualClock();
    const spool = await openSpool(fs, clock, { reserveBytes: 0, persistDelayMs: 1 });
    await fillUntilFull(spool, clock);
    spool.ack(spool.stats().lastSeq);
    clock.advance(5);
    await spool.settle();
    expect(spool.stats().lastError?.code).toBe('SPOOL_DISK_FULL');
    const alarm = spool.append({ lane: 'alarm', type: 'alarm', body: makeBody(99_999, 50) });
    clock.advance(10);
    await expect(alarm).rejects.toMatchObject({ code: 'SPOOL_DISK_FULL' });
    await spool.close().catch(() => undefined);
  });
});
