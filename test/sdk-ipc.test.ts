/**
 * The out-of-process vendor-SDK binding against the REAL simulator endpoint over a REAL Unix
 * socket: the shared contract suite, then what only the IPC binding has (frames, protocol
 * version, endpoint error statuses, pipelining).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import {
  AdapterError,
  IpcSdkClient,
  SdkError,
  SdkFrameParser,
  encodeSdkFrame,
  vendorSdkAdapter,
} from '../src/index.js';
import { CONTRACT_TIMEOUT_MS, vendorSdkContract, type SdkHarness } from './sdk-contract.js';
import { waitFor } from './helpers.js';

async function ipcHarness(): Promise<SdkHarness> {
  const sim = await startSimulator({
    tickMs: 0,
    controlPort: false,
    sdk: true,
    workload: { enabled: false },
  });
  sim.model.step(120_000); // some uptime and cooling, so values are not all zero
  sim.model.expose(80, 200, 100);
  const endpoint = sim.sdk!;
  const sdk = new IpcSdkClient({ path: endpoint.path, timeoutMs: 2000, connectTimeoutMs: 1000 });
  return {
    sdk,
    counters: () => {
      const out: Record<string, { value: number; resolution: number }> = {};
      for (const [name, value] of Object.entries(sim.model.counters())) {
        out[name] = { value, resolution: resolutionOf(sim, name) };
      }
      return out;
    },
    activeCodes: () => sim.model.activeCodes(),
    raise: (code) => sim.inject(code),
    clear: (code) => sim.clear(code),
    fault: (kind, method) =>
      endpoint.inject(
        kind === 'delay'
          ? { kind, ms: CONTRACT_TIMEOUT_MS + 700, count: 1, method }
          : { kind, count: 1, method },
      ),
    down: () => endpoint.suspend(),
    up: () => endpoint.resume(),
    malformedCode: 'SDK_BAD_FRAME',
    log: {
      name: 'service.log',
      check: (bytes) => {
        const text = Buffer.from(bytes).toString('utf8');
        expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARN) /);
        expect(text).toMatch(/self-test step 1 .*\(serial XR200-SIM-0001\)\n/);
        expect(text.endsWith('\n')).toBe(true);
      },
    },
    close: async () => {
      await sdk.close();
      await sim.close();
    },
  };
}

/** The resolution the simulator's SDK reports for a counter (its register-map scale). */
function resolutionOf(sim: Simulator, name: string): number {
  return sim.registerMap.counters.find((c) => c.name === name)?.scale ?? 1;
}

vendorSdkContract('IpcSdkClient ↔ simulator endpoint (Unix socket)', ipcHarness);

describe('IpcSdkClient specifics', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function sim(): Promise<Simulator> {
    const s = await startSimulator({ tickMs: 0, controlPort: false, sdk: true });
    cleanups.push(() => s.close());
    return s;
  }

  /** A scripted endpoint: answers each request with `answer(request)` (or nothing). */
  async function scripted(
    answer: (req: { id: number; method: string }) => object | null,
  ): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-ipc-test-'));
    const path = join(dir, 'sdk.sock');
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      const parser = new SdkFrameParser();
      socket.on('data', (chunk: Buffer) => {
        for (const p of parser.push(chunk)) {
          const req = JSON.parse(Buffer.from(p).toString('utf8')) as { id: number; method: string };
          const reply = answer(req);
          if (reply !== null) socket.write(encodeSdkFrame(reply));
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(path, r));
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    });
    return path;
  }

  const hello = (id: number, protocol = 1): object => ({
    id,
    result: { sdkVersion: '9.9', protocol, model: 'X', serial: 'S' },
  });

  it('reports the device identity from hello', async () => {
    const s = await sim();
    const client = new IpcSdkClient({ path: s.sdk!.path });
    cleanups.push(() => client.close());
    expect(await client.connect()).toEqual({
      sdkVersion: '2.4.1',
      vendor: 'OUTPOST-SIM',
      model: 'XR-200',
      serial: 'XR200-SIM-0001',
      firmware: '1.8.0',
    });
    const adapter = vendorSdkAdapter(client);
    await adapter.connect();
    expect(adapter.info?.serial).toBe('XR200-SIM-0001');
  });

  it('refuses a reply frame over maxFrameBytes (SDK_FRAME_TOO_LARGE) and recovers', async () => {
    const s = await sim();
    const adapter = vendorSdkAdapter(new IpcSdkClient({ path: s.sdk!.path }), { timeoutMs: 500 });
    cleanups.push(() => adapter.close());
    await adapter.connect();
    s.sdk!.inject({ kind: 'oversize', count: 1, method: 'getActiveErrors' });
    await expect(adapter.readActiveErrors()).rejects.toMatchObject({
      code: 'SDK_FRAME_TOO_LARGE',
    });
    expect(adapter.health().connected).toBe(false);
    expect((await adapter.readActiveErrors()).codes).toEqual([]);
  });

  it('a client with a small maxFrameBytes refuses a large log chunk without buffering it', async () => {
    const s = await sim();
    const client = new IpcSdkClient({ path: s.sdk!.path, maxFrameBytes: 4096 });
    cleanups.push(() => client.close());
    await client.connect();
    await expect(client.readLog('service.log', 0, 64 * 1024)).rejects.toMatchObject({
      code: 'SDK_FRAME_TOO_LARGE',
    });
    expect(client.connected).toBe(false);
  });

  it('cannot connect to a socket nobody serves: ADAPTER_CONNECT_FAILED', async () => {
    const client = new IpcSdkClient({ path: join(tmpdir(), 'outpost-no-such-endpoint.sock') });
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect(err).toMatchObject({ code: 'ADAPTER_CONNECT_FAILED' });
    expect((err as Error).message).toMatch(/vendor SDK endpoint/);
  });

  it('gives up on an endpoint that accepts but never says hello, within connectTimeoutMs', async () => {
    const path = await scripted(() => null);
    const client = new IpcSdkClient({ path, connectTimeoutMs: 200 });
    const t0 = Date.now();
    const err = await client.connect().catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(err).toMatchObject({ code: 'ADAPTER_CONNECT_FAILED' });
    expect((err as Error).cause).toMatchObject({ code: 'SDK_TIMEOUT' });
  });

  it('refuses an endpoint of another protocol revision: SDK_INCOMPATIBLE', async () => {
    const path = await scripted((req) => hello(req.id, 2));
    const adapter = vendorSdkAdapter(new IpcSdkClient({ path }));
    cleanups.push(() => adapter.close());
    await expect(adapter.connect()).rejects.toMatchObject({ code: 'SDK_INCOMPATIBLE' });
    expect(adapter.health().lastErrorCode).toBe('SDK_INCOMPATIBLE');
  });

  it.each([
    [3, 'SDK_UNSUPPORTED'],
    [4, 'SDK_ERROR'],
    [5, 'SDK_NOT_FOUND'],
    [7, 'SDK_ERROR'],
    [8, 'SDK_TIMEOUT'],
    [1234, 'SDK_ERROR'],
  ] as const)('maps endpoint status %d to %s, keeping the status', async (status, code) => {
    const path = await scripted((req) =>
      req.method === 'hello'
        ? hello(req.id)
        : { id: req.id, error: { code: status, message: 'vendor says no' } },
    );
    const client = new IpcSdkClient({ path });
    cleanups.push(() => client.close());
    await client.connect();
    const err = await client.getCounters().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdkError);
    expect(err).toMatchObject({ code, sdkStatus: status });
    expect(client.connected).toBe(true); // an error status is not a broken link
  });

  it('drops the link when the endpoint refuses our stream (id null)', async () => {
    let first = true;
    const path = await scripted((req) => {
      if (req.method === 'hello') return hello(req.id);
      if (req.method === 'subscribe') return { id: req.id, result: { subscribed: true } };
      if (!first) return null;
      first = false;
      return { id: null, error: { code: 1, message: 'bad frame' } };
    });
    const client = new IpcSdkClient({ path });
    cleanups.push(() => client.close());
    const events: string[] = [];
    client.subscribe((e) => events.push(e.type));
    await client.connect();
    await expect(client.getCounters()).rejects.toMatchObject({ code: 'SDK_BAD_FRAME' });
    expect(client.connected).toBe(false);
    expect(events).toContain('disconnected');
  });

  it('pipelines requests and matches replies by id (several clients at once)', async () => {
    const s = await sim();
    s.inject(2003);
    const clients = [0, 1, 2].map(() => new IpcSdkClient({ path: s.sdk!.path }));
    for (const c of clients) cleanups.push(() => c.close());
    await Promise.all(clients.map((c) => c.connect()));
    const results = await Promise.all(
      clients.flatMap((c) => [c.getActiveErrors(), c.getCounters(), c.getActiveErrors()]),
    );
    expect(results.filter((r) => 'codes' in r)).toHaveLength(6);
    for (const r of results) if ('codes' in r) expect(r.codes).toEqual([2003]);
    expect(s.sdk!.stats().clients).toBe(3);
  });

  it('a late reply to a timed-out request is discarded, and the next request gets its own', async () => {
    const s = await sim();
    const client = new IpcSdkClient({ path: s.sdk!.path, timeoutMs: 150 });
    cleanups.push(() => client.close());
    await client.connect();
    s.sdk!.inject({ kind: 'delay', ms: 400, count: 1, method: 'getCounters' });
    await expect(client.getCounters()).rejects.toMatchObject({ code: 'SDK_TIMEOUT' });
    s.inject(2002);
    expect((await client.getActiveErrors()).codes).toEqual([2002]);
    await new Promise((r) => setTimeout(r, 350)); // the late getCounters reply arrives now
    expect(client.connected).toBe(true);
    expect((await client.getActiveErrors()).codes).toEqual([2002]);
  });

  it('re-arms its subscription on reconnect, so pushes resume after an endpoint restart', async () => {
    const s = await sim();
    const client = new IpcSdkClient({ path: s.sdk!.path });
    cleanups.push(() => client.close());
    const events: Array<{ type: string; code?: number }> = [];
    client.subscribe((e) => events.push(e));
    await client.connect();
    expect(s.sdk!.stats().subscribers).toBe(1);
    await s.sdk!.suspend();
    expect(await waitFor(() => events.some((e) => e.type === 'disconnected'), 2000)).toBe(true);
    await s.sdk!.resume();
    await client.connect();
    expect(s.sdk!.stats().subscribers).toBe(1);
    s.inject(1003);
    expect(await waitFor(() => events.some((e) => e.code === 1003), 2000)).toBe(true);
  });
});
