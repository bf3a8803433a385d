/**
 * One contract suite for the vendor-SDK binding, run against every implementation: the
 * out-of-process `IpcSdkClient` against the simulator's real endpoint (test/sdk-ipc.test.ts) and
 * the in-process `FakeVendorSdk` (test/sdk-fake.test.ts). Both are driven through
 * `vendorSdkAdapter`, so this is also the DeviceAdapter contract (src/adapters/types.ts) as the
 * agent relies on it: values, events, timeouts, cancellation vs failure, reconnect, close, logs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AdapterError,
  vendorSdkAdapter,
  type AdapterErrorCode,
  type DeviceEvent,
  type VendorSdk,
  type VendorSdkAdapter,
} from '../src/index.js';
import { waitFor } from './helpers.js';

export type ContractFault = 'delay' | 'no-reply' | 'malformed' | 'drop';

/** What a test harness gives the suite: a fresh binding and hands on the device behind it. */
export interface SdkHarness {
  sdk: VendorSdk;
  /** Ground truth: the device's counters now, by name, and each one's resolution. */
  counters(): Record<string, { value: number; resolution: number }>;
  activeCodes(): number[];
  raise(code: number): void;
  clear(code: number): void;
  /** Arms `kind` for the next call of `method` only (a delay outlasts the adapter's timeout). */
  fault(kind: ContractFault, method: 'getCounters' | 'getActiveErrors'): void;
  /** The device side goes away (connections dropped, new ones refused)... */
  down(): Promise<void>;
  /** ...and comes back. */
  up(): Promise<void>;
  /** The code this binding reports for a malformed answer. */
  malformedCode: AdapterErrorCode;
  /** A log the device has, and a check of its full content. */
  log: { name: string; check(bytes: Uint8Array): void };
  close(): Promise<void>;
}

/** Adapter timeout used by the suite; faults that stall outlast it. */
export const CONTRACT_TIMEOUT_MS = 300;
const ALARM_CODE = 2003;

function u32(n: number): ArrayBuffer {
  const b = new ArrayBuffer(4);
  new DataView(b).setUint32(0, n);
  return b;
}

async function codeOf(p: Promise<unknown>): Promise<AdapterErrorCode> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AdapterError);
    return (err as AdapterError).code;
  }
  throw new Error('expected the call to fail');
}

export function vendorSdkContract(name: string, make: () => Promise<SdkHarness>): void {
  describe(`VendorSdk contract: ${name}`, () => {
    let h: SdkHarness;
    let adapter: VendorSdkAdapter;

    beforeEach(async () => {
      h = await make();
      adapter = vendorSdkAdapter(h.sdk, {
        timeoutMs: CONTRACT_TIMEOUT_MS,
        connectTimeoutMs: 1000,
        rearm: { initialMs: 40, maxMs: 200 },
      });
    });
    afterEach(async () => {
      await adapter.close();
      await h.close();
    });

    it('reads counters and active codes that match the device', async () => {
      h.raise(ALARM_CODE);
      await adapter.connect();
      expect(adapter.health().connected).toBe(true);
      expect(adapter.kind).toBe(`sdk:${h.sdk.name}`);
      const snap = await adapter.readSnapshot();
      const truth = h.counters();
      expect(snap.counters.map((c) => c.name).sort()).toEqual(Object.keys(truth).sort());
      expect(snap.missing).toEqual([]);
      for (const c of snap.counters) {
        const t = truth[c.name]!;
        expect(Math.abs(c.value - t.value)).toBeLessThanOrEqual(t.resolution / 2 + 1e-9);
        // What telemetry carries (raw, scale, offset) stands for the value reported.
        const base = c.rawKind === 'float32' ? new DataView(u32(c.raw)).getFloat32(0) : c.raw;
        expect(base * c.scale + c.offset).toBeCloseTo(c.value, 9);
      }
      expect(snap.codes).toEqual(h.activeCodes());
      expect(snap.codes).toContain(ALARM_CODE);
      expect(Math.abs(snap.atMs - Date.now())).toBeLessThan(5000);
      expect(adapter.health()).toMatchObject({ readsFailed: 0, timeouts: 0 });
      expect(adapter.health().readsOk).toBeGreaterThanOrEqual(2);
    });

    it('sees a raise and a clear through readActiveErrors', async () => {
      expect((await adapter.readActiveErrors()).codes).toEqual([]);
      h.raise(ALARM_CODE);
      expect((await adapter.readActiveErrors()).codes).toEqual([ALARM_CODE]);
      h.clear(ALARM_CODE);
      expect((await adapter.readActiveErrors()).codes).toEqual([]);
    });

    it('pushes raise and clear events to onEvent listeners until unsubscribed', async () => {
      const events: DeviceEvent[] = [];
      const off = adapter.onEvent((e) => events.push(e));
      await adapter.connect();
      const before = Date.now();
      h.raise(ALARM_CODE);
      expect(await waitFor(() => events.length >= 1, 3000)).toBe(true);
      h.clear(ALARM_CODE);
      expect(await waitFor(() => events.length >= 2, 3000)).toBe(true);
      expect(events.slice(0, 2)).toMatchObject([
        { type: 'error', code: ALARM_CODE, state: 'raised' },
        { type: 'error', code: ALARM_CODE, state: 'cleared' },
      ]);
      const first = events[0] as { atMs: number };
      expect(first.atMs).toBeGreaterThanOrEqual(before - 1000);
      off();
      await adapter.readActiveErrors(); // a round trip: an event in flight would be here by now
      const seen = events.length;
      h.raise(ALARM_CODE);
      await adapter.readActiveErrors();
      expect(events.length).toBe(seen);
    });

    it.each([
      ['delay', 'SDK_TIMEOUT'],
      ['no-reply', 'SDK_TIMEOUT'],
      ['malformed', 'malformed'],
      ['drop', 'ADAPTER_DISCONNECTED'],
    ] as const)('turns an injected %s into a typed error and recovers', async (kind, want) => {
      await adapter.connect();
      await adapter.readSnapshot();
      const before = adapter.health();
      h.fault(kind, 'getCounters');
      const t0 = Date.now();
      const code = await codeOf(adapter.readSnapshot());
      expect(code).toBe(want === 'malformed' ? h.malformedCode : want);
      expect(Date.now() - t0).toBeLessThan(CONTRACT_TIMEOUT_MS + 1500);
      const after = adapter.health();
      expect(after.readsFailed).toBe(before.readsFailed + 1);
      expect(after.timeouts).toBe(before.timeouts + (want === 'SDK_TIMEOUT' ? 1 : 0));
      expect(after.lastErrorCode).toBe(code);
      // The next call works (reconnecting first if the fault took the link down).
      const snap = await adapter.readSnapshot();
      expect(snap.counters.length).toBeGreaterThan(0);
      expect(adapter.health().connected).toBe(true);
    });

    it('reconnects on the next call after the device went away and came back', async () => {
      await adapter.connect();
      await h.down();
      expect(await waitFor(() => !adapter.health().connected, 2000)).toBe(true);
      expect(['ADAPTER_DISCONNECTED', 'ADAPTER_NOT_CONNECTED', 'ADAPTER_CONNECT_FAILED']).toContain(
        await codeOf(adapter.readSnapshot()),
      );
      await h.up();
      const snap = await adapter.readSnapshot();
      expect(snap.counters.length).toBeGreaterThan(0);
      expect(adapter.health().connected).toBe(true);
    });

    it('is not fatally hurt by a device that is down at start', async () => {
      await h.down();
      expect(await codeOf(adapter.connect())).toBe('ADAPTER_CONNECT_FAILED');
      await h.up();
      expect((await adapter.readActiveErrors()).codes).toEqual([]);
    });

    it('re-arms events after a drop without any call, delivering a raise missed meanwhile', async () => {
      const events: DeviceEvent[] = [];
      adapter.onEvent((e) => events.push(e));
      await adapter.connect();
      await h.down();
      expect(await waitFor(() => !adapter.health().connected, 2000)).toBe(true);
      h.raise(ALARM_CODE); // nobody is connected to hear it
      await h.up();
      // No call from here on: only the background re-arm and its resync can deliver this.
      expect(
        await waitFor(() => events.some((e) => e.type === 'error' && e.code === ALARM_CODE), 5000),
      ).toBe(true);
      expect(adapter.health().connected).toBe(true);
      // And pushes flow again on the new link.
      h.clear(ALARM_CODE);
      expect(
        await waitFor(() => events.some((e) => e.type === 'error' && e.state === 'cleared'), 3000),
      ).toBe(true);
    });

    it('rejects an aborted call with ADAPTER_CANCELLED and does not count it as a failure', async () => {
      await adapter.connect();
      const before = adapter.health();
      h.fault('no-reply', 'getCounters');
      const ctl = new AbortController();
      const pending = adapter.readSnapshot(ctl.signal);
      setTimeout(() => ctl.abort(), 50);
      const t0 = Date.now();
      let error: unknown;
      await pending.catch((e: unknown) => (error = e));
      expect(Date.now() - t0).toBeLessThan(CONTRACT_TIMEOUT_MS);
      expect(error).toBeInstanceOf(AdapterError);
      expect(error).toMatchObject({ code: 'ADAPTER_CANCELLED', canceled: true });
      expect(await codeOf(adapter.readSnapshot(AbortSignal.abort()))).toBe('ADAPTER_CANCELLED');
      expect(adapter.health()).toMatchObject({
        readsFailed: before.readsFailed,
        timeouts: before.timeouts,
      });
      // Cancellation is not a disconnect: the link is still up and serves the next call.
      expect(adapter.health().connected).toBe(true);
      await adapter.readSnapshot();
    });

    it("counts an abort whose reason is the poller's ADAPTER_TIMEOUT as a timeout", async () => {
      await adapter.connect();
      h.fault('no-reply', 'getCounters');
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(new AdapterError('ADAPTER_TIMEOUT', 'poll did not complete')), 50);
      expect(await codeOf(adapter.readSnapshot(ctl.signal))).toBe('ADAPTER_TIMEOUT');
      expect(adapter.health()).toMatchObject({ readsFailed: 1, timeouts: 1 });
    });

    it('close() cancels pending calls, is idempotent, and later calls are cancelled', async () => {
      await adapter.connect();
      h.fault('no-reply', 'getCounters');
      const pending = adapter.readSnapshot();
      await new Promise((r) => setTimeout(r, 30));
      await adapter.close();
      expect(await codeOf(pending)).toBe('ADAPTER_CANCELLED');
      await adapter.close();
      expect(await codeOf(adapter.readSnapshot())).toBe('ADAPTER_CANCELLED');
      expect(await codeOf(adapter.connect())).toBe('ADAPTER_CANCELLED');
      expect(adapter.health()).toMatchObject({ readsFailed: 0, timeouts: 0, connected: false });
    });

    it('lists logs and reads one whole and from an offset', async () => {
      const caps = adapter.capabilities!;
      const logs = await caps.listLogs!();
      const listed = logs.find((l) => l.name === h.log.name)!;
      expect(listed).toBeDefined();
      const whole = await caps.readLog!(h.log.name);
      expect(whole.length).toBe(listed.bytes);
      h.log.check(whole);
      const tail = await caps.readLog!(h.log.name, { offset: 1000 });
      expect(Buffer.from(tail).equals(Buffer.from(whole.subarray(1000)))).toBe(true);
      expect(await codeOf(caps.readLog!('no-such.log'))).toBe('SDK_NOT_FOUND');
    });
  });
}
