import { createServer, type Server } from 'node:net';
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import { silentLogger } from '../runtime/logger.js';
import { MemoryQueue } from '../spool/memory-queue.js';
import { backoffDelay } from './backoff.js';
import { TunnelClient } from './client.js';
import type { TunnelError } from './errors.js';
import { ed25519Identity } from './identity.js';

/** A clock whose timers fire only when the test says so; records every delay asked for. */
class ManualClock implements Clock {
  t = 1_763_000_000_000;
  readonly delays: number[] = [];
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.delays.push(ms);
    this.#timers.set(id, { at: this.t + ms, fn });
    return id as unknown as TimerHandle;
  }
  clearTimeout(h: TimerHandle): void {
    this.#timers.delete(h as unknown as number);
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
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = until;
  }
}

describe('TunnelClient reconnect schedule', () => {
  let server: Server | undefined;
  let client: TunnelClient | undefined;
  afterEach(async () => {
    await client?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    client = server = undefined;
  });

  it('waits capped exponential delays with full jitter between failed attempts, from the backoff policy', async () => {
    // A port that accepts TCP and drops it at once: every attempt fails fast.
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const clock = new ManualClock();
    const policy = { baseMs: 1000, capMs: 8000 };
    const random = (): number => 0.5;
    client = new TunnelClient({
      url: `wss://127.0.0.1:${port}/v1/tunnel`,
      tls: { ca: 'unused', cert: 'unused', key: 'unused' },
      deviceId: 'dev-1',
      agentVersion: 'test',
      identity: ed25519Identity(nacl.sign.keyPair().secretKey),
      hubIdentityKey: new Uint8Array(32),
      queue: new MemoryQueue(),
      clock,
      logger: silentLogger,
      backoff: policy,
      random,
      handshakeTimeoutMs: 60_000,
    });
    const downs: TunnelError[] = [];
    client.on('down', (e) => downs.push(e));
    client.start();
    const expected: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const before = downs.length;
      const deadline = Date.now() + 5000;
      while (downs.length === before && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      expect(downs.length, `attempt ${attempt} failed`).toBe(before + 1);
      expected.push(backoffDelay(attempt, policy, random));
      expect(client.state).toBe('waiting');
      expect(clock.delays.at(-1)).toBe(expected.at(-1));
      // Nothing happens until the delay has passed on the injected clock.
      clock.advance(expected.at(-1)! - 1);
      expect(client.state).toBe('waiting');
      clock.advance(1);
      expect(client.state).toBe('connecting');
    }
    expect(expected).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
  });
});
