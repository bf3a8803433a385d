import { CallSignals, raceAbort, raceSignals, reasonOf } from '../abort.js';
import { AdapterError, ConfigError } from '../errors.js';
import type {
  ActiveErrors,
  AdapterCapabilities,
  AdapterHealth,
  CounterReading,
  DeviceAdapter,
  DeviceEvent,
  DeviceSnapshot,
} from '../types.js';
import { SdkError, toAdapterError } from './errors.js';
import { deliver, warnListenerError } from './listeners.js';
import { concat, toReading } from './readings.js';
import type { SdkEvent, SdkInfo, SdkMethodName, VendorSdk } from './types.js';
import { checkActiveErrors, checkChunk, checkCounters, checkInfo, checkLogs } from './validate.js';

export interface VendorSdkAdapterOptions {
  /** Adapter kind reported to the runtime and the hub. Default `sdk:<sdk.name>`. */
  kind?: string;
  /** Budget of each SDK call, ms; a call that overruns rejects `SDK_TIMEOUT`. Default 5000. */
  timeoutMs?: number;
  /** Budget of a connect attempt, ms (`ADAPTER_CONNECT_FAILED`). Default 5000. */
  connectTimeoutMs?: number;
  /**
   * Allow-list of counters to report (DESIGN: collection by allow-list). A listed counter the SDK
   * does not report is named in `missing`. Default: every counter the SDK reports.
   */
  counters?: readonly string[];
  /** Resolution per counter, overriding what the SDK says (see `SdkCounter.resolution`). */
  resolution?: Readonly<Record<string, number>>;
  /** Bytes asked for per `readLog` call. Default 64 KiB. */
  logChunkBytes?: number;
  /** Largest log `readLog` will assemble in memory (`SDK_LOG_TOO_LARGE`). Default 16 MiB. */
  maxLogBytes?: number;
  /**
   * One SDK call at a time (default true): most vendor SDKs are not re-entrant. False lets the
   * fast error poll overlap a full read (fine for `IpcSdkClient`, which pipelines).
   */
  serialize?: boolean;
  /**
   * While someone listens to events, a dropped link is reconnected in the background (capped
   * exponential backoff with jitter) so pushed alarms resume without waiting for the next poll;
   * after each reconnect the active codes are re-read and any raise/clear missed meanwhile is
   * delivered as an event. `false` disables this (the next poll reconnects).
   * Default `{ initialMs: 250, maxMs: 10_000 }`.
   */
  rearm?: { initialMs?: number; maxMs?: number } | false;
  /** Where an exception thrown by an `onEvent` listener goes. Default: a process warning. */
  onListenerError?: (err: unknown) => void;
  /** Wall clock for `atMs`. Default Date.now. */
  now?: () => number;
}

type Resolved = Required<Omit<VendorSdkAdapterOptions, 'counters' | 'resolution' | 'rearm'>> & {
  counters: readonly string[] | undefined;
  resolution: Readonly<Record<string, number>>;
  rearm: { initialMs: number; maxMs: number } | false;
};

/**
 * Turns any {@link VendorSdk} into a `DeviceAdapter`: each SDK call bounded by a timeout and
 * raced against it (an SDK that ignores its signal cannot hang a poll), cancellation kept apart
 * from failure, health counters, reconnect on the next call after a drop, pushed error events
 * (re-armed in the background after a drop), and log capabilities when the SDK has them.
 */
export class VendorSdkAdapter implements DeviceAdapter {
  readonly kind: string;
  readonly capabilities: AdapterCapabilities | undefined;
  readonly #sdk: VendorSdk;
  readonly #o: Resolved;
  readonly #health: Omit<AdapterHealth, 'connected'> = { readsOk: 0, readsFailed: 0, timeouts: 0 };
  /** Fires on close(): calls in progress reject as cancelled, not as failures. */
  readonly #closing = new AbortController();
  /** The signals handed to the SDK, one per call, reused while calls leave them clean. */
  readonly #callSignals = new CallSignals();
  readonly #listeners = new Set<(event: DeviceEvent) => void>();
  /** Active codes as last seen (events and reads), to find what a reconnect missed. */
  #known = new Set<number>();
  #queue: Promise<unknown> = Promise.resolve();
  #connecting: Promise<void> | undefined;
  #info: SdkInfo | undefined;
  #sdkUnsubscribe: (() => void) | undefined;
  #rearmTimer: ReturnType<typeof setTimeout> | undefined;
  #rearmAttempt = 0;

  constructor(sdk: VendorSdk, options: VendorSdkAdapterOptions = {}) {
    this.#sdk = sdk;
    const rearm = options.rearm ?? {};
    this.#o = {
      kind: options.kind ?? `sdk:${sdk.name}`,
      timeoutMs: positive(options.timeoutMs ?? 5000, 'timeoutMs'),
      connectTimeoutMs: positive(options.connectTimeoutMs ?? 5000, 'connectTimeoutMs'),
      counters: options.counters,
      resolution: options.resolution ?? {},
      logChunkBytes: positive(options.logChunkBytes ?? 64 * 1024, 'logChunkBytes'),
      maxLogBytes: positive(options.maxLogBytes ?? 16 * 1024 * 1024, 'maxLogBytes'),
      serialize: options.serialize ?? true,
      rearm:
        rearm === false
          ? false
          : { initialMs: rearm.initialMs ?? 250, maxMs: rearm.maxMs ?? 10_000 },
      onListenerError: options.onListenerError ?? warnListenerError,
      now: options.now ?? Date.now,
    };
    this.kind = this.#o.kind;
    this.capabilities = this.#capabilities();
  }

  /** What the SDK reported at the last successful connect. */
  get info(): SdkInfo | undefined {
    return this.#info;
  }

  async connect(signal?: AbortSignal): Promise<void> {
    await this.#ensureConnected(signal);
  }

  readSnapshot(signal?: AbortSignal): Promise<DeviceSnapshot> {
    return this.#exclusive(signal, async (s) => {
      const { counters: reported } = await this.#invoke('getCounters', s, checkCounters, (sig) =>
        this.#sdk.getCounters(sig),
      );
      const active = await this.#invoke('getActiveErrors', s, checkActiveErrors, (sig) =>
        this.#sdk.getActiveErrors(sig),
      );
      this.#known = new Set(active.codes);
      const byName = new Map(reported.map((c) => [c.name, c]));
      const names = this.#o.counters ?? [...byName.keys()];
      const counters: CounterReading[] = [];
      const missing: string[] = [];
      for (const name of names) {
        const c = byName.get(name);
        const reading = c && toReading(c, this.#o.resolution[name]);
        if (reading) counters.push(reading);
        else missing.push(name);
      }
      return { atMs: this.#o.now(), counters, missing, ...active };
    });
  }

  readActiveErrors(signal?: AbortSignal): Promise<ActiveErrors> {
    return this.#exclusive(signal, async (s) => {
      const active = await this.#invoke('getActiveErrors', s, checkActiveErrors, (sig) =>
        this.#sdk.getActiveErrors(sig),
      );
      this.#known = new Set(active.codes);
      return active;
    });
  }

  health(): AdapterHealth {
    return { ...this.#health, connected: this.#sdk.connected };
  }

  onEvent(listener: (event: DeviceEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#sdkUnsubscribe ??= this.#sdk.subscribe((e) => this.#onSdkEvent(e));
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      this.#sdkUnsubscribe?.();
      this.#sdkUnsubscribe = undefined;
      this.#stopRearm();
    };
  }

  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) {
      this.#closing.abort(new AdapterError('ADAPTER_CANCELLED', 'adapter closed'));
      this.#stopRearm();
      this.#sdkUnsubscribe?.();
      this.#sdkUnsubscribe = undefined;
    }
    await this.#sdk.close();
  }

  #capabilities(): AdapterCapabilities | undefined {
    const sdk = this.#sdk;
    if (!sdk.listLogs && !sdk.readLog) return undefined;
    const caps: AdapterCapabilities = {};
    if (sdk.listLogs) {
      const list = sdk.listLogs.bind(sdk);
      caps.listLogs = (signal) =>
        this.#exclusive(signal, (s) => this.#invoke('listLogs', s, checkLogs, (sig) => list(sig)));
    }
    if (sdk.readLog) {
      const read = sdk.readLog.bind(sdk);
      caps.readLog = (name, options = {}) => this.#readLog(read, name, options);
    }
    return caps;
  }

  async #readLog(
    read: NonNullable<VendorSdk['readLog']>,
    name: string,
    options: { offset?: number; signal?: AbortSignal },
  ): Promise<Uint8Array> {
    const start = options.offset ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) {
      throw new RangeError(`readLog: offset must be an integer ≥ 0 (got ${start})`);
    }
    const size = this.#o.logChunkBytes;
    const parts: Uint8Array[] = [];
    let at = start;
    for (;;) {
      // One chunk per turn, so polls interleave with a long transfer.
      const chunk = await this.#exclusive(options.signal, (s) =>
        this.#invoke(
          'readLog',
          s,
          (v) => checkChunk(v, at, size),
          (sig) => read(name, at, size, sig),
        ),
      );
      parts.push(chunk.data);
      at += chunk.data.length;
      if (at - start > this.#o.maxLogBytes) {
        throw new SdkError(
          'SDK_LOG_TOO_LARGE',
          `log ${name} is larger than maxLogBytes (${this.#o.maxLogBytes}); read it in parts with offset`,
        );
      }
      if (chunk.eof) break;
    }
    return concat(parts, at - start);
  }

  /**
   * Runs `fn` in the call queue (when serialising), bounded by the caller's signal and close().
   * No signal is made here: `fn` hands the caller's on to {@link #invoke}, which makes the one
   * signal the SDK sees.
   */
  #exclusive<T>(
    caller: AbortSignal | undefined,
    fn: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    const closing = this.#closing.signal;
    if (!this.#o.serialize) return raceSignals(fn(caller), caller, closing);
    const run = raceSignals(
      this.#queue.then(() => {
        if (caller?.aborted) throw reasonOf(caller);
        if (closing.aborted) throw reasonOf(closing);
        return fn(caller);
      }),
      caller,
      closing,
    );
    // The next call waits for this one to settle — or to be abandoned at its timeout, so an SDK
    // that never returns cannot wedge the queue.
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * One SDK call: connected first, bounded by `timeoutMs`, result checked, health counted. The
   * SDK gets one signal that fires on the caller's abort, on close() or at the timeout, reused
   * by the next call when this one leaves it clean.
   */
  async #invoke<R, T>(
    method: SdkMethodName,
    caller: AbortSignal | undefined,
    check: (value: unknown) => T,
    call: (signal: AbortSignal) => Promise<R>,
  ): Promise<T> {
    await this.#ensureConnected(caller);
    const linked = this.#callSignals.acquire([caller, this.#closing.signal], {
      ms: this.#o.timeoutMs,
      reason: () =>
        new SdkError(
          'SDK_TIMEOUT',
          `vendor SDK ${method} did not complete within ${this.#o.timeoutMs} ms`,
        ),
    });
    const bounded = linked.signal;
    try {
      const value = check(
        await raceAbort(
          Promise.resolve().then(() => call(bounded)),
          bounded,
        ),
      );
      this.#health.readsOk += 1;
      return value;
    } catch (err) {
      const e = toAdapterError(err, method);
      this.#fail(e);
      throw e;
    } finally {
      linked.release();
    }
  }

  async #ensureConnected(signal: AbortSignal | undefined): Promise<void> {
    if (this.#closing.signal.aborted) throw reasonOf(this.#closing.signal);
    if (this.#sdk.connected && this.#info !== undefined) return;
    this.#connecting ??= this.#connectOnce().finally(() => {
      this.#connecting = undefined;
    });
    await raceAbort(this.#connecting, signal);
  }

  async #connectOnce(): Promise<void> {
    const linked = this.#callSignals.acquire([this.#closing.signal], {
      ms: this.#o.connectTimeoutMs,
      reason: () => new SdkError('SDK_TIMEOUT', `no answer within ${this.#o.connectTimeoutMs} ms`),
    });
    const { signal } = linked;
    try {
      const info = await raceAbort(
        Promise.resolve().then(() => this.#sdk.connect(signal)),
        signal,
      );
      this.#info = checkInfo(info);
    } catch (err) {
      let e = toAdapterError(err, 'connect');
      if (!e.canceled && e.code !== 'ADAPTER_CONNECT_FAILED' && e.code !== 'SDK_INCOMPATIBLE') {
        e = new SdkError(
          'ADAPTER_CONNECT_FAILED',
          `cannot connect to the vendor SDK: ${e.message}`,
          {
            cause: e,
          },
        );
      }
      this.#fail(e);
      this.#scheduleRearm();
      throw e;
    } finally {
      linked.release();
    }
    this.#rearmAttempt = 0;
    this.#stopRearm();
    if (this.#listeners.size > 0) void this.#resync();
  }

  /** After a (re)connect: deliver what changed while the link was down. */
  async #resync(): Promise<void> {
    let codes: number[];
    try {
      const before = this.#known;
      codes = (
        await this.#exclusive(undefined, (s) =>
          this.#invoke('getActiveErrors', s, checkActiveErrors, (sig) =>
            this.#sdk.getActiveErrors(sig),
          ),
        )
      ).codes;
      const atMs = this.#o.now();
      const now = new Set(codes);
      for (const code of now) {
        if (!before.has(code)) this.#emit({ type: 'error', code, state: 'raised', atMs });
      }
      for (const code of before) {
        if (!now.has(code)) this.#emit({ type: 'error', code, state: 'cleared', atMs });
      }
      this.#known = now;
    } catch {
      // Already counted in health by #invoke; a lost link schedules its own re-arm, and the
      // next poll reads the codes anyway.
    }
  }

  #onSdkEvent(e: SdkEvent): void {
    switch (e.type) {
      case 'error':
        if (e.state === 'raised') this.#known.add(e.code);
        else this.#known.delete(e.code);
        this.#emit({ type: 'error', code: e.code, state: e.state, atMs: e.atMs });
        return;
      case 'reboot':
        this.#emit({ type: 'reboot', atMs: e.atMs });
        return;
      case 'disconnected':
        this.#scheduleRearm();
        return;
    }
  }

  #emit(event: DeviceEvent): void {
    deliver(this.#listeners, event, this.#o.onListenerError);
  }

  #scheduleRearm(): void {
    const policy = this.#o.rearm;
    if (policy === false || this.#rearmTimer !== undefined) return;
    if (this.#listeners.size === 0 || this.#closing.signal.aborted) return;
    const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(this.#rearmAttempt, 20));
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.#rearmAttempt += 1;
    this.#rearmTimer = setTimeout(() => {
      this.#rearmTimer = undefined;
      // A failure is counted in health and schedules the next attempt (#connectOnce).
      this.#ensureConnected(undefined).catch(() => undefined);
    }, delay);
    this.#rearmTimer.unref?.();
  }

  #stopRearm(): void {
    if (this.#rearmTimer !== undefined) clearTimeout(this.#rearmTimer);
    this.#rearmTimer = undefined;
  }

  #fail(err: AdapterError): void {
    // A failure caused by the caller or by close() is a cancellation, not a device fault.
    if (err.canceled || this.#closing.signal.aborted) return;
    this.#health.readsFailed += 1;
    if (err.code === 'SDK_TIMEOUT' || err.code === 'ADAPTER_TIMEOUT') this.#health.timeouts += 1;
    this.#health.lastErrorCode = err.code;
  }
}

/** Turns a vendor SDK binding into a `DeviceAdapter` (see {@link VendorSdkAdapter}). */
export function vendorSdkAdapter(
  sdk: VendorSdk,
  options: VendorSdkAdapterOptions = {},
): VendorSdkAdapter {
  return new VendorSdkAdapter(sdk, options);
}

function positive(v: number, name: string): number {
  if (!Number.isFinite(v) || v <= 0) throw new ConfigError('must be a positive number', name);
  return v;
}
