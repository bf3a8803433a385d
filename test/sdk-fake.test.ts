/**
 * The in-process vendor-SDK binding, played by `FakeVendorSdk`: the same contract suite the IPC
 * binding passes, then what the adapter does with an SDK that misbehaves in ways a socket cannot
 * (fails the N-th call, ignores AbortSignals, is not re-entrant, returns odd values).
 */
import { describe, expect, it } from 'vitest';
import {
  AdapterError,
  FakeVendorSdk,
  SdkError,
  vendorSdkAdapter,
  type DeviceEvent,
  type SdkCounter,
  type VendorSdk,
} from '../src/index.js';
import { CONTRACT_TIMEOUT_MS, vendorSdkContract, type SdkHarness } from './sdk-contract.js';

const COUNTERS: SdkCounter[] = [
  { name: 'exposures_total', value: 4_294_967_290, unit: 'count', resolution: 1 },
  { name: 'detector_temp', value: -3.26, unit: 'degC', resolution: 0.1 },
  { name: 'tube_heat_pct', value: 42.04, unit: '%', resolution: 0.1 },
  { name: 'uptime', value: 86_400, unit: 's' },
  { name: 'tube_voltage', value: 80.123456, unit: 'kV' }, // no resolution: float32
];

function bigLog(): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) lines.push(`line ${i} ${'x'.repeat(i % 50)}`);
  return new TextEncoder().encode(`${lines.join('\n')}\n`);
}

async function fakeHarness(): Promise<SdkHarness> {
  const log = bigLog();
  const sdk = new FakeVendorSdk({ counters: COUNTERS, logs: { 'big.log': log } });
  return {
    sdk,
    counters: () =>
      Object.fromEntries(
        COUNTERS.map((c) => [
          c.name,
          // float32 carries ~7 significant digits
          { value: c.value, resolution: c.resolution ?? Math.abs(c.value) * 1e-6 },
        ]),
      ),
    activeCodes: () => sdk.activeCodes,
    raise: (code) => sdk.raise(code),
    clear: (code) => sdk.clear(code),
    fault: (kind, method) => {
      switch (kind) {
        case 'delay':
          return sdk.inject({ kind, ms: CONTRACT_TIMEOUT_MS + 700 }, { method });
        case 'no-reply':
          return sdk.inject({ kind: 'hang' }, { method });
        case 'malformed':
          return sdk.inject({ kind, result: { counters: 'garbage', codes: 7 } }, { method });
        case 'drop':
          return sdk.inject({ kind: 'disconnect' }, { method });
      }
    },
    down: async () => {
      sdk.dropLink('device powered off');
      sdk.inject(
        { kind: 'error', error: new AdapterError('ADAPTER_CONNECT_FAILED', 'device off') },
        { method: 'connect', times: Infinity },
      );
    },
    up: async () => sdk.clearFaults(),
    malformedCode: 'ADAPTER_BAD_REPLY',
    log: {
      name: 'big.log',
      check: (bytes) => expect(Buffer.from(bytes).equals(Buffer.from(log))).toBe(true),
    },
    close: () => sdk.close(),
  };
}

vendorSdkContract('FakeVendorSdk (in-process)', fakeHarness);

describe('vendorSdkAdapter with a misbehaving in-process SDK', () => {
  it('fails exactly the N-th SDK call, and only that poll', async () => {
    const sdk = new FakeVendorSdk({ counters: COUNTERS });
    const adapter = vendorSdkAdapter(sdk);
    await adapter.connect(); // call 1
    // Each snapshot is 2 calls: 2-3, 4-5, 6-7. The 5th call is the second snapshot's error read.
    sdk.inject(
      { kind: 'error', error: new SdkError('SDK_ERROR', 'E_BUS_BUSY', { sdkStatus: -7 }) },
      { nth: 4 },
    );
    await adapter.readSnapshot();
    const err = await adapter.readSnapshot().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SdkError);
    expect(err).toMatchObject({ code: 'SDK_ERROR', sdkStatus: -7 });
    await adapter.readSnapshot();
    expect(sdk.history.map((h) => h.outcome)).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'fault',
      'ok',
      'ok',
    ]);
    expect(sdk.history[4]!.method).toBe('getActiveErrors');
    expect(adapter.health()).toMatchObject({
      readsOk: 5,
      readsFailed: 1,
      lastErrorCode: 'SDK_ERROR',
    });
    await adapter.close();
  });

  it('wraps a foreign exception as SDK_ERROR, keeping its status and cause', async () => {
    const sdk = new FakeVendorSdk({ counters: COUNTERS });
    const adapter = vendorSdkAdapter(sdk);
    const native = Object.assign(new Error('XR_E_TIMEOUT_BUS'), { code: -110 });
    sdk.inject({ kind: 'error', error: native }, { method: 'getCounters' });
    const err = await adapter.readSnapshot().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect(err).toMatchObject({ code: 'SDK_ERROR', sdkStatus: -110 });
    expect((err as Error).cause).toBe(native);
    await adapter.close();
  });

  it('bounds a call to an SDK that ignores its AbortSignal, and keeps serving', async () => {
    const sdk = new FakeVendorSdk({ counters: COUNTERS, ignoreAbort: true });
    const adapter = vendorSdkAdapter(sdk, { timeoutMs: 150 });
    await adapter.connect();
    sdk.inject({ kind: 'hang' }, { method: 'getCounters' });
    const t0 = Date.now();
    await expect(adapter.readSnapshot()).rejects.toMatchObject({ code: 'SDK_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(1000);
    // The abandoned call is still "running" inside the SDK; the queue moved on regardless.
    expect((await adapter.readActiveErrors()).codes).toEqual([]);
    expect(adapter.health()).toMatchObject({ timeouts: 1, readsFailed: 1 });
    await adapter.close();
  });

  it('hands the SDK one signal per call, the same one again while calls leave it clean', async () => {
    const sdk = new FakeVendorSdk({ counters: COUNTERS });
    const seen: AbortSignal[] = [];
    // The fake SDK with every call's signal recorded (its own methods use private fields, so
    // each is delegated explicitly).
    const recording: VendorSdk = {
      name: sdk.name,
      get connected() {
        return sdk.connected;
      },
      connect: (signal) => sdk.connect(signal),
      getCounters: (signal) => {
        seen.push(signal!);
        return sdk.getCounters(signal);
      },
      getActiveErrors: (signal) => {
        seen.push(signal!);
        // The 4th call leaves a listener behind on its signal.
        if (seen.length === 4) signal!.addEventListener('abort', () => undefined);
        return sdk.getActiveErrors(signal);
      },
      subscribe: (listener) => sdk.subscribe(listener),
      close: () => sdk.close(),
    };
    const adapter = vendorSdkAdapter(recording, { timeoutMs: 150 });
    await adapter.connect();
    await adapter.readActiveErrors();
    await adapter.readActiveErrors();
    await adapter.readSnapshot(); // getCounters then getActiveErrors (4th)
    await adapter.readActiveErrors();
    sdk.inject({ kind: 'hang' }, { method: 'getActiveErrors' });
    await expect(adapter.readActiveErrors()).rejects.toMatchObject({ code: 'SDK_TIMEOUT' });
    await adapter.readActiveErrors();
    await adapter.readActiveErrors();
    expect(seen).toHaveLength(8);
    expect(seen.slice(1, 4).every((s) => s === seen[0])).toBe(true);
    expect(seen[4]).not.toBe(seen[3]); // a listener was left on it
    expect(seen[5]).toBe(seen[4]);
    expect(seen[5]!.aborted).toBe(true); // timed out: never handed out again
    expect(seen[6]).not.toBe(seen[5]);
    expect(seen[7]).toBe(seen[6]);
    expect(seen[7]!.aborted).toBe(false);
    await adapter.close();
  });

  it('makes one SDK call at a time by default, overlapping them only when told', async () => {
    for (const serialize of [true, false]) {
      const sdk = new FakeVendorSdk({ counters: COUNTERS });
      const adapter = vendorSdkAdapter(sdk, { serialize });
      await adapter.connect();
      sdk.inject({ kind: 'delay', ms: 40 }, { times: 10 });
      await Promise.all([
        adapter.readSnapshot(),
        adapter.readActiveErrors(),
        adapter.readSnapshot(),
      ]);
      expect(sdk.maxConcurrent).toBe(serialize ? 1 : 3);
      await adapter.close();
    }
  });

  it('maps counters: resolution to integers, float32 otherwise, allow-list with missing', async () => {
    const sdk = new FakeVendorSdk({
      counters: [...COUNTERS, { name: 'broken_sensor', value: Number.NaN, unit: 'V' }],
    });
    const adapter = vendorSdkAdapter(sdk, {
      counters: ['exposures_total', 'detector_temp', 'tube_voltage', 'broken_sensor', 'absent'],
      resolution: { tube_voltage: 0.01 },
    });
    const snap = await adapter.readSnapshot();
    expect(snap.counters).toEqual([
      {
        name: 'exposures_total',
        unit: 'count',
        offset: 0,
        raw: 4_294_967_290,
        rawKind: 'integer',
        value: 4_294_967_290,
        scale: 1,
      },
      {
        name: 'detector_temp',
        unit: 'degC',
        offset: 0,
        raw: -33,
        rawKind: 'integer',
        value: -3.3,
        scale: 0.1,
      },
      {
        name: 'tube_voltage',
        unit: 'kV',
        offset: 0,
        raw: 8012,
        rawKind: 'integer',
        value: 80.12,
        scale: 0.01,
      },
    ]);
    expect(snap.missing).toEqual(['broken_sensor', 'absent']);
    // tube_heat_pct and uptime are not on the allow-list: never collected.
    expect(snap.counters.some((c) => c.name === 'uptime')).toBe(false);

    const all = await vendorSdkAdapter(new FakeVendorSdk({ counters: COUNTERS })).readSnapshot();
    const volts = all.counters.find((c) => c.name === 'tube_voltage')!;
    expect(volts.rawKind).toBe('float32');
    expect(volts.value).toBeCloseTo(80.123456, 4);
    await adapter.close();
  });

  it('refuses malformed results with ADAPTER_BAD_REPLY', async () => {
    const sdk = new FakeVendorSdk({ counters: COUNTERS });
    const adapter = vendorSdkAdapter(sdk);
    for (const result of [
      null,
      { counters: [{ value: 1 }] },
      { counters: [{ name: 'a' }], x: 1 },
    ]) {
      sdk.inject({ kind: 'malformed', result }, { method: 'getCounters' });
      const out = await adapter.readSnapshot().catch((e: unknown) => e);
      if (result && 'x' in result) {
        // A counter without a value is kept, and reported as missing.
        expect(out).toMatchObject({ missing: ['a'] });
      } else {
        expect(out).toMatchObject({ code: 'ADAPTER_BAD_REPLY' });
      }
    }
    sdk.inject({ kind: 'malformed', result: { codes: [1, 'x'] } }, { method: 'getActiveErrors' });
    await expect(adapter.readActiveErrors()).rejects.toMatchObject({ code: 'ADAPTER_BAD_REPLY' });
    sdk.inject(
      { kind: 'malformed', result: { data: new Uint8Array(0), size: 10, eof: false } },
      { method: 'readLog' },
    );
    await expect(adapter.capabilities!.readLog!('fake.log')).rejects.toMatchObject({
      code: 'ADAPTER_BAD_REPLY',
    });
    await adapter.close();
  });

  it('isolates a throwing listener and passes reboot events through', async () => {
    const sdk = new FakeVendorSdk();
    const reported: unknown[] = [];
    const adapter = vendorSdkAdapter(sdk, { onListenerError: (e) => reported.push(e) });
    const seen: DeviceEvent[] = [];
    adapter.onEvent(() => {
      throw new Error('listener bug');
    });
    adapter.onEvent((e) => seen.push(e));
    await adapter.connect();
    sdk.raise(1003);
    sdk.reboot();
    expect(seen.map((e) => e.type)).toEqual(['error', 'reboot']);
    expect(reported).toHaveLength(2);
    await adapter.close();
  });

  it('has no log capability when the SDK has none, and caps what readLog assembles', async () => {
    const bare = vendorSdkAdapter(new FakeVendorSdk({ logs: false }));
    expect(bare.capabilities).toBeUndefined();
    const sdk = new FakeVendorSdk({ logs: { 'big.log': bigLog() }, maxReadBytes: 4096 });
    const capped = vendorSdkAdapter(sdk, { maxLogBytes: 10_000, logChunkBytes: 4096 });
    await expect(capped.capabilities!.readLog!('big.log')).rejects.toMatchObject({
      code: 'SDK_LOG_TOO_LARGE',
    });
    const tail = await capped.capabilities!.readLog!('big.log', {
      offset: bigLog().length - 5000,
    });
    expect(tail.length).toBe(5000);
    await capped.close();
  });

  it('reports a connect that returns garbage as ADAPTER_CONNECT_FAILED', async () => {
    const sdk = new FakeVendorSdk();
    sdk.inject({ kind: 'malformed', result: { model: 3 } }, { method: 'connect' });
    const adapter = vendorSdkAdapter(sdk);
    const err = await adapter.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ADAPTER_CONNECT_FAILED' });
    expect((err as Error).cause).toMatchObject({ code: 'ADAPTER_BAD_REPLY' });
    await adapter.connect();
    await adapter.close();
  });

  it('the fake is strict: no calls before connect or after close', async () => {
    const sdk = new FakeVendorSdk();
    await expect(sdk.getCounters()).rejects.toMatchObject({ code: 'ADAPTER_NOT_CONNECTED' });
    await sdk.connect();
    await sdk.close();
    await expect(sdk.connect()).rejects.toMatchObject({ code: 'ADAPTER_CANCELLED' });
  });
});
