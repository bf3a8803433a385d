import type { AdapterError } from '../errors.js';

/** How a transport closed. */
export interface SerialCloseInfo {
  /**
   * True when `close()` was called: a cancellation, never a fault, never a reason to reconnect.
   * False for a disconnect (cable pulled, USB adapter gone, the far end hung up).
   */
  canceled: boolean;
  /** Why, for a disconnect (code `ADAPTER_DISCONNECTED`). */
  error?: AdapterError;
}

/**
 * The serial line the adapter is given (it never opens a port itself). Implementations:
 * {@link NodeSerialTransport} (a real port through `serialport`) and
 * {@link FakeSerialTransport} (scriptable, for tests).
 *
 * Behaviour every implementation honours:
 * - `open()` on an open transport does nothing. It rejects with `ADAPTER_CONNECT_FAILED`, or
 *   with the signal's reason (an `AdapterError`, normally `ADAPTER_CANCELLED`) if the signal
 *   fires first; a port that opens after that is closed again.
 * - `write()` resolves once the bytes are handed to the operating system. It rejects with
 *   `ADAPTER_NOT_CONNECTED` when the transport is not open, `ADAPTER_DISCONNECTED` when the line
 *   failed (which also closes the transport, as a disconnect).
 * - Data listeners get the bytes in order, in chunks of any size.
 * - Close listeners are told once per opened line: `canceled: true` after `close()`,
 *   `canceled: false` with an error for a disconnect. A transport is reopened with `open()`.
 * - `close()` is idempotent and never rejects.
 */
export interface SerialTransport {
  /** The port, for messages (e.g. `/dev/ttyUSB0`). */
  readonly description: string;
  readonly isOpen: boolean;
  open(signal?: AbortSignal): Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
  /** @returns an unsubscribe function. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /** @returns an unsubscribe function. */
  onClose(listener: (info: SerialCloseInfo) => void): () => void;
}

/**
 * Time, injected (the runtime's `Clock` fits): tests drive timeouts with fake timers instead of
 * sleeping.
 */
export interface SerialClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemSerialClock: SerialClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** A set of listeners that one failing listener cannot break. */
export class Listeners<T> {
  readonly #set = new Set<(value: T) => void>();
  /** Listener exceptions caught so far (they are not the emitter's failure). */
  errors = 0;

  add(listener: (value: T) => void): () => void {
    this.#set.add(listener);
    return () => this.#set.delete(listener);
  }

  emit(value: T): void {
    for (const l of [...this.#set]) {
      try {
        l(value);
      } catch {
        this.errors++;
      }
    }
  }
}
