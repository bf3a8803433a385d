import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { jsonLogger } from './logger.js';

/** A stream whose reader has stopped: nothing written is taken until `release()`. */
function stuckStream(): { stream: Writable; lines: () => string[]; release: () => void } {
  const taken: string[] = [];
  let held: Array<() => void> = [];
  const stream = new Writable({
    // As for process.stdout on a pipe, the limit is well above the stream's own high-water mark.
    highWaterMark: 256,
    write(chunk: Buffer, _enc, done) {
      taken.push(chunk.toString());
      held.push(done);
    },
  });
  return {
    stream,
    lines: () => taken.join('').split('\n').filter(Boolean),
    release: () => {
      // Each completed write lets the stream hand over the next one buffered behind it.
      while (held.length > 0) {
        const now = held;
        held = [];
        for (const done of now) done();
      }
    },
  };
}

describe('jsonLogger', () => {
  it('writes one JSON object per line, at or above its level', () => {
    const out: string[] = [];
    const log = jsonLogger({ level: 'info', name: 'unit', write: (l) => out.push(l) });
    log.debug('hidden');
    log.warn('poll failed', { code: 'ADAPTER_TIMEOUT' });
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0]!)).toMatchObject({
      level: 'warn',
      name: 'unit',
      msg: 'poll failed',
      code: 'ADAPTER_TIMEOUT',
    });
  });

  it('drops and counts lines while the stream holds more than its limit unread, then says so', async () => {
    const s = stuckStream();
    const log = jsonLogger({ name: 'unit', stream: s.stream, maxBufferedBytes: 1024 });
    for (let i = 0; i < 200; i++) log.info('line', { i, pad: 'é'.repeat(30) });
    // About 1 KiB of lines (counted in bytes: 'é' is two) was let in; the rest was counted.
    expect(s.stream.writableLength).toBeLessThan(1024 + 200);
    s.release();
    await new Promise((r) => setImmediate(r));
    expect(s.stream.writableLength).toBe(0);
    // The stream drained: the count is written without waiting for another line.
    const notice = s
      .lines()
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => typeof l.dropped === 'number');
    expect(notice).toMatchObject({ level: 'warn', name: 'unit' });
    log.info('after');
    s.release();
    const lines = s.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    const kept = lines.filter((l) => l.msg === 'line');
    expect(kept.length).toBeGreaterThan(5);
    expect(kept.length).toBeLessThan(30);
    expect(kept.length + Number(notice!.dropped)).toBe(200);
    expect(lines.filter((l) => typeof l.dropped === 'number')).toHaveLength(1);
    expect(lines.at(-1)).toMatchObject({ msg: 'after' });
    // Lines that were kept are whole and in order.
    expect(kept.map((l) => l.i)).toEqual([...kept.keys()]);
  });
});
