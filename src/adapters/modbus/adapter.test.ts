import { describe, expect, it } from 'vitest';
import sampleMap from '../../../protocols/register-map.json' with { type: 'json' };
import { AdapterError, type AdapterErrorCode } from '../errors.js';
import { heldBy } from '../test-signals.js';
import { ModbusAdapter } from './adapter.js';
import type { ModbusClient } from './client.js';
import type { ReadRequest } from './plan.js';
import { parseRegisterMap, type ModbusTable, type RegisterMap } from './register-map.js';

type Step =
  | { kind: 'fail'; code: AdapterErrorCode; modbusException?: number }
  | { kind: 'hang' }
  | { kind: 'short'; words: number };

/**
 * A scripted Modbus master. Registers are a plain map; the N-th read (1-based, counted over
 * the client's life) can be made to fail with a given code, to come back short, or to hang
 * until `release()`. It records every read and the highest number of reads in flight at once.
 */
class FakeModbusClient implements ModbusClient {
  readonly kind = 'fake-modbus';
  isOpen = false;
  opens = 0;
  closes = 0;
  readonly reads: ReadRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #registers = new Map<string, number>();
  readonly #script = new Map<number, Step>();
  readonly #openFailures: AdapterErrorCode[] = [];
  #hung: Array<{ resume: () => void; fail: (err: unknown) => void }> = [];
  #closeFailsHungWith: AdapterErrorCode | undefined;

  set(table: ModbusTable, address: number, words: readonly number[]): this {
    words.forEach((w, i) => this.#registers.set(`${table}:${address + i}`, w));
    return this;
  }

  failRead(n: number, code: AdapterErrorCode, modbusException?: number): this {
    this.#script.set(n, { kind: 'fail', code, modbusException });
    return this;
  }

  hangRead(n: number): this {
    this.#script.set(n, { kind: 'hang' });
    return this;
  }

  shortRead(n: number, words: number): this {
    this.#script.set(n, { kind: 'short', words });
    return this;
  }

  failNextOpen(code: AdapterErrorCode = 'ADAPTER_CONNECT_FAILED'): this {
    this.#openFailures.push(code);
    return this;
  }

  /**
   * Makes close() fail every hung read with `code`, as modbus-serial does: closing the port
   * rejects the pending transaction (with a timeout error).
   */
  failHungOnClose(code: AdapterErrorCode = 'MODBUS_TIMEOUT'): this {
    this.#closeFailsHungWith = code;
    return this;
  }

  /** Lets every hung read complete. */
  release(): void {
    const hung = this.#hung;
    this.#hung = [];
    for (const h of hung) h.resume();
  }

  get hanging(): number {
    return this.#hung.length;
  }

  async open(): Promise<void> {
    this.opens++;
    await tick();
    const failure = this.#openFailures.shift();
    if (failure) throw new AdapterError(failure, 'scripted open failure');
    this.isOpen = true;
  }

  async read(table: ModbusTable, address: number, count: number): Promise<number[]> {
    if (!this.isOpen) throw new AdapterError('ADAPTER_NOT_CONNECTED', 'not open');
    this.reads.push({ table, address, count });
    const step = this.#script.get(this.reads.length);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // A real bus takes time: give any overlapping caller the chance to show itself.
      await tick();
      if (step?.kind === 'hang') {
        await new Promise<void>((resume, fail) => this.#hung.push({ resume, fail }));
      }
      if (step?.kind === 'fail') {
        throw new AdapterError(step.code, 'scripted failure', {
          modbusException: step.modbusException,
          address,
        });
      }
      const n = step?.kind === 'short' ? step.words : count;
      return Array.from(
        { length: n },
        (_, i) => this.#registers.get(`${table}:${address + i}`) ?? 0,
      );
    } finally {
      this.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.closes++;
    this.isOpen = false;
    const code = this.#closeFailsHungWith;
    if (code) {
      const hung = this.#hung;
      this.#hung = [];
      for (const h of hung) h.fail(new AdapterError(code, 'port closed during the transaction'));
    }
  }
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const NOW = 1_763_000_000_000;
const map = parseRegisterMap(sampleMap);

/** A client holding a plausible XR-200 register image for the shipped map. */
function xr200(): FakeModbusClient {
  return new FakeModbusClient()
    .set('holding', 0, [0x0001, 0x86a0]) // exposures_total u32 big = 100000
    .set('holding', 2, [0xe240, 0x0001]) // tube_heat u32 little = 123456
    .set('holding', 4, [875]) // tube_heat_pct 87.5 %
    .set('holding', 5, [0xffce]) // detector_temp i16 -50 → -5.0 degC
    .set('holding', 6, [1200, 2500, 100]) // last_kv 120, last_ma 250, last_ms 100
    .set('holding', 9, [0x0000, 3600]) // uptime u32 big
    .set('holding', 11, [1]) // door_closed
    .set('holding', 12, [0x0012, 0xd687]) // tube_mas_total 1234567 * 0.1
    .set('holding', 14, [0xfed4, 0xffff]) // heat_balance i32 little = -300
    .set('holding', 16, [0x0000, 7]) // error_events_total
    .set('holding', 100, [2001, 0, 4001, 2001, 0, 0, 0, 0]);
}

function adapter(
  client: FakeModbusClient,
  options: { registerMap?: RegisterMap; retries?: number } = {},
): ModbusAdapter {
  return new ModbusAdapter({
    client,
    registerMap: options.registerMap ?? map,
    retries: options.retries,
    now: () => NOW,
  });
}

/** Resolves with what `p` rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<AdapterError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AdapterError);
  return caught as AdapterError;
}

const SNAPSHOT_READS: ReadRequest[] = [
  { table: 'holding', address: 0, count: 18 },
  { table: 'holding', address: 100, count: 8 },
];
const ERROR_READS: ReadRequest[] = [
  { table: 'holding', address: 16, count: 2 },
  { table: 'holding', address: 100, count: 8 },
];

describe('ModbusAdapter: snapshot', () => {
  it('keeps nothing per poll on the signals it is given (the soak leak: AbortSignal.any)', async () => {
    // An OEM's long-lived signal passed to every poll, like the adapter's own close signal:
    // each poll used to leave an entry in both signals' lists of dependants, for ever.
    const app = new AbortController();
    const a = adapter(xr200());
    for (let i = 0; i < 2000; i++) {
      await a.readSnapshot(app.signal);
      await a.readActiveErrors(app.signal);
    }
    expect(heldBy(app.signal)).toBe(0);
    await a.close();
  });

  it('decodes every counter of the map in map order', async () => {
    const client = xr200();
    const snap = await adapter(client).readSnapshot();
    expect(snap.atMs).toBe(NOW);
    expect(snap.missing).toEqual([]);
    expect(snap.counters.map((c) => [c.name, c.raw, c.value])).toEqual([
      ['exposures_total', 100_000, 100_000],
      ['tube_heat', 123_456, 123_456],
      ['tube_heat_pct', 875, 87.5],
      ['detector_temp', -50, -5],
      ['last_kv', 1200, 120],
      ['last_ma', 2500, 250],
      ['last_ms', 100, 100],
      ['uptime', 3600, 3600],
      ['door_closed', 1, 1],
      ['tube_mas_total', 1_234_567, 123_456.7],
      ['heat_balance', -300, -300],
      ['error_events_total', 7, 7],
    ]);
    expect(snap.counters[2]).toEqual({
      name: 'tube_heat_pct',
      raw: 875,
      rawKind: 'integer',
      value: 87.5,
      unit: '%',
      scale: 0.1,
      offset: 0,
    });
  });

  it('reads active codes (0 skipped, duplicates removed) and the raises total', async () => {
    const snap = await adapter(xr200()).readSnapshot();
    expect(snap.codes).toEqual([2001, 4001]);
    expect(snap.raisesTotal).toBe(7);
  });

  it('makes the planned reads, opening the link first', async () => {
    const client = xr200();
    const a = adapter(client);
    expect(a.plannedReads).toEqual(SNAPSHOT_READS);
    expect(a.kind).toBe('fake-modbus');
    expect(a.health().connected).toBe(false);
    await a.readSnapshot();
    expect(client.opens).toBe(1);
    expect(client.reads).toEqual(SNAPSHOT_READS);
    await a.readSnapshot();
    expect(client.opens).toBe(1);
    expect(a.health()).toEqual({ connected: true, readsOk: 4, readsFailed: 0, timeouts: 0 });
  });

  it('a map without error slots or raises counter reports no codes and no total', async () => {
    const m = parseRegisterMap({ counters: [{ name: 'a', address: 3, type: 'i16' }] });
    const client = new FakeModbusClient().set('holding', 3, [0xfffd]);
    const snap = await adapter(client, { registerMap: m }).readSnapshot();
    expect(snap.counters.map((c) => c.raw)).toEqual([-3]);
    expect(snap.codes).toEqual([]);
    expect('raisesTotal' in snap).toBe(false);
  });

  it('counters a short reply did not cover are reported missing, not invented', async () => {
    // Only registers 0..9 come back: tube_mas_total (12), uptime (9-10) and later are missing.
    const client = xr200().shortRead(1, 10);
    const snap = await adapter(client).readSnapshot();
    expect(snap.missing).toEqual([
      'uptime',
      'door_closed',
      'tube_mas_total',
      'heat_balance',
      'error_events_total',
    ]);
    expect(snap.counters.map((c) => c.name)).toEqual([
      'exposures_total',
      'tube_heat',
      'tube_heat_pct',
      'detector_temp',
      'last_kv',
      'last_ma',
      'last_ms',
    ]);
    expect('raisesTotal' in snap).toBe(false);
    expect(snap.codes).toEqual([2001, 4001]);
  });
});

describe('ModbusAdapter: failures', () => {
  it('a failed read fails the whole snapshot (no partial snapshot)', async () => {
    const client = xr200().failRead(2, 'MODBUS_EXCEPTION', 2);
    const a = adapter(client);
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('MODBUS_EXCEPTION');
    expect(err.canceled).toBe(false);
  });

  it('does not retry a Modbus exception, and keeps the exception code', async () => {
    const client = xr200().failRead(1, 'MODBUS_EXCEPTION', 2);
    const a = adapter(client, { retries: 3 });
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('MODBUS_EXCEPTION');
    expect(err.modbusException).toBe(2);
    expect(err.address).toBe(0);
    expect(client.reads).toHaveLength(1);
    // The device answered: the link is fine and stays open.
    expect(client.closes).toBe(0);
    expect(a.health()).toEqual({
      connected: true,
      readsOk: 0,
      readsFailed: 1,
      timeouts: 0,
      lastErrorCode: 'MODBUS_EXCEPTION',
    });
  });

  for (const code of [
    'MODBUS_TIMEOUT',
    'MODBUS_CRC',
    'MODBUS_SHORT_REPLY',
    'ADAPTER_BAD_REPLY',
  ] as const) {
    it(`retries a read after ${code} and succeeds`, async () => {
      const client = xr200().failRead(1, code);
      const a = adapter(client);
      const snap = await a.readSnapshot();
      expect(snap.counters).toHaveLength(12);
      expect(client.reads).toEqual([SNAPSHOT_READS[0], ...SNAPSHOT_READS]);
      expect(client.closes).toBe(0);
      expect(a.health()).toEqual({
        connected: true,
        readsOk: 2,
        readsFailed: 1,
        timeouts: code === 'MODBUS_TIMEOUT' ? 1 : 0,
        lastErrorCode: code,
      });
    });
  }

  it('gives up when the retry budget is spent (default: one retry)', async () => {
    const client = xr200().failRead(1, 'MODBUS_TIMEOUT').failRead(2, 'MODBUS_TIMEOUT');
    const a = adapter(client);
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('MODBUS_TIMEOUT');
    expect(client.reads).toHaveLength(2);
    expect(a.health()).toMatchObject({ readsOk: 0, readsFailed: 2, timeouts: 2 });
  });

  it('uses a larger retry budget when given one', async () => {
    const client = xr200().failRead(1, 'MODBUS_CRC').failRead(2, 'MODBUS_TIMEOUT');
    const a = adapter(client, { retries: 2 });
    await a.readSnapshot();
    expect(client.reads).toHaveLength(4);
    expect(a.health()).toMatchObject({
      readsOk: 2,
      readsFailed: 2,
      timeouts: 1,
      lastErrorCode: 'MODBUS_TIMEOUT',
    });
  });

  it('retries 0 means one attempt', async () => {
    const client = xr200().failRead(1, 'MODBUS_CRC');
    const err = await rejection(adapter(client, { retries: 0 }).readSnapshot());
    expect(err.code).toBe('MODBUS_CRC');
    expect(client.reads).toHaveLength(1);
  });

  it('a lost link is closed at once and reopened by the next call', async () => {
    const client = xr200().failRead(2, 'ADAPTER_DISCONNECTED');
    const a = adapter(client, { retries: 3 });
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('ADAPTER_DISCONNECTED');
    expect(client.reads).toHaveLength(2); // not retried on the dead link
    expect(client.closes).toBe(1);
    expect(a.health()).toMatchObject({
      connected: false,
      readsFailed: 1,
      lastErrorCode: 'ADAPTER_DISCONNECTED',
    });

    const snap = await a.readSnapshot();
    expect(client.opens).toBe(2);
    expect(snap.counters).toHaveLength(12);
    expect(a.health().connected).toBe(true);
  });

  it('a client that reports not connected is closed and reopened too', async () => {
    const client = xr200().failRead(1, 'ADAPTER_NOT_CONNECTED');
    const a = adapter(client);
    expect((await rejection(a.readSnapshot())).code).toBe('ADAPTER_NOT_CONNECTED');
    expect(client.closes).toBe(1);
    await a.readSnapshot();
    expect(client.opens).toBe(2);
  });

  it('a connect failure rejects the call and counts against health; the next call retries', async () => {
    const client = xr200().failNextOpen();
    const a = adapter(client);
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('ADAPTER_CONNECT_FAILED');
    expect(client.reads).toHaveLength(0);
    expect(a.health()).toEqual({
      connected: false,
      readsOk: 0,
      readsFailed: 1,
      timeouts: 0,
      lastErrorCode: 'ADAPTER_CONNECT_FAILED',
    });
    await a.readSnapshot();
    expect(client.opens).toBe(2);
  });

  it('connect() opens the link and reports a failure as ADAPTER_CONNECT_FAILED', async () => {
    const client = xr200().failNextOpen();
    const a = adapter(client);
    expect((await rejection(a.connect())).code).toBe('ADAPTER_CONNECT_FAILED');
    await a.connect();
    expect(client.isOpen).toBe(true);
    await a.connect();
    expect(client.opens).toBe(2);
  });

  it('keeps counting across calls and remembers the latest error code', async () => {
    const client = xr200().failRead(1, 'MODBUS_TIMEOUT').failRead(4, 'MODBUS_EXCEPTION', 4);
    const a = adapter(client);
    await a.readSnapshot(); // reads 1 (timeout), 2, 3
    await rejection(a.readSnapshot()); // read 4 (exception)
    await a.readSnapshot(); // reads 5, 6
    expect(a.health()).toEqual({
      connected: true,
      readsOk: 4,
      readsFailed: 2,
      timeouts: 1,
      lastErrorCode: 'MODBUS_EXCEPTION',
    });
  });
});

describe('ModbusAdapter: cancellation', () => {
  it('an abort with an ADAPTER_TIMEOUT reason rejects with that error', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const ctl = new AbortController();
    const p = a.readSnapshot(ctl.signal);
    while (client.hanging === 0) await tick();
    const reason = new AdapterError('ADAPTER_TIMEOUT', 'poll took too long');
    ctl.abort(reason);
    const err = await rejection(p);
    expect(err).toBe(reason);
    expect(err.code).toBe('ADAPTER_TIMEOUT');
    expect(err.canceled).toBe(false);
    client.release();
  });

  it('a plain abort rejects as cancelled and is not counted as a failure', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const ctl = new AbortController();
    const p = a.readSnapshot(ctl.signal);
    while (client.hanging === 0) await tick();
    ctl.abort();
    const err = await rejection(p);
    expect(err.code).toBe('ADAPTER_CANCELLED');
    expect(err.canceled).toBe(true);
    expect(a.health()).toMatchObject({ readsFailed: 0, timeouts: 0 });
    expect(a.health().lastErrorCode).toBeUndefined();
    client.release();
  });

  it('an abort reason that is not an AdapterError still rejects as cancelled', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const ctl = new AbortController();
    const p = a.readActiveErrors(ctl.signal);
    while (client.hanging === 0) await tick();
    ctl.abort(new Error('shutdown'));
    const err = await rejection(p);
    expect(err.code).toBe('ADAPTER_CANCELLED');
    client.release();
  });

  it('an already aborted signal rejects without touching the bus', async () => {
    const client = xr200();
    const a = adapter(client);
    const err = await rejection(a.readSnapshot(AbortSignal.abort()));
    expect(err.code).toBe('ADAPTER_CANCELLED');
    expect(client.reads).toHaveLength(0);
    const timeout = new AdapterError('ADAPTER_TIMEOUT', 'late');
    expect(await rejection(a.readActiveErrors(AbortSignal.abort(timeout)))).toBe(timeout);
    expect(client.reads).toHaveLength(0);
  });

  it('an abort between two reads stops before the next read', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const ctl = new AbortController();
    const p = a.readSnapshot(ctl.signal);
    while (client.hanging === 0) await tick();
    ctl.abort();
    await rejection(p);
    client.release();
    for (let i = 0; i < 5; i++) await tick();
    expect(client.reads).toHaveLength(1);
  });

  it('a call queued behind an aborted, still-running read waits for the bus to be free', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const ctl = new AbortController();
    const first = a.readSnapshot(ctl.signal);
    while (client.hanging === 0) await tick();
    ctl.abort();
    await rejection(first);
    const second = a.readSnapshot();
    for (let i = 0; i < 5; i++) await tick();
    expect(client.reads).toHaveLength(1); // the hung read still owns the bus
    client.release();
    const snap = await second;
    expect(snap.counters).toHaveLength(12);
    expect(client.maxInFlight).toBe(1);
  });

  it('a read the client itself reports as cancelled is not retried or counted', async () => {
    const client = xr200().failRead(1, 'ADAPTER_CANCELLED');
    const a = adapter(client, { retries: 3 });
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('ADAPTER_CANCELLED');
    expect(err.canceled).toBe(true);
    expect(client.reads).toHaveLength(1);
    expect(a.health()).toEqual({ connected: true, readsOk: 0, readsFailed: 0, timeouts: 0 });
  });

  it('after close() every call rejects as cancelled without reopening', async () => {
    const client = xr200();
    const a = adapter(client);
    await a.readSnapshot();
    await a.close();
    expect(client.closes).toBe(1);
    expect(a.health().connected).toBe(false);
    const err = await rejection(a.readSnapshot());
    expect(err.code).toBe('ADAPTER_CANCELLED');
    expect(err.canceled).toBe(true);
    expect((await rejection(a.readActiveErrors())).code).toBe('ADAPTER_CANCELLED');
    expect((await rejection(a.connect())).code).toBe('ADAPTER_CANCELLED');
    expect(client.opens).toBe(1);
    expect(a.health()).toMatchObject({ readsFailed: 0 });
    await a.close();
  });
});

describe('ModbusAdapter: close() during a call', () => {
  it('a read in progress rejects as cancelled, even when closing fails it with a timeout', async () => {
    const client = xr200().hangRead(1).failHungOnClose('MODBUS_TIMEOUT');
    const a = adapter(client, { retries: 3 });
    const p = a.readSnapshot();
    while (client.hanging === 0) await tick();
    await a.close();
    const err = await rejection(p);
    expect(err.code).toBe('ADAPTER_CANCELLED');
    expect(err.canceled).toBe(true);
    for (let i = 0; i < 5; i++) await tick();
    // The timeout the closing port produced is neither retried nor counted as a bus failure.
    expect(client.reads).toHaveLength(1);
    expect(client.opens).toBe(1);
    expect(a.health()).toEqual({ connected: false, readsOk: 0, readsFailed: 0, timeouts: 0 });
  });

  it('a read that keeps hanging after close() does not hold the caller', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const p = a.readSnapshot();
    while (client.hanging === 0) await tick();
    await a.close();
    const err = await rejection(p);
    expect(err.code).toBe('ADAPTER_CANCELLED');
    expect(err.canceled).toBe(true);
    client.release();
    for (let i = 0; i < 5; i++) await tick();
    // Nothing more reaches the bus, and nothing that happens after close() counts as a fault.
    expect(client.reads).toHaveLength(1);
    expect(a.health()).toMatchObject({ readsFailed: 0, timeouts: 0 });
    expect(a.health().lastErrorCode).toBeUndefined();
  });

  it('calls queued behind the closed one reject as cancelled and never reach the bus', async () => {
    const client = xr200().hangRead(1).failHungOnClose('MODBUS_TIMEOUT');
    const a = adapter(client);
    const first = a.readSnapshot();
    const queued = a.readActiveErrors();
    while (client.hanging === 0) await tick();
    await a.close();
    const [e1, e2] = await Promise.all([rejection(first), rejection(queued)]);
    expect([e1.code, e2.code]).toEqual(['ADAPTER_CANCELLED', 'ADAPTER_CANCELLED']);
    for (let i = 0; i < 5; i++) await tick();
    expect(client.reads).toHaveLength(1);
    expect(a.health()).toMatchObject({ readsFailed: 0, timeouts: 0 });
  });
});

describe('ModbusAdapter: float32 counters', () => {
  const floatMap = parseRegisterMap({
    counters: [
      { name: 'big_f', address: 0, type: 'float32', unit: 'mGy' },
      { name: 'little_f', address: 2, type: 'float32', wordOrder: 'little', scale: 2 },
      { name: 'plain', address: 4, type: 'u32' },
    ],
  });

  it('carry rawKind float32 and the IEEE-754 bit pattern as raw; others are integer', async () => {
    const client = new FakeModbusClient()
      .set('holding', 0, [0x3fc0, 0x0000]) // 1.5
      .set('holding', 2, [0x0000, 0xc010]) // -2.25, low word first
      .set('holding', 4, [0x3fc0, 0x0000]); // the same bits read as an integer
    const snap = await adapter(client, { registerMap: floatMap }).readSnapshot();
    expect(snap.missing).toEqual([]);
    expect(snap.counters).toEqual([
      {
        name: 'big_f',
        raw: 0x3fc00000,
        rawKind: 'float32',
        value: 1.5,
        unit: 'mGy',
        scale: 1,
        offset: 0,
      },
      {
        name: 'little_f',
        raw: 0xc0100000,
        rawKind: 'float32',
        value: -4.5,
        unit: '',
        scale: 2,
        offset: 0,
      },
      {
        name: 'plain',
        raw: 0x3fc00000,
        rawKind: 'integer',
        value: 0x3fc00000,
        unit: '',
        scale: 1,
        offset: 0,
      },
    ]);
  });

  it('raw is the exact bit pattern, including NaN payloads, negative zero and infinities', async () => {
    const bits = [0x7fc00001, 0x80000000, 0x00000001, 0x7f7fffff, 0xff800000];
    for (const pattern of bits) {
      const client = new FakeModbusClient().set('holding', 0, [pattern >>> 16, pattern & 0xffff]);
      const snap = await adapter(client, { registerMap: floatMap }).readSnapshot();
      const f = snap.counters.find((c) => c.name === 'big_f')!;
      expect(f.rawKind).toBe('float32');
      expect(f.raw).toBe(pattern);
    }
  });
});

describe('ModbusAdapter: active errors', () => {
  it('reads only the error slots and the raises counter', async () => {
    const client = xr200();
    const active = await adapter(client).readActiveErrors();
    expect(active).toEqual({ codes: [2001, 4001], raisesTotal: 7 });
    expect(client.reads).toEqual(ERROR_READS);
  });

  it('reports codes in slot order, skipping empty slots and repeats', async () => {
    const client = xr200().set('holding', 100, [0, 3001, 0, 1002, 3001, 1002, 0, 6002]);
    const active = await adapter(client).readActiveErrors();
    expect(active.codes).toEqual([3001, 1002, 6002]);
  });

  it('no active codes is an empty list', async () => {
    const client = xr200().set('holding', 100, [0, 0, 0, 0, 0, 0, 0, 0]);
    expect(await adapter(client).readActiveErrors()).toEqual({ codes: [], raisesTotal: 7 });
  });

  it('the raises total is the raw 32-bit value', async () => {
    const client = xr200().set('holding', 16, [0x0001, 0x0002]);
    expect((await adapter(client).readActiveErrors()).raisesTotal).toBe(65538);
    expect((await adapter(client).readSnapshot()).raisesTotal).toBe(65538);
  });

  it('without a raises counter there is no total', async () => {
    const m = parseRegisterMap({
      counters: [{ name: 'a', address: 0, type: 'u16' }],
      errors: { table: 'input', address: 10, slots: 2 },
    });
    const client = new FakeModbusClient().set('input', 10, [0, 42]);
    const a = adapter(client, { registerMap: m });
    expect(await a.readActiveErrors()).toEqual({ codes: [42] });
    expect(client.reads).toEqual([{ table: 'input', address: 10, count: 2 }]);
  });

  it('retries and fails like a snapshot', async () => {
    const client = xr200().failRead(1, 'MODBUS_CRC').failRead(3, 'MODBUS_EXCEPTION', 3);
    const a = adapter(client);
    const err = await rejection(a.readActiveErrors());
    expect(err.code).toBe('MODBUS_EXCEPTION');
    expect(err.modbusException).toBe(3);
    expect(client.reads).toEqual([ERROR_READS[0], ERROR_READS[0], ERROR_READS[1]]);
  });
});

describe('ModbusAdapter: one transaction at a time', () => {
  it('concurrent calls never overlap on the client and run in call order', async () => {
    const client = xr200();
    const a = adapter(client);
    const results = await Promise.all([
      a.readSnapshot(),
      a.readActiveErrors(),
      a.readSnapshot(),
      a.readActiveErrors(),
      a.readActiveErrors(),
    ]);
    expect(client.maxInFlight).toBe(1);
    expect(client.reads).toEqual([
      ...SNAPSHOT_READS,
      ...ERROR_READS,
      ...SNAPSHOT_READS,
      ...ERROR_READS,
      ...ERROR_READS,
    ]);
    expect(results.map((r) => r.codes)).toEqual(Array(5).fill([2001, 4001]));
  });

  it('a failing call does not block or overlap the calls queued behind it', async () => {
    const client = xr200().failRead(1, 'MODBUS_EXCEPTION', 2).failRead(3, 'MODBUS_TIMEOUT');
    const a = adapter(client);
    const [first, second, third] = await Promise.allSettled([
      a.readSnapshot(),
      a.readActiveErrors(),
      a.readSnapshot(),
    ]);
    expect(first.status).toBe('rejected');
    expect(second.status).toBe('fulfilled');
    expect(third.status).toBe('fulfilled');
    expect(client.maxInFlight).toBe(1);
  });

  it('a call aborted while queued never reaches the bus', async () => {
    const client = xr200().hangRead(1);
    const a = adapter(client);
    const first = a.readSnapshot();
    while (client.hanging === 0) await tick();
    const ctl = new AbortController();
    const queued = a.readActiveErrors(ctl.signal);
    ctl.abort();
    expect((await rejection(queued)).code).toBe('ADAPTER_CANCELLED');
    client.release();
    await first;
    for (let i = 0; i < 5; i++) await tick();
    expect(client.reads).toEqual(SNAPSHOT_READS);
  });
});

describe('ModbusAdapter: coils and discrete inputs', () => {
  const m = parseRegisterMap({
    counters: [
      { name: 'door_closed', table: 'discrete', address: 0, type: 'bool' },
      { name: 'lamp_on', table: 'discrete', address: 1, type: 'bool' },
      { name: 'service_mode', table: 'coil', address: 7, type: 'bool', scale: -1, offset: 1 },
      { name: 'kv', table: 'input', address: 0, type: 'u16', scale: 0.1 },
    ],
  });

  it('reads bits with their own reads (FC1/FC2) and reports them as 0/1 integers', async () => {
    const client = new FakeModbusClient()
      .set('discrete', 0, [1, 0])
      .set('coil', 7, [1])
      .set('input', 0, [1205]);
    const snap = await adapter(client, { registerMap: m }).readSnapshot();
    expect(client.reads).toEqual([
      { table: 'discrete', address: 0, count: 2 },
      { table: 'coil', address: 7, count: 1 },
      { table: 'input', address: 0, count: 1 },
    ]);
    expect(snap.counters.map((c) => [c.name, c.raw, c.rawKind, c.value])).toEqual([
      ['door_closed', 1, 'integer', 1],
      ['lamp_on', 0, 'integer', 0],
      ['service_mode', 1, 'integer', 0],
      ['kv', 1205, 'integer', 120.5],
    ]);
  });
});
