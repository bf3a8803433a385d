import type { AdapterError } from '../errors.js';

/**
 * The binding contract for a device vendor's SDK: what an OEM's wrapper around that SDK
 * implements so that {@link vendorSdkAdapter} can turn it into a `DeviceAdapter`. It is
 * deliberately narrower than `DeviceAdapter`: the adapter adds timeouts, health, serialisation,
 * counter allow-listing and event re-arming, so a wrapper only translates calls.
 *
 * Two implementations ship: `IpcSdkClient` (the SDK runs in its own process behind a Unix socket)
 * and `FakeVendorSdk` (scriptable, for tests). An in-process wrapper around a native (N-API)
 * addon is the third kind; docs/adapters.md shows one.
 *
 * Behaviour every implementation must honour:
 * - **Errors** are `AdapterError`s with a stable code (`SdkError` adds the SDK's own status).
 *   Lost link: `ADAPTER_DISCONNECTED`; not connected: `ADAPTER_NOT_CONNECTED`; the SDK's own
 *   failure status: `SDK_ERROR`; no answer in time: `SDK_TIMEOUT`. A non-AdapterError thrown
 *   by a wrapper is wrapped by the adapter as `SDK_ERROR`.
 * - **Cancellation**: every call that takes an `AbortSignal` rejects promptly once it fires, with
 *   the signal's `reason` when that is an `AdapterError` (the adapter's timeouts use that to say
 *   `SDK_TIMEOUT`), otherwise with `ADAPTER_CANCELLED`. Cancelling a call must not break the
 *   connection; a late answer to it is discarded. The adapter also races every call against its
 *   own timeout, so an SDK that ignores the signal cannot hang the agent — but it must then
 *   tolerate a new call while the abandoned one is still running.
 * - **Timeouts**: an implementation may have its own per-call timeout (it should, if it can be
 *   used without the adapter); it rejects with `SDK_TIMEOUT`. A timeout does not by itself end
 *   the connection.
 * - **Connection**: `connect()` opens the link (and may be called again after a disconnect; it
 *   resolves at once when already connected). After a disconnect every call rejects with
 *   `ADAPTER_NOT_CONNECTED` or `ADAPTER_DISCONNECTED` until `connect()` succeeds again; the adapter
 *   does that on the next call.
 * - **Events**: `subscribe()` registers a listener for as long as it stays registered, across
 *   reconnects: the implementation arms the device-side subscription whenever it (re)connects
 *   while it has listeners. When the link drops it delivers `{ type: 'disconnected' }` once.
 *   Listeners are called synchronously, in the order the device sent the events.
 * - **close()** is idempotent, makes pending calls reject with `ADAPTER_CANCELLED`, emits no
 *   `disconnected` event, and leaves the object unusable (calls reject `ADAPTER_CANCELLED`).
 */
export interface VendorSdk {
  /** Short name of the binding (`ipc`, `fake`, `xr200-native`); the adapter's kind is `sdk:<name>`. */
  readonly name: string;
  /** Whether the link to the device is up now. */
  readonly connected: boolean;
  /** Opens the link and identifies the device. Rejects `ADAPTER_CONNECT_FAILED` (or `SDK_INCOMPATIBLE`). */
  connect(signal?: AbortSignal): Promise<SdkInfo>;
  /** Every counter the device publishes, in engineering units. */
  getCounters(signal?: AbortSignal): Promise<SdkCounters>;
  /** The error codes active now. */
  getActiveErrors(signal?: AbortSignal): Promise<SdkActiveErrors>;
  /** Registers an event listener (see the contract above). Returns the unsubscribe function. */
  subscribe(listener: (event: SdkEvent) => void): () => void;
  /** Optional: the device's log files. Absent = not supported. */
  listLogs?(signal?: AbortSignal): Promise<SdkLogInfo[]>;
  /**
   * Optional: up to `length` bytes of a log from `offset`. May return fewer bytes than asked
   * (the device's chunk limit); `eof` is true once `offset + data.length` reaches the end.
   * A missing log rejects `SDK_NOT_FOUND`.
   */
  readLog?(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<SdkLogChunk>;
  close(): Promise<void>;
}

/** What `connect()` learns about the device and the SDK. */
export interface SdkInfo {
  sdkVersion: string;
  vendor?: string;
  model: string;
  serial: string;
  firmware?: string;
}

/** One counter as the SDK reports it. */
export interface SdkCounter {
  name: string;
  /** Engineering value (a double). Non-finite = could not be read: reported as missing. */
  value: number;
  unit: string;
  /**
   * The counter's resolution (0.1 for a temperature in tenths of a degree). When given, telemetry
   * carries `round(value / resolution)` as an integer with that scale; otherwise integers travel
   * as integers and other values as float32.
   */
  resolution?: number;
}

export interface SdkCounters {
  counters: SdkCounter[];
}

export interface SdkActiveErrors {
  codes: number[];
  /** Error raises since the device booted, when the SDK keeps such a counter. */
  raisesTotal?: number;
}

/** Something the SDK pushes. */
export type SdkEvent =
  | { type: 'error'; code: number; state: 'raised' | 'cleared'; atMs: number }
  | { type: 'reboot'; atMs: number }
  /** The link dropped (not sent for `close()`); pending calls have been rejected with `error`. */
  | { type: 'disconnected'; error: AdapterError };

export interface SdkLogInfo {
  name: string;
  bytes: number;
  modifiedMs: number;
}

export interface SdkLogChunk {
  data: Uint8Array;
  /** Size of the whole log now, bytes. */
  size: number;
  eof: boolean;
}

/** The methods of {@link VendorSdk} that talk to the device (for fault scripting and stats). */
export type SdkMethodName = 'connect' | 'getCounters' | 'getActiveErrors' | 'listLogs' | 'readLog';
