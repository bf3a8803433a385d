import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyServiceProcessSettings, startPeriodicFullGc } from './agent.js';

describe('applyServiceProcessSettings', () => {
  const poolSize = Buffer.poolSize;
  afterEach(() => {
    Buffer.poolSize = poolSize;
  });

  it('gives every small buffer its own store instead of a slice of the shared 8 KiB slab', () => {
    // Node's default: a 12-byte Modbus request is a view into the pool's slab.
    expect(Buffer.allocUnsafe(12).buffer.byteLength).toBe(poolSize);
    applyServiceProcessSettings();
    expect(Buffer.poolSize).toBe(0);
    for (const b of [Buffer.allocUnsafe(12), Buffer.from('ping'), Buffer.from([1, 2, 3])])
      expect(b.buffer.byteLength).toBe(b.length);
  });
});

describe('startPeriodicFullGc', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const quiet = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };

  it('collects every interval once started, and no more once stopped', () => {
    vi.useFakeTimers();
    const gc = vi.fn();
    const stop = startPeriodicFullGc(600_000, quiet, gc);
    vi.advanceTimersByTime(599_999);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(gc).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1_200_000);
    expect(gc).toHaveBeenCalledTimes(3);
    stop();
    vi.advanceTimersByTime(3_600_000);
    expect(gc).toHaveBeenCalledTimes(3);
  });

  it('does nothing when node does not expose gc, or when the interval is 0', () => {
    vi.useFakeTimers();
    const log = { ...quiet, debug: vi.fn(), info: vi.fn() };
    startPeriodicFullGc(600_000, log, undefined)();
    expect(log.debug).toHaveBeenCalledWith(
      expect.stringContaining('--expose-gc'),
      expect.anything(),
    );
    const gc = vi.fn();
    startPeriodicFullGc(0, log, gc);
    vi.advanceTimersByTime(86_400_000);
    expect(gc).not.toHaveBeenCalled();
    expect(log.info).not.toHaveBeenCalled();
  });

  it('keeps no process alive on its own (the timer is unref-ed)', () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const stop = startPeriodicFullGc(600_000, quiet, () => undefined);
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    stop();
    spy.mockRestore();
  });
});
