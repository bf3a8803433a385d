/**
 * Worked example (docs/adapters.md, "Writing your own adapter"): a DeviceAdapter for a
 * controller with a JSON-over-HTTP service API. Everything an adapter owes the agent is here:
 * every call bounded by a timeout, cancellation kept apart from failure, typed errors with stable
 * codes, health counters, and "reconnect on the next call" (free with HTTP: each call is new).
 *
 * Run it against the imaginary controller in http-controller.ts:
 *
 *   npx tsx examples/custom-adapter.ts
 *
 * In your own project import from 'outpost' instead of '../src/index.js'.
 */
import { pathToFileURL } from 'node:url';
import {
  AdapterError,
  type ActiveErrors,
  type AdapterHealth,
  type CounterReading,
  type DeviceAdapter,
  type DeviceSnapshot,
} from '../src/index.js';

export interface HttpControllerAdapterOptions {
  /** e.g. `http://127.0.0.1:8080` (the controller's service API, on the device's own network). */
  baseUrl: string;
  /** Counters to collect (an allow-list), with their unit and resolution. */
  counters: Record<string, { unit: string; scale: number }>;
  /** Per-request budget, ms. Default 2000. */
  timeoutMs?: number;
}

export class HttpControllerAdapter implements DeviceAdapter {
  readonly kind = 'http-json';
  readonly #o: Required<HttpControllerAdapterOptions>;
  readonly #closing = new AbortController();
  #health: AdapterHealth = { connected: false, readsOk: 0, readsFailed: 0, timeouts: 0 };

  constructor(options: HttpControllerAdapterOptions) {
    this.#o = { timeoutMs: 2000, ...options };
  }

  /** HTTP has no session: "connected" means the controller answered. */
  async connect(signal?: AbortSignal): Promise<void> {
    try {
      await this.#get('/v1/status', signal);
    } catch (err) {
      if (err instanceof AdapterError && err.canceled) throw err;
      throw new AdapterError(
        'ADAPTER_CONNECT_FAILED',
        `controller not reachable at ${this.#o.baseUrl}`,
        { cause: err },
      );
    }
  }

  async readSnapshot(signal?: AbortSignal): Promise<DeviceSnapshot> {
    const body = object(await this.#get('/v1/status', signal));
    const values = object(body.counters);
    const counters: CounterReading[] = [];
    const missing: string[] = [];
    for (const [name, { unit, scale }] of Object.entries(this.#o.counters)) {
      const v = values[name];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        missing.push(name); // named, so the hub can show a hole
        continue;
      }
      const raw = Math.round(v / scale); // telemetry carries integers with a scale
      const value = Number((raw * scale).toPrecision(12)); // no 31.400000000000002
      counters.push({ name, raw, value, unit, scale, offset: 0 });
    }
    return { atMs: Date.now(), counters, missing, codes: codes(body.faults) };
  }

  /** Cheap: the agent calls this on its fast error cadence. */
  async readActiveErrors(signal?: AbortSignal): Promise<ActiveErrors> {
    const body = object(await this.#get('/v1/faults', signal));
    const total = body.raisedTotal;
    return {
      codes: codes(body.faults),
      ...(Number.isSafeInteger(total) ? { raisesTotal: total as number } : {}),
    };
  }

  health(): AdapterHealth {
    return { ...this.#health };
  }

  async close(): Promise<void> {
    // Requests in flight end as cancelled, not as device faults.
    this.#closing.abort(new AdapterError('ADAPTER_CANCELLED', 'adapter closed'));
  }

  /** One bounded request; every failure leaves here as an AdapterError, counted in health. */
  async #get(path: string, signal?: AbortSignal): Promise<unknown> {
    const timeout = new AbortController();
    const timer = setTimeout(
      () =>
        timeout.abort(
          new AdapterError('ADAPTER_TIMEOUT', `${path}: no answer in ${this.#o.timeoutMs} ms`),
        ),
      this.#o.timeoutMs,
    );
    const signals = [timeout.signal, this.#closing.signal, ...(signal ? [signal] : [])];
    try {
      const res = await fetch(new URL(path, this.#o.baseUrl), { signal: AbortSignal.any(signals) });
      if (!res.ok) throw new AdapterError('ADAPTER_BAD_REPLY', `${path}: HTTP ${res.status}`);
      const body: unknown = await res.json();
      this.#health.readsOk += 1;
      this.#health.connected = true;
      return body;
    } catch (err) {
      const e = this.#classify(err, signal, path);
      if (!e.canceled) {
        this.#health.readsFailed += 1;
        if (e.code === 'ADAPTER_TIMEOUT') this.#health.timeouts += 1;
        if (e.code === 'ADAPTER_DISCONNECTED') this.#health.connected = false;
        this.#health.lastErrorCode = e.code;
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  #classify(err: unknown, signal: AbortSignal | undefined, path: string): AdapterError {
    // An abort rejects with the signal's reason: ours (timeout, close) or the poller's timeout.
    if (err instanceof AdapterError) return err;
    if (this.#closing.signal.aborted || signal?.aborted) {
      return new AdapterError('ADAPTER_CANCELLED', `${path}: cancelled`);
    }
    if (err instanceof SyntaxError) {
      return new AdapterError('ADAPTER_BAD_REPLY', `${path}: not JSON`, { cause: err });
    }
    return new AdapterError('ADAPTER_DISCONNECTED', `${path}: controller unreachable`, {
      cause: err,
    });
  }
}

function object(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null)
    throw new AdapterError('ADAPTER_BAD_REPLY', 'expected a JSON object');
  return v as Record<string, unknown>;
}

function codes(v: unknown): number[] {
  if (!Array.isArray(v) || !v.every((c) => Number.isSafeInteger(c) && c > 0)) {
    throw new AdapterError('ADAPTER_BAD_REPLY', 'faults must be an array of positive integers');
  }
  return v as number[];
}

/** The counters of the imaginary DR9 detector controller. */
export const DR9_COUNTERS = {
  frames_total: { unit: 'count', scale: 1 },
  panel_temp: { unit: 'degC', scale: 0.1 },
  battery_pct: { unit: '%', scale: 1 },
};

// `npx tsx examples/custom-adapter.ts`: three reads from the imaginary controller.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { startHttpController } = await import('./http-controller.js');
  const controller = await startHttpController();
  const adapter = new HttpControllerAdapter({ baseUrl: controller.url, counters: DR9_COUNTERS });
  await adapter.connect();
  controller.raise(3003);
  for (let i = 0; i < 3; i++) {
    controller.set('frames_total', 120 + i);
    const snap = await adapter.readSnapshot();
    console.log(
      JSON.stringify({ counters: snap.counters.map((c) => [c.name, c.value]), codes: snap.codes }),
    );
  }
  console.log(JSON.stringify(adapter.health()));
  await adapter.close();
  await controller.close();
}
