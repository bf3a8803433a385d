/**
 * The fault proxy on real loopback sockets: each fault does what it says, and nothing else
 * (bytes arrive intact and in order through slicing, latency and jitter; TLS goes end to end).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestPki } from '../hub/index.js';
import { applyPatch, cleanFaults, cut, startFaultProxy, type FaultProxy } from './fault-proxy.js';

interface Upstream {
  port: number;
  sockets: Socket[];
  /** Bytes received per connection, in arrival order. */
  received: Buffer[][];
  server: Server;
}

/** A TCP server that records what it receives and, if `echo`, sends it back. */
async function upstream(echo: boolean): Promise<Upstream> {
  const u: Upstream = { port: 0, sockets: [], received: [], server: createServer() };
  u.server.on('connection', (s) => {
    const chunks: Buffer[] = [];
    u.sockets.push(s);
    u.received.push(chunks);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      if (echo) s.write(d);
    });
  });
  u.server.listen(0, '127.0.0.1');
  await once(u.server, 'listening');
  u.port = (u.server.address() as AddressInfo).port;
  return u;
}

/** Resolves on 'close' (events.once would reject on the 'error' that comes before it). */
const closeOf = (s: Socket): Promise<true> => new Promise((r) => s.once('close', () => r(true)));

async function until(predicate: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

async function dial(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Reads until `n` bytes arrived (or rejects after `ms`). */
async function readN(s: Socket, n: number, ms = 5000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got}/${n} bytes in ${ms} ms`)), ms);
    const on = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        clearTimeout(timer);
        s.off('data', on);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', on);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A deterministic generator, so slicing and jitter are reproducible. */
function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(
  echo: boolean,
  o: Partial<Parameters<typeof startFaultProxy>[0]> = {},
): Promise<{ up: Upstream; proxy: FaultProxy }> {
  const up = await upstream(echo);
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of up.sockets) s.destroy();
        up.server.close(() => r());
      }),
  );
  const proxy = await startFaultProxy({ target: { port: up.port }, random: seeded(7), ...o });
  cleanup.push(() => proxy.close());
  return { up, proxy };
}

describe('fault proxy', () => {
  it('carries bytes intact and in order through slicing, latency and jitter, both ways', async () => {
    const { up, proxy } = await setup(true, {
      faults: { both: { slice: { min: 1, max: 7 }, latencyMs: 5, jitterMs: 20 } },
    });
    const c = await dial(proxy.port);
    cleanup.push(() => void c.destroy());
    const data = randomBytes(20_000);
    // Written in uneven pieces, some back to back, so jitter would reorder them if it could.
    for (let i = 0; i < data.length;) {
      const n = 1 + Math.floor(Math.random() * 3000);
      c.write(data.subarray(i, i + n));
      i += n;
      if (i % 2 === 0) await sleep(1);
    }
    const echoed = await readN(c, data.length, 20_000);
    expect(echoed.equals(data)).toBe(true);
    const atServer = Buffer.concat(up.received[0]!);
    expect(atServer.equals(data)).toBe(true);
    // Slicing really cut it: without it, 20 kB arrive in a handful of reads.
    expect(up.received[0]!.length).toBeGreaterThan(data.length / 100);
    expect(Math.max(...up.received[0]!.map((b) => b.length))).toBeLessThan(1000);
    expect(proxy.stats.bytesUp).toBe(data.length);
    expect(proxy.stats.bytesDown).toBe(data.length);
  });

  it('carries TLS end to end (it never terminates it), sliced into 1-7 byte pieces', async () => {
    const pki = await createTestPki({ deviceIds: [], hubName: 'proxy-test' });
    const server = createTlsServer(
      { cert: pki.server.certPem, key: pki.server.keyPem, minVersion: 'TLSv1.3' },
      (s) => s.pipe(s),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const proxy = await startFaultProxy({
      target: { port: (server.address() as AddressInfo).port },
      faults: { both: { slice: { min: 1, max: 7 }, jitterMs: 3 } },
    });
    cleanup.push(() => proxy.close());
    const c = tlsConnect({
      port: proxy.port,
      host: '127.0.0.1',
      ca: pki.ca.certPem,
      servername: 'localhost',
    });
    c.on('error', () => undefined);
    cleanup.push(() => void c.destroy());
    await once(c, 'secureConnect');
    expect(c.authorized).toBe(true);
    const data = randomBytes(5000);
    c.write(data);
    expect((await readN(c, data.length, 20_000)).equals(data)).toBe(true);
  });

  it('adds latency per direction', async () => {
    const { proxy } = await setup(true);
    const c = await dial(proxy.port);
    cleanup.push(() => void c.destroy());
    const rtt = async (): Promise<number> => {
      const t0 = performance.now();
      c.write('x');
      await readN(c, 1);
      return performance.now() - t0;
    };
    expect(await rtt()).toBeLessThan(150);
    proxy.set({ up: { latencyMs: 120 }, down: { latencyMs: 60 } });
    expect(await rtt()).toBeGreaterThanOrEqual(175);
    proxy.heal();
    expect(await rtt()).toBeLessThan(150);
  });

  it('limits bandwidth, pausing the sender so memory stays bounded', async () => {
    const { up, proxy } = await setup(false, { maxQueuedBytes: 32 * 1024 });
    proxy.set({ up: { bytesPerSecond: 200_000 } });
    const c = await dial(proxy.port);
    cleanup.push(() => void c.destroy());
    await sleep(20);
    const t0 = performance.now();
    const data = randomBytes(150_000);
    c.write(data);
    while (up.received[0]!.reduce((n, b) => n + b.length, 0) < data.length) {
      if (performance.now() - t0 > 5000) throw new Error('bandwidth-limited data never arrived');
      await sleep(10);
    }
    const elapsed = performance.now() - t0;
    // 150 kB at 200 kB/s: about 750 ms (the first chunk goes at once).
    expect(elapsed).toBeGreaterThan(550);
    expect(elapsed).toBeLessThan(2500);
    expect(Buffer.concat(up.received[0]!).equals(data)).toBe(true);
    // The queue never held much more than its bound plus one read.
    expect(proxy.stats.peakQueuedBytes).toBeLessThanOrEqual(32 * 1024 + 65_536);
  });

  it('resets a connection: the client sees ECONNRESET, the server a close', async () => {
    const { up, proxy } = await setup(true);
    const c = await dial(proxy.port);
    c.write('hello');
    await readN(c, 5);
    const err = new Promise<NodeJS.ErrnoException>((r) => c.once('error', r));
    const serverClosed = closeOf(up.sockets[0]!);
    expect(proxy.reset()).toBe(1);
    expect((await err).code).toBe('ECONNRESET');
    await serverClosed;
    expect(proxy.stats.resets).toBe(1);
    expect(proxy.stats.open).toBe(0);
  });

  it('resets with a probability per chunk', async () => {
    const { proxy } = await setup(true);
    proxy.set({ resetPerChunk: 1 });
    const c = await dial(proxy.port);
    const err = new Promise<NodeJS.ErrnoException>((r) => c.once('error', r));
    c.write('hello');
    expect((await err).code).toBe('ECONNRESET');
  });

  it('half-open upstream: the client stays open but nothing reaches the server, replies still flow', async () => {
    const { up, proxy } = await setup(false);
    const c = await dial(proxy.port);
    cleanup.push(() => void c.destroy());
    c.write('before');
    await sleep(50);
    expect(Buffer.concat(up.received[0]!).toString()).toBe('before');
    proxy.set({ up: { halted: true } });
    c.write('after');
    await sleep(150);
    expect(Buffer.concat(up.received[0]!).toString()).toBe('before');
    // Down still works: the path died one way only.
    up.sockets[0]!.write('reply');
    expect((await readN(c, 5)).toString()).toBe('reply');
    // Lifting the fault does not bring the broken stream back...
    proxy.heal();
    c.write('later');
    await sleep(100);
    expect(Buffer.concat(up.received[0]!).toString()).toBe('before');
    expect(c.destroyed).toBe(false);
    // ...and a close from the dead side never crosses.
    const serverClosed = closeOf(up.sockets[0]!);
    c.destroy();
    expect(await Promise.race([serverClosed, sleep(200).then(() => false)])).toBe(false);
    // But a new connection works.
    const d = await dial(proxy.port);
    cleanup.push(() => void d.destroy());
    d.write('fresh');
    await sleep(50);
    expect(Buffer.concat(up.received[1]!).toString()).toBe('fresh');
  });

  it('half-open both ways starves the client without closing it', async () => {
    const { up, proxy } = await setup(true);
    const c = await dial(proxy.port);
    cleanup.push(() => void c.destroy());
    await until(() => up.sockets.length === 1);
    proxy.set({ both: { halted: true } });
    let got = 0;
    c.on('data', (d: Buffer) => (got += d.length));
    const closed = closeOf(c);
    c.write('ping');
    up.sockets[0]!.write('unsolicited');
    up.sockets[0]!.destroy();
    expect(await Promise.race([closed, sleep(300).then(() => false)])).toBe(false);
    expect(got).toBe(0);
    expect(c.destroyed).toBe(false);
    expect(proxy.stats.bytesDiscarded).toBeGreaterThan(0);
  });

  it('drops turn a connection into a black hole (no data, no FIN, no RST)', async () => {
    const { up, proxy } = await setup(true);
    const c = await dial(proxy.port);
    cleanup.push(() => void c.destroy());
    c.write('one');
    await readN(c, 3);
    proxy.set({ dropPerChunk: 1 });
    let got = 0;
    c.on('data', (d: Buffer) => (got += d.length));
    const closed = closeOf(c);
    c.write('two');
    await sleep(200);
    expect(got).toBe(0);
    expect(Buffer.concat(up.received[0]!).toString()).toBe('one');
    expect(await Promise.race([closed, sleep(10).then(() => false)])).toBe(false);
    expect(proxy.stats.drops).toBe(1);
    expect(proxy.blackhole()).toBe(1); // already a black hole: not counted twice
    expect(proxy.stats.drops).toBe(1);
  });

  it('stalls new connections: accepted, never connected upstream, never answered', async () => {
    const { up, proxy } = await setup(true);
    proxy.set({ accept: 'stall' });
    const c = await dial(proxy.port);
    let got = 0;
    c.on('data', (d: Buffer) => (got += d.length));
    const closed = closeOf(c);
    c.write('hello?');
    expect(await Promise.race([closed, sleep(250).then(() => false)])).toBe(false);
    expect(got).toBe(0);
    expect(up.sockets.length).toBe(0);
    expect(proxy.stats.stalled).toBe(1);
    expect(proxy.stats.open).toBe(1);
    // Closing the proxy closes the hanging connection.
    await proxy.close();
    await closed;
  });

  it('refuses new connections with a reset', async () => {
    const { proxy } = await setup(true);
    proxy.set({ accept: 'refuse' });
    const c = connect(proxy.port, '127.0.0.1');
    const err = await new Promise<NodeJS.ErrnoException>((r) => c.once('error', r));
    expect(err.code).toBe('ECONNRESET');
  });

  it('an upstream that is down closes the client at once', async () => {
    const { up, proxy } = await setup(true);
    await new Promise<void>((r) => up.server.close(() => r()));
    const c = await dial(proxy.port);
    await once(c, 'close');
  });

  it('delivers what it holds after a FIN before closing the other side', async () => {
    const { up, proxy } = await setup(false);
    proxy.set({ up: { latencyMs: 100 } });
    const c = await dial(proxy.port);
    c.end('last words');
    await until(() => up.sockets.length === 1);
    await once(up.sockets[0]!, 'end');
    expect(Buffer.concat(up.received[0]!).toString()).toBe('last words');
  });

  it('leaves no timer or socket behind when closed mid-flight', async () => {
    const timers = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
    const baseline = timers();
    const up = await upstream(true);
    const proxy = await startFaultProxy({
      target: { port: up.port },
      faults: { both: { latencyMs: 10_000, slice: { min: 1, max: 2 } } },
    });
    const c = await dial(proxy.port);
    c.write(randomBytes(10_000));
    await sleep(50);
    expect(timers()).toBeGreaterThan(baseline);
    await proxy.close();
    await once(c, 'close');
    expect(proxy.stats.open).toBe(0);
    expect(timers()).toBe(baseline);
    await new Promise<void>((r) => up.server.close(() => r()));
  });
});

describe('fault settings', () => {
  it('merges patches field by field and refuses values out of range', () => {
    const f = applyPatch(cleanFaults(), { both: { latencyMs: 5 }, down: { jitterMs: 3 } });
    expect(f.up).toMatchObject({ latencyMs: 5, jitterMs: 0 });
    expect(f.down).toMatchObject({ latencyMs: 5, jitterMs: 3 });
    expect(() => applyPatch(f, { up: { latencyMs: -1 } })).toThrow(/up\.latencyMs/);
    expect(() => applyPatch(f, { dropPerChunk: 2 })).toThrow(RangeError);
    expect(() => applyPatch(f, { both: { slice: { min: 0, max: 3 } } })).toThrow(/slice/);
  });

  it('cuts into pieces within the bounds that add up to the input', () => {
    const d = randomBytes(1000);
    const pieces = cut(d, 1, 7, seeded(3));
    expect(Buffer.concat(pieces).equals(d)).toBe(true);
    for (const p of pieces.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(7);
    expect(new Set(pieces.map((p) => p.length)).size).toBeGreaterThan(3);
  });
});
