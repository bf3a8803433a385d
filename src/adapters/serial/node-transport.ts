import type { SerialPort } from 'serialport';
import { reasonOf } from '../abort.js';
import { AdapterError } from '../errors.js';
import { Listeners, type SerialCloseInfo, type SerialTransport } from './transport.js';

export interface NodeSerialOptions {
  /** The device, e.g. `/dev/ttyUSB0`, `/dev/ttyS1`, or a PTY. */
  path: string;
  /** Default 115 200. */
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  stopBits?: 1 | 1.5 | 2;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  /** RTS/CTS hardware flow control. Default false. */
  rtscts?: boolean;
  /**
   * Discard what the line buffered while no one had the port open (stale replies, old events,
   * half lines) right after opening. Default true: the first poll reads the current state.
   */
  flushOnOpen?: boolean;
}

/**
 * A serial port through the `serialport` package (a fresh `SerialPort` per connection, opened
 * with an exclusive lock). It never enumerates ports (`SerialPort.list()` needs udev).
 */
export class NodeSerialTransport implements SerialTransport {
  readonly description: string;
  readonly #options: NodeSerialOptions;
  readonly #data = new Listeners<Uint8Array>();
  readonly #close = new Listeners<SerialCloseInfo>();
  #port: SerialPort | null = null;
  #opening: Promise<void> | null = null;

  constructor(options: NodeSerialOptions) {
    this.#options = options;
    this.description = options.path;
  }

  get isOpen(): boolean {
    return this.#port?.isOpen ?? false;
  }

  open(signal?: AbortSignal): Promise<void> {
    if (this.#opening !== null) return this.#opening;
    if (this.#port !== null) return Promise.resolve();
    this.#opening = this.#open(signal).finally(() => (this.#opening = null));
    return this.#opening;
  }

  async #open(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw reasonOf(signal);
    const o = this.#options;
    // Imported here, not up front: serialport loads a native binding.
    const { SerialPort } = await import('serialport');
    if (signal?.aborted) throw reasonOf(signal);
    const port = new SerialPort({
      path: o.path,
      baudRate: o.baudRate ?? 115_200,
      dataBits: o.dataBits ?? 8,
      stopBits: o.stopBits ?? 1,
      parity: o.parity ?? 'none',
      rtscts: o.rtscts ?? false,
      autoOpen: false,
    });
    this.#port = port;
    try {
      await new Promise<void>((resolve, reject) => {
        const abort = (): void => reject(reasonOf(signal as AbortSignal));
        signal?.addEventListener('abort', abort, { once: true });
        port.open((err) => {
          signal?.removeEventListener('abort', abort);
          if (err) {
            reject(
              new AdapterError(
                'ADAPTER_CONNECT_FAILED',
                `cannot open serial port ${o.path} (${err.message}); check the cable, the path and that no other program holds the port`,
                { cause: err },
              ),
            );
          } else resolve();
        });
      });
    } catch (err) {
      if (this.#port === port) this.#port = null;
      // A port that opens after the caller gave up is closed again.
      port.once('open', () => port.close(() => undefined));
      throw err;
    }
    if (o.flushOnOpen !== false) await new Promise<void>((resolve) => port.flush(() => resolve()));
    port.on('data', (chunk: Buffer) =>
      this.#data.emit(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)),
    );
    port.on(
      'error',
      (err: Error) =>
        void this.#closePort(port, { canceled: false, error: disconnected(o.path, err) }),
    );
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      if (this.#port !== port) return; // close() already reported it
      this.#port = null;
      this.#close.emit(
        err ? { canceled: false, error: disconnected(o.path, err) } : { canceled: true },
      );
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    const port = this.#port;
    if (port === null || !port.isOpen) {
      return Promise.reject(
        new AdapterError('ADAPTER_NOT_CONNECTED', `serial port ${this.description} is not open`),
      );
    }
    return new Promise((resolve, reject) => {
      port.write(Buffer.from(bytes), (err) => {
        if (!err) return resolve();
        const error = disconnected(this.description, err);
        void this.#closePort(port, { canceled: false, error });
        reject(error);
      });
    });
  }

  async close(): Promise<void> {
    const port = this.#port;
    if (port !== null) await this.#closePort(port, { canceled: true });
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.#data.add(listener);
  }

  onClose(listener: (info: SerialCloseInfo) => void): () => void {
    return this.#close.add(listener);
  }

  async #closePort(port: SerialPort, info: SerialCloseInfo): Promise<void> {
    if (this.#port !== port) return;
    this.#port = null;
    this.#close.emit(info);
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}

function disconnected(path: string, cause: Error): AdapterError {
  return new AdapterError('ADAPTER_DISCONNECTED', `serial port ${path} failed: ${cause.message}`, {
    cause,
  });
}
