import { reasonOf } from '../abort.js';
import { AdapterError } from '../errors.js';
import { Listeners, type SerialCloseInfo, type SerialTransport } from './transport.js';

export interface FakeSerialOptions {
  /**
   * Called with every line the master writes (terminator removed), to answer it with
   * `fake.emitData(...)`, now or later. Default: no answer.
   */
  respond?: (line: string, fake: FakeSerialTransport) => void;
  description?: string;
}

/**
 * A scriptable serial line for tests of code that takes a {@link SerialTransport}: it records
 * what was written, answers through `respond`, and injects what real lines do — arbitrary bytes
 * (`emitData`), a hang-up (`disconnect`), a port that will not open (`failOpens`), a write that
 * fails (`failWrites`). Stricter than hardware: writing to a closed fake rejects.
 */
export class FakeSerialTransport implements SerialTransport {
  readonly description: string;
  /** Every chunk written while open, in order. */
  readonly written: Uint8Array[] = [];
  /** Successful opens so far. */
  opens = 0;
  respond: ((line: string, fake: FakeSerialTransport) => void) | undefined;
  readonly #data = new Listeners<Uint8Array>();
  readonly #close = new Listeners<SerialCloseInfo>();
  #open = false;
  #failOpens = 0;
  #failWrites = 0;
  #partial = '';

  constructor(options: FakeSerialOptions = {}) {
    this.respond = options.respond;
    this.description = options.description ?? 'fake-serial';
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** The lines written so far (terminators removed). */
  get lines(): string[] {
    return Buffer.concat(this.written)
      .toString('latin1')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/\r$/, ''));
  }

  /** The next `n` opens reject with ADAPTER_CONNECT_FAILED. */
  failOpens(n: number): void {
    this.#failOpens = n;
  }

  /** The next `n` writes fail, each as a disconnect. */
  failWrites(n: number): void {
    this.#failWrites = n;
  }

  async open(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw reasonOf(signal);
    if (this.#open) return;
    if (this.#failOpens > 0) {
      this.#failOpens--;
      throw new AdapterError(
        'ADAPTER_CONNECT_FAILED',
        `cannot open ${this.description} (scripted)`,
      );
    }
    this.#open = true;
    this.#partial = '';
    this.opens++;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.#open)
      throw new AdapterError('ADAPTER_NOT_CONNECTED', `${this.description} is not open`);
    if (this.#failWrites > 0) {
      this.#failWrites--;
      const error = new AdapterError(
        'ADAPTER_DISCONNECTED',
        `write to ${this.description} failed (scripted)`,
      );
      this.disconnect(error);
      throw error;
    }
    this.written.push(Uint8Array.from(bytes));
    this.#partial += Buffer.from(bytes).toString('latin1');
    let nl: number;
    while ((nl = this.#partial.indexOf('\n')) >= 0) {
      const line = this.#partial.slice(0, nl).replace(/\r$/, '');
      this.#partial = this.#partial.slice(nl + 1);
      this.respond?.(line, this);
    }
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#close.emit({ canceled: true });
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.#data.add(listener);
  }

  onClose(listener: (info: SerialCloseInfo) => void): () => void {
    return this.#close.add(listener);
  }

  /** Delivers bytes to the master as if they came down the line (ignored while closed). */
  emitData(bytes: Uint8Array | string): void {
    if (!this.#open) return;
    this.#data.emit(
      typeof bytes === 'string' ? new Uint8Array(Buffer.from(bytes, 'latin1')) : bytes,
    );
  }

  /** The far end hangs up: the transport closes as a disconnect. */
  disconnect(
    error = new AdapterError('ADAPTER_DISCONNECTED', `${this.description} hung up (scripted)`),
  ): void {
    if (!this.#open) return;
    this.#open = false;
    this.#close.emit({ canceled: false, error });
  }
}
