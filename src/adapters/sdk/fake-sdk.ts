import { reasonOf } from '../abort.js';
import { AdapterError } from '../errors.js';
import { SdkError } from './errors.js';
import type {
  SdkActiveErrors,
  SdkCounter,
  SdkCounters,
  SdkEvent,
  SdkInfo,
  SdkLogChunk,
  SdkLogInfo,
  SdkMethodName,
  VendorSdk,
} from './types.js';

/** What to do to a call instead of answering it properly. */
export type FakeSdkFault =
  /** Reject with this error (an `SdkError` with a vendor status, a plain `Error`, ...). */
  | { kind: 'error'; error: Error }
  /** Never answer (until aborted, closed or the link drops). */
  | { kind: 'hang' }
  /** Answer `ms` later. */
  | { kind: 'delay'; ms: number }
  /** Resolve with this value instead of a well-formed result. */
  | { kind: 'malformed'; result: unknown }
  /** The link drops during the call (`ADAPTER_DISCONNECTED`; listeners hear `disconnected`). */
  | { kind: 'disconnect' };

export interface FakeVendorSdkOptions {
  info?: Partial<SdkInfo>;
  counters?: SdkCounter[];
  activeCodes?: number[];
  /** Log files by name; `false` = the SDK has no log calls at all. Default: one small log. */
  logs?: Record<string, Uint8Array | string> | false;
  /** Most bytes one `readLog` returns (the device's chunk limit). Default 16 KiB. */
  maxReadBytes?: number;
  /** Behave like a badly written wrapper that ignores AbortSignals. Default false. */
  ignoreAbort?: boolean;
  /** Wall clock for event times. Default Date.now. */
  now?: () => number;
}

interface Armed {
  fault: FakeSdkFault;
  method: SdkMethodName | undefined;
  /** Matching calls still to let through before this fault applies. */
  skip: number;
  times: number;
}

interface Waiter {
  reject(err: AdapterError): void;
}

/**
 * An in-process {@link VendorSdk} for tests, held to the contract more strictly than most real
 * SDKs: calls before `connect()` reject `ADAPTER_NOT_CONNECTED`, calls after `close()` reject
 * `ADAPTER_CANCELLED`, events are delivered only while connected (those raised while the link is
 * down are lost, as on a real link). Scriptable: set counters, raise and clear codes, drop the
 * link, and {@link inject} faults into the N-th call (any method or one method). It records every
 * call and the most calls it saw in flight at once.
 */
export class FakeVendorSdk implements VendorSdk {
  readonly name = 'fake';
  readonly listLogs?: (signal?: AbortSignal) => Promise<SdkLogInfo[]>;
  readonly readLog?: (
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ) => Promise<SdkLogChunk>;
  /** Every call, in order, with how it ended. */
  readonly history: Array<{ method: SdkMethodName; outcome: 'ok' | 'fault' | 'error' }> = [];
  /** The most calls that were in flight at the same time. */
  maxConcurrent = 0;
  readonly #info: SdkInfo;
  readonly #counters = new Map<string, SdkCounter>();
  readonly #active = new Set<number>();
  readonly #logs = new Map<string, { data: Uint8Array; modifiedMs: number }>();
  readonly #listeners = new Set<(event: SdkEvent) => void>();
  readonly #armed: Armed[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #maxRead: number;
  readonly #ignoreAbort: boolean;
  readonly #now: () => number;
  #raisesTotal = 0;
  #connected = false;
  #closed = false;
  #inFlight = 0;

  constructor(options: FakeVendorSdkOptions = {}) {
    this.#info = {
      sdkVersion: '1.0.0-fake',
      model: 'FAKE-1',
      serial: 'FAKE-0001',
      ...options.info,
    };
    for (const c of options.counters ?? []) this.#counters.set(c.name, { ...c });
    for (const code of options.activeCodes ?? []) this.#active.add(code);
    this.#maxRead = options.maxReadBytes ?? 16 * 1024;
    this.#ignoreAbort = options.ignoreAbort ?? false;
    this.#now = options.now ?? Date.now;
    if (options.logs !== false) {
      const logs = options.logs ?? { 'fake.log': 'fake log line\n' };
      for (const [name, content] of Object.entries(logs)) this.setLog(name, content);
      this.listLogs = (signal) =>
        this.#call('listLogs', signal, () =>
          [...this.#logs].map(([n, l]) => ({
            name: n,
            bytes: l.data.length,
            modifiedMs: l.modifiedMs,
          })),
        );
      this.readLog = (name, offset, length, signal) =>
        this.#call('readLog', signal, () => this.#readLog(name, offset, length));
    }
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Calls made so far (all methods). */
  get calls(): number {
    return this.history.length;
  }

  /** The codes active on the fake device now, in raise order. */
  get activeCodes(): number[] {
    return [...this.#active];
  }

  /** Listeners registered now. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  connect(signal?: AbortSignal): Promise<SdkInfo> {
    return this.#call('connect', signal, () => {
      this.#connected = true;
      return { ...this.#info };
    });
  }

  getCounters(signal?: AbortSignal): Promise<SdkCounters> {
    return this.#call('getCounters', signal, () => ({
      counters: [...this.#counters.values()].map((c) => ({ ...c })),
    }));
  }

  getActiveErrors(signal?: AbortSignal): Promise<SdkActiveErrors> {
    return this.#call('getActiveErrors', signal, () => ({
      codes: [...this.#active],
      raisesTotal: this.#raisesTotal,
    }));
  }

  subscribe(listener: (event: SdkEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    this.#rejectWaiters(new AdapterError('ADAPTER_CANCELLED', 'fake SDK closed'));
  }

  // --- scripting -------------------------------------------------------------------------------

  /**
   * Arms a fault for the `nth` matching call from now (default 1 = the next one), repeated for
   * `times` consecutive matching calls (default 1; Infinity = until {@link clearFaults}).
   */
  inject(
    fault: FakeSdkFault,
    options: { method?: SdkMethodName; nth?: number; times?: number } = {},
  ): void {
    const nth = options.nth ?? 1;
    const times = options.times ?? 1;
    if (!Number.isInteger(nth) || nth < 1) throw new RangeError('nth must be an integer ≥ 1');
    if (!(times >= 1)) throw new RangeError('times must be ≥ 1');
    this.#armed.push({ fault, method: options.method, skip: nth - 1, times });
  }

  clearFaults(): void {
    this.#armed.length = 0;
  }

  setCounter(name: string, value: number, unit = '', resolution?: number): void {
    this.#counters.set(name, {
      name,
      value,
      unit,
      ...(resolution === undefined ? {} : { resolution }),
    });
  }

  removeCounter(name: string): void {
    this.#counters.delete(name);
  }

  setLog(name: string, content: Uint8Array | string): void {
    const data = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    this.#logs.set(name, { data: new Uint8Array(data), modifiedMs: this.#now() });
  }

  /** Raises a code; subscribers hear of it if the link is up. @returns true if newly raised. */
  raise(code: number): boolean {
    if (this.#active.has(code)) return false;
    this.#active.add(code);
    this.#raisesTotal += 1;
    this.#push({ type: 'error', code, state: 'raised', atMs: this.#now() });
    return true;
  }

  /** Clears a code; subscribers hear of it if the link is up. @returns true if it was active. */
  clear(code: number): boolean {
    if (!this.#active.delete(code)) return false;
    this.#push({ type: 'error', code, state: 'cleared', atMs: this.#now() });
    return true;
  }

  /** The device reboots: codes clear silently, the raise counter restarts, a reboot event. */
  reboot(): void {
    this.#active.clear();
    this.#raisesTotal = 0;
    this.#push({ type: 'reboot', atMs: this.#now() });
  }

  /** The link drops: pending calls reject `ADAPTER_DISCONNECTED`, listeners hear `disconnected`. */
  dropLink(message = 'fake SDK link dropped'): void {
    if (!this.#connected) return;
    this.#connected = false;
    const error = new AdapterError('ADAPTER_DISCONNECTED', message);
    this.#rejectWaiters(error);
    for (const l of [...this.#listeners]) l({ type: 'disconnected', error });
  }

  // --- internals -------------------------------------------------------------------------------

  async #call<T>(
    method: SdkMethodName,
    signal: AbortSignal | undefined,
    answer: () => T,
  ): Promise<T> {
    if (this.#closed) throw new AdapterError('ADAPTER_CANCELLED', 'fake SDK is closed');
    if (method !== 'connect' && !this.#connected) {
      this.history.push({ method, outcome: 'error' });
      throw new AdapterError('ADAPTER_NOT_CONNECTED', `fake SDK not connected (${method})`);
    }
    if (signal?.aborted && !this.#ignoreAbort) throw reasonOf(signal);
    const entry: (typeof this.history)[number] = { method, outcome: 'ok' };
    this.history.push(entry);
    const fault = this.#take(method);
    this.#inFlight += 1;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.#inFlight);
    try {
      if (fault) entry.outcome = 'fault';
      switch (fault?.kind) {
        case 'error':
          throw fault.error;
        case 'malformed':
          return fault.result as T; // deliberately not a T: that is the fault
        case 'disconnect':
          if (method !== 'connect') this.dropLink('fake SDK link dropped during the call');
          throw new AdapterError('ADAPTER_DISCONNECTED', `fake SDK link dropped during ${method}`);
        case 'hang':
          await this.#wait(Infinity, signal);
          break;
        case 'delay':
          await this.#wait(fault.ms, signal);
          break;
      }
      if (method !== 'connect' && !this.#connected) {
        throw new AdapterError('ADAPTER_DISCONNECTED', `fake SDK link dropped during ${method}`);
      }
      return answer();
    } catch (err) {
      if (entry.outcome === 'ok') entry.outcome = 'error';
      throw err;
    } finally {
      this.#inFlight -= 1;
    }
  }

  #take(method: SdkMethodName): FakeSdkFault | undefined {
    let hit: Armed | undefined;
    for (const a of this.#armed) {
      if (a.method !== undefined && a.method !== method) continue;
      if (a.skip > 0) a.skip -= 1;
      else hit ??= a;
    }
    if (hit === undefined) return undefined;
    hit.times -= 1;
    if (hit.times <= 0) this.#armed.splice(this.#armed.indexOf(hit), 1);
    return hit.fault;
  }

  #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        if (!this.#ignoreAbort) signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.reject(reasonOf(signal!));
      const timer =
        ms === Infinity
          ? undefined
          : setTimeout(() => {
              done();
              resolve();
            }, ms);
      this.#waiters.add(waiter);
      if (!this.#ignoreAbort) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #rejectWaiters(err: AdapterError): void {
    for (const w of [...this.#waiters]) w.reject(err);
  }

  #push(event: SdkEvent): void {
    if (!this.#connected || this.#closed) return; // no link, no event
    for (const l of [...this.#listeners]) l(event);
  }

  #readLog(name: string, offset: number, length: number): SdkLogChunk {
    const log = this.#logs.get(name);
    if (log === undefined) {
      throw new SdkError('SDK_NOT_FOUND', `fake SDK has no log named ${name}`, {
        sdkStatus: 'ENOENT',
      });
    }
    if (offset > log.data.length) {
      throw new SdkError('SDK_ERROR', `offset ${offset} is past the end of ${name}`, {
        sdkStatus: 'EINVAL',
      });
    }
    const data = log.data.slice(offset, offset + Math.min(length, this.#maxRead));
    return { data, size: log.data.length, eof: offset + data.length >= log.data.length };
  }
}
