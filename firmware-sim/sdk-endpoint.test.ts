import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ControllerModel } from './model.js';
import { SdkFaultPlan, parseSdkFault } from './sdk-faults.js';
import { startSdkEndpoint, type SdkEndpoint } from './sdk-endpoint.js';
import { FrameDecoder, SDK_STATUS, SdkProtocolError, encodeFrame } from './sdk-protocol.js';
import { startSimulator, type Simulator } from './simulator.js';
import { lines } from './test-helpers.js';

type Message = Record<string, unknown>;

/** A hand-driven SDK client speaking the wire protocol with the simulator's own codec. */
interface RawSdk {
  socket: net.Socket;
  messages: Message[];
  closed: Promise<void>;
  request(method: string, params?: object): Promise<Message>;
  next(pred: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  sendRaw(bytes: Uint8Array): void;
  decodeError: () => unknown;
}

let nextId = 1;

async function rawSdk(path: string): Promise<RawSdk> {
  const socket = net.createConnection(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  let decodeError: unknown;
  const wake = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const p of decoder.push(chunk)) messages.push(JSON.parse(p.toString('utf8')) as Message);
    } catch (e) {
      decodeError = e;
    }
    for (const w of [...wake]) w();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const next = async (pred: (m: Message) => boolean, timeoutMs = 2000): Promise<Message> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = messages.findIndex(pred);
      if (i >= 0) return messages.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no matching message in time');
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        wake.add(() => {
          clearTimeout(t);
          r();
        });
      });
      wake.clear();
    }
  };
  return {
    socket,
    messages,
    closed,
    next,
    sendRaw: (bytes) => socket.write(bytes),
    request: (method, params = {}) => {
      const id = nextId++;
      socket.write(encodeFrame({ id, method, params }));
      return next((m) => m.id === id);
    },
    decodeError: () => decodeError,
  };
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
  Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

describe('vendor-SDK endpoint', () => {
  let endpoint: SdkEndpoint | undefined;
  let sim: Simulator | undefined;
  const clients: RawSdk[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    await endpoint?.close();
    await sim?.close();
    endpoint = undefined;
    sim = undefined;
  });

  async function start(model = new ControllerModel({ seed: 5 })): Promise<{
    model: ControllerModel;
    ep: SdkEndpoint;
  }> {
    endpoint = await startSdkEndpoint({ device: model, serial: 'XR200-T-1' });
    return { model, ep: endpoint };
  }

  async function client(path: string): Promise<RawSdk> {
    const c = await rawSdk(path);
    clients.push(c);
    return c;
  }

  it('answers hello, counters matching the model, and active errors', async () => {
    const { model, ep } = await start();
    model.step(90_000);
    model.inject(2003);
    const c = await client(ep.path);
    expect((await c.request('hello')).result).toEqual({
      sdkVersion: '2.4.1',
      protocol: 1,
      vendor: 'OUTPOST-SIM',
      model: 'XR-200',
      serial: 'XR200-T-1',
      firmware: '1.8.0',
    });
    const counters = (await c.request('getCounters')).result as {
      counters: Array<{ name: string; value: number; unit: string; resolution: number }>;
    };
    const truth = model.counters();
    expect(Object.fromEntries(counters.counters.map((x) => [x.name, x.value]))).toEqual(truth);
    expect(counters.counters.find((x) => x.name === 'detector_temp')).toMatchObject({
      unit: 'degC',
      resolution: 0.1,
    });
    expect((await c.request('getActiveErrors')).result).toEqual({
      codes: [2003],
      raisesTotal: truth.error_events_total,
    });
    // The socket is private to the controller's user.
    expect((await stat(ep.path)).mode & 0o777).toBe(0o600);
  });

  it('pushes raise/clear events to subscribed clients only', async () => {
    const { model, ep } = await start();
    const a = await client(ep.path);
    const b = await client(ep.path);
    expect((await a.request('subscribe')).result).toEqual({ subscribed: true });
    await b.request('hello');
    expect(ep.stats()).toMatchObject({ clients: 2, subscribers: 1 });
    const before = Date.now();
    model.inject(4002);
    model.clear(4002);
    const raised = await a.next((m) => m.event === 'error' && m.state === 'raised');
    expect(raised).toMatchObject({ code: 4002, name: 'INTERLOCK_EMERGENCY_STOP' });
    expect(raised.atMs as number).toBeGreaterThanOrEqual(before);
    await a.next((m) => m.event === 'error' && m.state === 'cleared');
    await b.request('hello'); // a round trip: anything pushed to b would be here by now
    expect(b.messages.some((m) => 'event' in m)).toBe(false);
    expect((await a.request('unsubscribe')).result).toEqual({ subscribed: false });
    model.inject(4002);
    await a.request('hello');
    expect(a.messages.some((m) => 'event' in m)).toBe(false);
  });

  it('drops a client that sends a malformed frame, and keeps serving the others', async () => {
    const { ep } = await start();
    const bad = await client(ep.path);
    const good = await client(ep.path);
    bad.sendRaw(Buffer.from([0, 0, 0, 3, 0x7b, 0x7b, 0x7b])); // "{{{" is not JSON
    const reply = await bad.next((m) => m.id === null);
    expect(reply.error).toMatchObject({ code: SDK_STATUS.BAD_FRAME });
    expect(await within(bad.closed, 2000)).not.toBe('timeout');
    expect((await good.request('getActiveErrors')).result).toMatchObject({ codes: [] });
    expect(ep.stats()).toMatchObject({ clients: 1, protocolErrors: 1 });

    for (const frame of [
      encodeFrame([1, 2]), // not an object
      encodeFrame({ method: 'hello' }), // no id
      encodeFrame({ id: 1 }), // no method
      encodeFrame({ id: 1, method: 'hello', params: 3 }), // params not an object
      Buffer.from([0, 0, 0, 0]), // empty frame
    ]) {
      const c = await client(ep.path);
      c.sendRaw(frame);
      expect((await c.next((m) => m.id === null)).error).toMatchObject({
        code: SDK_STATUS.BAD_FRAME,
      });
      await c.closed;
    }
  });

  it('refuses an oversize frame from its length prefix alone', async () => {
    const { model } = await start();
    await endpoint!.close();
    endpoint = await startSdkEndpoint({ device: model, maxFrameBytes: 64 });
    const c = await client(endpoint.path);
    c.sendRaw(Buffer.from([0, 0, 0, 65]));
    expect((await c.next((m) => m.id === null)).error).toMatchObject({
      code: SDK_STATUS.FRAME_TOO_LARGE,
    });
    await c.closed;
  });

  it('answers unknown methods and bad params without dropping the connection', async () => {
    const { ep } = await start();
    const c = await client(ep.path);
    expect((await c.request('selfDestruct')).error).toMatchObject({
      code: SDK_STATUS.UNKNOWN_METHOD,
    });
    expect(
      (await c.request('readLog', { name: 'service.log', offset: -1, length: 1 })).error,
    ).toMatchObject({ code: SDK_STATUS.BAD_PARAMS });
    expect(
      (await c.request('readLog', { name: 'nope.log', offset: 0, length: 1 })).error,
    ).toMatchObject({ code: SDK_STATUS.NO_SUCH_LOG });
    expect((await c.request('hello')).result).toMatchObject({ model: 'XR-200' });
  });

  it('serves logs in chunks that reassemble to the listed size, and logs error events', async () => {
    const { model, ep } = await start();
    const c = await client(ep.path);
    model.inject(2003);
    model.clear(2003);
    const { logs } = (await c.request('listLogs')).result as {
      logs: Array<{ name: string; bytes: number }>;
    };
    const service = logs.find((l) => l.name === 'service.log')!;
    expect(service.bytes).toBeGreaterThan(90_000);
    const parts: Buffer[] = [];
    for (let offset = 0; ;) {
      const r = (await c.request('readLog', { name: 'service.log', offset, length: 1_000_000 }))
        .result as { data: string; size: number; eof: boolean };
      const data = Buffer.from(r.data, 'base64');
      expect(data.length).toBeLessThanOrEqual(256 * 1024);
      parts.push(data);
      offset += data.length;
      if (r.eof) break;
    }
    expect(Buffer.concat(parts).length).toBe(service.bytes);
    expect(Buffer.concat(parts).toString('utf8')).toMatch(/self-test step 1 /);
    const events = (await c.request('readLog', { name: 'events.log', offset: 0, length: 4096 }))
      .result as { data: string; eof: boolean };
    const text = Buffer.from(events.data, 'base64').toString('utf8');
    expect(text).toMatch(/RAISED 2003 TUBE_ROTOR_FAULT\n.*CLEARED 2003 TUBE_ROTOR_FAULT\n$/);
    expect(events.eof).toBe(true);
    expect(
      (await c.request('readLog', { name: 'events.log', offset: 1_000_000, length: 1 })).error,
    ).toMatchObject({ code: SDK_STATUS.BAD_PARAMS });
  });

  it('turns away clients beyond maxClients with BUSY', async () => {
    endpoint = await startSdkEndpoint({ device: new ControllerModel(), maxClients: 1 });
    const first = await client(endpoint.path);
    const second = await client(endpoint.path);
    expect((await second.next((m) => m.id === null)).error).toMatchObject({
      code: SDK_STATUS.BUSY,
    });
    await second.closed;
    expect((await first.request('hello')).result).toMatchObject({ protocol: 1 });
  });

  it('goes down and comes back on the same path (suspend/resume)', async () => {
    const { ep } = await start();
    const c = await client(ep.path);
    await ep.suspend();
    await c.closed;
    await expect(rawSdk(ep.path)).rejects.toMatchObject({
      code: expect.stringMatching(/ENOENT|ECONNREFUSED/),
    });
    await ep.resume();
    const again = await client(ep.path);
    expect((await again.request('hello')).result).toMatchObject({ serial: 'XR200-T-1' });
  });

  it('replaces a stale socket file but refuses a live one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-sdk-test-'));
    try {
      const path = join(dir, 'sdk.sock');
      const squatter = net.createServer();
      await new Promise<void>((r) => squatter.listen(path, r));
      await expect(startSdkEndpoint({ device: new ControllerModel(), path })).rejects.toMatchObject(
        { code: 'SIM_LISTEN_FAILED' },
      );
      await new Promise<void>((r) => squatter.close(() => r()));
      // A crashed endpoint: a process that listened there was killed, leaving the file behind.
      const crashed = spawnSync(process.execPath, [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      expect(crashed.signal).toBe('SIGKILL');
      expect((await stat(path)).isSocket()).toBe(true);
      endpoint = await startSdkEndpoint({ device: new ControllerModel(), path });
      const c = await client(path);
      expect((await c.request('hello')).result).toMatchObject({ protocol: 1 });
    } finally {
      await endpoint?.close();
      endpoint = undefined;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SDK fault injection', () => {
  let sim: Simulator | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await sim?.close();
    sim = undefined;
  });

  async function simWithSdk(): Promise<{ sim: Simulator; c: RawSdk }> {
    sim = await startSimulator({ tickMs: 0, controlPort: false, sdk: true });
    const c = await rawSdk(sim.sdk!.path);
    sockets.push(c.socket);
    return { sim, c };
  }

  const control = (s: Simulator, cmd: object): Record<string, unknown> =>
    JSON.parse(s.command(JSON.stringify({ cmd: 'sdk-fault', ...cmd }))) as Record<string, unknown>;

  it('delays replies by ms, for count requests of one method', async () => {
    const { sim, c } = await simWithSdk();
    expect(control(sim, { kind: 'delay', ms: 300, count: 1, method: 'getCounters' })).toMatchObject(
      {
        ok: true,
        faults: [{ kind: 'delay', ms: 300, count: 1, method: 'getCounters' }],
      },
    );
    const t0 = Date.now();
    await c.request('hello'); // other methods are not affected
    expect(Date.now() - t0).toBeLessThan(250);
    await c.request('getCounters');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const t1 = Date.now();
    await c.request('getCounters'); // count was 1
    expect(Date.now() - t1).toBeLessThan(250);
    expect(sim.sdk!.stats().faultsApplied).toBe(1);
  });

  it('swallows requests (no-reply) until cleared', async () => {
    const { sim, c } = await simWithSdk();
    expect(control(sim, { kind: 'no-reply' })).toMatchObject({ ok: true });
    expect(await within(c.request('hello'), 300)).toBe('timeout');
    expect(await within(c.request('hello'), 300)).toBe('timeout');
    expect(control(sim, { kind: 'none' })).toMatchObject({ ok: true, faults: [] });
    expect((await c.request('hello')).result).toMatchObject({ protocol: 1 });
  });

  it('answers with a malformed frame, or an oversize length prefix', async () => {
    const { sim, c } = await simWithSdk();
    control(sim, { kind: 'malformed', count: 1 });
    c.socket.write(encodeFrame({ id: 99, method: 'hello' }));
    await within(
      c.next(() => false, 300).catch(() => undefined),
      400,
    );
    // The frame itself is well delimited, but its payload is not UTF-8 JSON.
    expect(c.messages).toHaveLength(0);
    expect(c.decodeError()).toBeInstanceOf(SyntaxError);

    const d = await rawSdk(sim.sdk!.path);
    sockets.push(d.socket);
    control(sim, { kind: 'oversize', count: 1 });
    d.socket.write(encodeFrame({ id: 1, method: 'hello' }));
    await within(
      d.next(() => false, 300).catch(() => undefined),
      400,
    );
    expect(d.decodeError()).toBeInstanceOf(SdkProtocolError);
    expect((d.decodeError() as SdkProtocolError).status).toBe(SDK_STATUS.FRAME_TOO_LARGE);
  });

  it('drops the connection instead of answering, or every connection now', async () => {
    const { sim, c } = await simWithSdk();
    control(sim, { kind: 'drop', count: 1 });
    c.socket.write(encodeFrame({ id: 1, method: 'hello' }));
    expect(await within(c.closed, 2000)).not.toBe('timeout');
    const d = await rawSdk(sim.sdk!.path);
    sockets.push(d.socket);
    expect((await d.request('hello')).result).toMatchObject({ protocol: 1 });
    expect(control(sim, { kind: 'disconnect' })).toMatchObject({ ok: true, dropped: 1 });
    expect(await within(d.closed, 2000)).not.toBe('timeout');
  });

  it('refuses bad fault commands with typed errors', async () => {
    const { sim: withSdk } = await simWithSdk();
    const err = (cmd: object, target = withSdk): unknown =>
      (control(target, cmd) as { error?: { code: string } }).error?.code;
    expect(err({ kind: 'explode' })).toBe('SIM_BAD_ARGUMENT');
    expect(err({ kind: 'delay' })).toBe('SIM_BAD_ARGUMENT');
    expect(err({ kind: 'drop', ms: 5 })).toBe('SIM_BAD_ARGUMENT');
    expect(err({ kind: 'drop', count: 0 })).toBe('SIM_BAD_ARGUMENT');
    expect(err({ kind: 'drop', method: 'format' })).toBe('SIM_BAD_ARGUMENT');
    expect(err({ kind: 3 })).toBe('SIM_BAD_COMMAND');
    const without = await startSimulator({ tickMs: 0, controlPort: false });
    try {
      expect(err({ kind: 'drop' }, without)).toBe('SIM_BAD_COMMAND');
    } finally {
      await without.close();
    }
  });

  it('follows a controller reboot: connections close, the endpoint comes back on the same path', async () => {
    sim = await startSimulator({ tickMs: 10, controlPort: false, sdk: true });
    const c = await rawSdk(sim.sdk!.path);
    sockets.push(c.socket);
    sim.faults.reboot({ downMs: 200 });
    expect(await within(c.closed, 2000)).not.toBe('timeout');
    const deadline = Date.now() + 5000;
    let back: RawSdk | undefined;
    while (back === undefined && Date.now() < deadline) {
      back = await rawSdk(sim.sdk!.path).catch(() => undefined);
      if (back === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(back).toBeDefined();
    sockets.push(back!.socket);
    expect((await back!.request('getActiveErrors')).result).toMatchObject({ codes: [7001] });
  });
});

describe('SdkFaultPlan', () => {
  it('applies the oldest matching fault and counts it down', () => {
    const plan = new SdkFaultPlan();
    plan.add({ kind: 'drop', method: 'readLog', count: 1 });
    plan.add({ kind: 'delay', ms: 5, count: 2 });
    expect(plan.take('hello')?.kind).toBe('delay');
    expect(plan.take('readLog')?.kind).toBe('drop');
    expect(plan.take('readLog')?.kind).toBe('delay');
    expect(plan.take('readLog')).toBeNull();
    expect(plan.applied).toBe(3);
    expect(() => parseSdkFault(null)).toThrow(expect.objectContaining({ code: 'SIM_BAD_COMMAND' }));
  });
});

describe('outpost-sim --sdk-socket', () => {
  it('serves the endpoint, reports its path in the ready line and takes sdk-fault on stdin', async () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'firmware-sim/cli.ts', '--sdk-socket', 'auto', '--control-port', 'none'],
      { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      const out = lines(proc.stdout);
      const ready = JSON.parse(await out.next(15_000)) as { ready: boolean; sdkPath: string };
      expect(ready.ready).toBe(true);
      const c = await rawSdk(ready.sdkPath);
      expect((await c.request('hello')).result).toMatchObject({ model: 'XR-200' });
      proc.stdin.write('{"cmd":"sdk-fault","kind":"drop","count":1}\n');
      expect(JSON.parse(await out.next())).toMatchObject({ ok: true, faults: [{ kind: 'drop' }] });
      c.socket.write(encodeFrame({ id: 1, method: 'hello' }));
      expect(await within(c.closed, 2000)).not.toBe('timeout');
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      expect(existsSync(ready.sdkPath)).toBe(false); // the temp socket is cleaned up
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });
});
