import { afterEach, describe, expect, it } from 'vitest';
import { applyServiceProcessSettings } from './agent.js';

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
