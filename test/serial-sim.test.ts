/**
 * The agent's SerialAdapter (the `serialAdapter` preset, on `serialport`) against the real
 * simulator over a real socat PTY pair: counters, pushed events, every injected fault with its
 * typed error code and the recovery after it, and the log files byte for byte.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import {
  serialAdapter,
  serialCountersFromRegisterMap,
  SerialDeviceError,
  type DeviceEvent,
  type SerialAdapter,
} from '../src/index.js';
import { registerMap } from './helpers.js';
import { adapterFailure, describeWithTools, SOCAT, sleep } from './serial-helpers.js';

const TIMEOUT_MS = 300;

describeWithTools('serial adapter against the simulator over a PTY', [SOCAT], () => {
  let sim: Simulator;
  const adapters: SerialAdapter[] = [];

  beforeAll(async () => {
    // tickMs 0: the model only moves when the test says so, so values can be compared exactly.
    sim = await startSimulator({
      seed: 21,
      controlPort: false,
      tickMs: 0,
      workload: { enabled: false },
      servicePort: true,
    });
  });
  afterEach(async () => {
    await sim.servicePort!.fault({ kind: 'clear' });
    await Promise.all(adapters.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    await sim?.close();
  });

  function adapter(options: Partial<Parameters<typeof serialAdapter>[0]> = {}): SerialAdapter {
    const a = serialAdapter({
      path: sim.servicePort!.agentPath,
      baudRate: 115_200,
      counters: serialCountersFromRegisterMap(registerMap),
      commandTimeoutMs: TIMEOUT_MS,
      retries: 0,
      ...options,
    });
    adapters.push(a);
    return a;
  }

  it('reads counters that match the model, in the register map units and scales', async () => {
    sim.model.setExposures(4_294_967_290);
    sim.model.setAmbient(-12);
    sim.model.expose(92.3, 480, 200, { force: true });
    sim.faults.step(90_000);
    sim.inject(3004);
    const a = adapter();
    const s = await a.readSnapshot();
    const model = sim.model.counters() as unknown as Record<string, number>;
    expect(s.missing).toEqual([]);
    expect(s.counters.map((c) => c.name)).toEqual(registerMap.counters.map((c) => c.name));
    for (const c of s.counters) {
      const def = registerMap.counters.find((d) => d.name === c.name)!;
      expect(c.unit, c.name).toBe(def.unit);
      expect(c.scale, c.name).toBe(def.scale);
      expect(c.value, c.name).toBeCloseTo(model[c.name]!, def.scale < 1 ? 1 : 0);
      expect(c.raw, c.name).toBe(Math.round(model[c.name]! / def.scale));
    }
    expect(s.counters.find((c) => c.name === 'exposures_total')!.value).toBe(4_294_967_291);
    expect(s.codes).toEqual(sim.model.activeCodes());
    expect(s.codes).toContain(3004);
    expect(s.raisesTotal).toBe(model.error_events_total);
    expect(await a.status()).toMatchObject({ model: 'XR-200', state: 'READY' });
    sim.clear(3004);
  });

  it('turns unsolicited !EVT lines into events the moment the model raises and clears', async () => {
    const a = adapter();
    await a.connect();
    const events: DeviceEvent[] = [];
    a.onEvent((e) => {
      if (e.type === 'error' && e.code === 2003) events.push(e);
    });
    const t0 = Date.now();
    sim.inject(2003);
    sim.clear(2003);
    await waitFor(() => events.length >= 2);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(events).toMatchObject([
      { type: 'error', code: 2003, state: 'raised' },
      { type: 'error', code: 2003, state: 'cleared' },
    ]);
    expect(Math.abs((events[0] as { atMs: number }).atMs - t0)).toBeLessThan(500);
    expect(a.health().events).toBeGreaterThanOrEqual(2);
  });

  it('a reply delayed past the timeout is ADAPTER_TIMEOUT; the late reply is dropped, the next call works', async () => {
    const a = adapter();
    // Replies leave in order: the next command's reply follows the late one closely.
    await sim.servicePort!.fault({ kind: 'delay', ms: TIMEOUT_MS + 150 });
    expect((await adapterFailure(a.ping())).code).toBe('ADAPTER_TIMEOUT');
    expect((await a.readActiveErrors()).codes).toEqual(sim.model.activeCodes());
    expect(a.health()).toMatchObject({ timeouts: 1, staleReplies: 1 });
  });

  it('no reply is ADAPTER_TIMEOUT', async () => {
    const a = adapter();
    await sim.servicePort!.fault({ kind: 'no-reply' });
    expect((await adapterFailure(a.ping())).code).toBe('ADAPTER_TIMEOUT');
    await a.ping();
  });

  it('garbage instead of the reply is SERIAL_GARBAGE; noise in front of a reply is skipped', async () => {
    const a = adapter();
    await sim.servicePort!.fault({ kind: 'garbage', bytes: 40 });
    expect((await adapterFailure(a.ping())).code).toBe('SERIAL_GARBAGE');
    await sim.servicePort!.fault({ kind: 'noise', bytes: 25 });
    await a.ping(); // resync inside the line
    expect(a.health()).toMatchObject({ garbageLines: 2, readsOk: 1, readsFailed: 1 });
  });

  it('a truncated reply is SERIAL_TRUNCATED, and the next reply is read clean', async () => {
    const a = adapter();
    await sim.servicePort!.fault({ kind: 'truncate' });
    expect((await adapterFailure(a.readActiveErrors())).code).toBe('SERIAL_TRUNCATED');
    expect((await a.readActiveErrors()).codes).toEqual(sim.model.activeCodes());
  });

  it('a bad checksum is SERIAL_BAD_CHECKSUM, in both directions', async () => {
    const a = adapter();
    await sim.servicePort!.fault({ kind: 'bad-checksum' });
    expect((await adapterFailure(a.ping())).code).toBe('SERIAL_BAD_CHECKSUM');
    await a.ping();
    expect(a.health().checksumErrors).toBe(1);
  });

  it('with the default single retry, one damaged or lost reply costs nothing', async () => {
    const a = adapter({ retries: 1 });
    for (const kind of ['no-reply', 'garbage', 'truncate', 'bad-checksum'] as const) {
      await sim.servicePort!.fault({ kind });
      await a.readActiveErrors();
    }
    expect(a.health()).toMatchObject({ readsOk: 4, readsFailed: 4 });
  });

  it('a disconnect is ADAPTER_DISCONNECTED; the next call reconnects on its own', async () => {
    const a = adapter({ commandTimeoutMs: 3000 });
    await a.ping();
    await sim.servicePort!.fault({ kind: 'delay', ms: 2000 });
    const pending = a.ping();
    await sleep(50);
    const back = sim.servicePort!.fault({ kind: 'disconnect', downMs: 300 });
    expect((await adapterFailure(pending)).code).toBe('ADAPTER_DISCONNECTED');
    expect(a.health().connected).toBe(false);
    // While the line is down the port cannot even be opened.
    expect((await adapterFailure(a.ping())).code).toBe('ADAPTER_CONNECT_FAILED');
    await back;
    await a.ping();
    expect(a.health()).toMatchObject({ connected: true, reconnects: 1 });
    // Events flow again on the new line.
    const events: DeviceEvent[] = [];
    a.onEvent((e) => events.push(e));
    sim.inject(1001);
    sim.clear(1001);
    await waitFor(() => events.length >= 2);
  });

  it('follows a controller reboot: silent, then !EVT BOOT and the watchdog code', async () => {
    const a = adapter();
    await a.connect();
    const events: DeviceEvent[] = [];
    a.onEvent((e) => events.push(e));
    sim.faults.reboot({ downMs: 400 });
    expect((await adapterFailure(a.ping())).code).toBe('ADAPTER_TIMEOUT');
    sim.faults.step(500);
    await waitFor(() => events.length >= 2);
    expect(events[0]).toMatchObject({ type: 'reboot' });
    expect(events[1]).toMatchObject({ type: 'error', code: 7001, state: 'raised' });
    await a.ping();
    sim.clear(7001);
  });

  it('takes faults scripted over the control channel', async () => {
    const a = adapter();
    expect(JSON.parse(sim.command('{"cmd":"serial-fault","kind":"bad-checksum"}'))).toMatchObject({
      ok: true,
    });
    expect((await adapterFailure(a.ping())).code).toBe('SERIAL_BAD_CHECKSUM');
    await a.ping();
  });

  it('an ERR reply is a SerialDeviceError with the controller code', async () => {
    const a = adapter();
    const err = await adapterFailure(a.readLog('no-such.log'));
    expect(err).toBeInstanceOf(SerialDeviceError);
    expect(err).toMatchObject({ code: 'SERIAL_DEVICE_ERROR', deviceCode: 'NOFILE' });
  });

  it('listLogs/readLog round trip: every file equals the simulator bytes, with patient identifiers in it', async () => {
    const a = adapter({ logChunkBytes: 2048, commandTimeoutMs: 2000 });
    const listed = await a.capabilities.listLogs!();
    const simFiles = sim.logs.list();
    expect(listed).toEqual(simFiles.map((f) => ({ ...f, modifiedMs: Math.round(f.modifiedMs) })));
    let text = '';
    for (const f of listed) {
      const got = await a.capabilities.readLog!(f.name);
      expect(Buffer.from(got).equals(Buffer.from(sim.logs.read(f.name)!)), f.name).toBe(true);
      text += Buffer.from(got).toString('latin1');
    }
    // Resumed read from an offset.
    const last = listed.at(-1)!;
    const tail = await a.capabilities.readLog!(last.name, { offset: 1000 });
    expect(Buffer.from(tail).equals(Buffer.from(sim.logs.read(last.name, 1000)!))).toBe(true);
    // The fake patient data a redaction must catch.
    const lines = text.split('\n');
    expect(
      lines.filter((l) => /\(0010,0010\) PN \[[A-Z]+\^[A-Z]+\]/.test(l)).length,
    ).toBeGreaterThan(100);
    expect(lines.filter((l) => /\(0010,0020\) LO \[PID-\d{6}\]/.test(l)).length).toBeGreaterThan(
      100,
    );
    expect(lines.filter((l) => /\(0010,0030\) DA \[\d{8}\]/.test(l)).length).toBeGreaterThan(100);
    expect(a.health().readsOk).toBeGreaterThan(
      listed.reduce((n, f) => n + Math.ceil(f.bytes / 2048), 0),
    );
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}
