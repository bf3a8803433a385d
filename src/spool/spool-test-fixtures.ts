/**
 * Test helpers for the spool (not public API): a manual clock, self-checking bodies and a
 * spool opener over a {@link MemorySpoolFs}.
 */
import type { Clock, TimerHandle } from '../runtime/clock.js';
import { FileSpool } from './file-spool.js';
import type { FileSpoolOptions } from './file-spool-options.js';
import type { MemorySpoolFs } from './memory-spool-fs.js';
import type { Lane, QueuedRecord } from './queue.js';

/** Timers fire only when the test moves time with {@link advance}. */
export class ManualClock implements Clock {
  t = 1_763_000_000_000;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.t + ms, fn });
    return id as unknown as TimerHandle;
  }
  clearTimeout(h: TimerHandle): void {
    this.#timers.delete(h as unknown as number);
  }
  get pending(): number {
    return this.#timers.size;
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = [...this.#timers.entries()]
        .filter(([, v]) => v.at <= until)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = until;
  }
}

/**
 * A body that carries its own identity and checks itself: `id` (u32 LE), `len` (u32 LE), then
 * bytes derived from both. `len` >= 8.
 */
export function makeBody(id: number, len: number): Uint8Array {
  const b = new Uint8Array(Math.max(8, len));
  const v = new DataView(b.buffer);
  v.setUint32(0, id, true);
  v.setUint32(4, b.length, true);
  for (let i = 8; i < b.length; i++) b[i] = (id * 31 + i * 7) & 0xff;
  return b;
}

/** The id of a self-checking body, or undefined if it is damaged. */
export function bodyId(b: Uint8Array): number | undefined {
  if (b.length < 8) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const id = v.getUint32(0, true);
  if (v.getUint32(4, true) !== b.length) return undefined;
  for (let i = 8; i < b.length; i++) if (b[i] !== ((id * 31 + i * 7) & 0xff)) return undefined;
  return id;
}

export const typeOf = (lane: Lane): 'alarm' | 'telemetry' | 'commandResult' =>
  lane === 'alarm' ? 'alarm' : lane === 'telemetry' ? 'telemetry' : 'commandResult';

export const DIR = '/spool';

/** Opens a spool on `fs` with small, test-friendly defaults. */
export function openSpool(
  fs: MemorySpoolFs,
  clock: ManualClock,
  options: Partial<FileSpoolOptions> = {},
): Promise<FileSpool> {
  return FileSpool.open({
    dir: DIR,
    fs,
    clock,
    segmentBytes: 1024,
    groupCommitMs: 5,
    groupCommitRecords: 4,
    persistDelayMs: 2,
    retryDelayMs: 50,
    ...options,
  });
}

/** Everything `next()` will ever give, acking as it goes (loading bodies as needed). */
export async function drain(spool: FileSpool): Promise<QueuedRecord[]> {
  const out: QueuedRecord[] = [];
  for (;;) {
    await spool.settle();
    const batch = spool.next(1000);
    if (batch.length === 0) {
      if (spool.stats().records === 0) return out;
      await spool.settle();
      if (spool.next(1).length === 0 && spool.stats().records > 0) {
        throw new Error(`drain stuck with ${spool.stats().records} records left`);
      }
      continue;
    }
    out.push(...batch);
    spool.ack(Math.max(...batch.map((r) => r.seq)));
  }
}
