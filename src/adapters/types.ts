import type { Duplex } from 'node:stream';

/**
 * The hardware contract. An adapter is the only part of Outpost that talks to the device
 * controller; the runtime is given one (it never constructs one itself) and knows nothing of
 * the bus behind it.
 *
 * Behaviour every implementation must honour:
 * - No call blocks the event loop; every I/O call is async and bounded by a timeout. A stuck
 *   bus rejects with `AdapterError` code `ADAPTER_TIMEOUT` (or a bus-specific timeout code).
 * - Every call that takes an `AbortSignal` rejects with code `ADAPTER_CANCELLED`
 *   (`canceled: true`) when the signal fires. Cancellation is not failure: it is not counted
 *   in {@link AdapterHealth} and never triggers a reconnect.
 * - After a disconnect, the next call reconnects on its own; `connect()` is only the first
 *   attempt (a controller that is down when the agent starts is not fatal).
 * - `close()` is idempotent and makes pending calls reject as cancelled.
 */
export interface DeviceAdapter {
  /** Short name of the bus/binding, e.g. `modbus-tcp`. */
  readonly kind: string;
  /** Opens the link to the controller. Rejects with `ADAPTER_CONNECT_FAILED`. */
  connect(signal?: AbortSignal): Promise<void>;
  /** Reads every configured counter and the active error codes. */
  readSnapshot(signal?: AbortSignal): Promise<DeviceSnapshot>;
  /** Reads only the active error codes (cheap; polled on a faster cadence). */
  readActiveErrors?(signal?: AbortSignal): Promise<ActiveErrors>;
  /** Current health counters (since the adapter was created). */
  health(): AdapterHealth;
  /**
   * Unsolicited events the controller pushes between polls (an error line on a service port,
   * an SDK callback). The runtime treats an `error` event like a poll that saw the code: an
   * alarm-class code goes out at once. Returns an unsubscribe function. Optional: polled-only
   * buses (Modbus) have no push channel.
   */
  onEvent?(listener: (event: DeviceEvent) => void): () => void;
  /** Optional capabilities; absent ones are answered "not supported" to the hub. */
  capabilities?: AdapterCapabilities;
  close(): Promise<void>;
}

/** Something the controller reported on its own. */
export type DeviceEvent =
  | { type: 'error'; code: number; state: 'raised' | 'cleared'; atMs: number }
  | { type: 'reboot'; atMs: number };

/** What a controller can do beyond reading counters. Each is optional. */
export interface AdapterCapabilities {
  /** Lists log files on the controller. */
  listLogs?(
    signal?: AbortSignal,
  ): Promise<Array<{ name: string; bytes: number; modifiedMs: number }>>;
  /** Reads a log file (whole, or from `offset` for a resumed upload). */
  readLog?(name: string, options?: { offset?: number; signal?: AbortSignal }): Promise<Uint8Array>;
  /** Installs a verified update package; resolves when the controller reports success. */
  installUpdate?(
    image: Uint8Array,
    options: { version: string; signal?: AbortSignal },
  ): Promise<void>;
  /** Asks the person at the device to allow something (a remote session); false = refused. */
  askConsent?(request: {
    title: string;
    detail: string;
    timeoutMs: number;
    signal?: AbortSignal;
  }): Promise<boolean>;
  /** Opens a console or an allow-listed local TCP target (e.g. a VNC port) for a remote session. */
  openChannel?(target: string, signal?: AbortSignal): Promise<Duplex>;
}

/** One counter as read from the device. */
export interface CounterReading {
  name: string;
  /**
   * Raw integer from the device (sign-extended for signed types). For `rawKind: 'float32'` it is
   * the IEEE-754 single-precision bit pattern, so telemetry carries it losslessly.
   */
  raw: number;
  /** How to read `raw`. Default `integer`. */
  rawKind?: 'integer' | 'float32';
  /** Engineering value: raw * scale + offset. */
  value: number;
  unit: string;
  scale: number;
  offset: number;
}

export interface ActiveErrors {
  /** Codes active right now, as the controller reports them. */
  codes: number[];
  /**
   * Total error raises since the controller booted, when the controller keeps such a counter;
   * lets the runtime notice raises that came and went between two polls.
   */
  raisesTotal?: number;
}

export interface DeviceSnapshot extends ActiveErrors {
  /** Wall-clock time the read completed (Unix ms). */
  atMs: number;
  counters: CounterReading[];
  /** Counters that could not be read this time (named, so the hub can show a hole). */
  missing: string[];
}

export interface AdapterHealth {
  connected: boolean;
  readsOk: number;
  readsFailed: number;
  timeouts: number;
  /** Code of the most recent failure, if any. */
  lastErrorCode?: string;
}
