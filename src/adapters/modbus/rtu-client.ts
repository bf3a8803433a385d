import { AdapterError, ConfigError } from '../errors.js';
import type { ModbusClient } from './client.js';
import {
  describe,
  forgetFinishedTransactions,
  functionCodeOf,
  masterRead,
  loadModbusRtu,
  refineTimeout,
  toAdapterError,
  type ModbusMaster,
} from './master.js';
import type { ModbusTable } from './register-map.js';
import { classifyRtuLeftover } from './reply-tap.js';

export interface ModbusRtuOptions {
  /** Serial device, e.g. `/dev/ttyUSB0` or a PTY path. */
  path: string;
  /** Line speed. Default 19200 (the Modbus default). A PTY accepts and ignores it. */
  baudRate?: number;
  /** Default `even` (the Modbus RTU default; `none` needs 2 stop bits by the spec, few devices care). */
  parity?: 'none' | 'even' | 'odd';
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
  /** The device's address on the bus, 1..247 (0 is broadcast: nobody answers a read). */
  unitId: number;
  /** Per-request timeout. Default 1000 ms. */
  timeoutMs?: number;
}

/**
 * The parts of modbus-serial's RTU buffered port this client relies on. They are private to
 * modbus-serial (8.0.x), so they are checked at open: without them the client still works, but
 * cannot tell a cut-short or garbled reply from a timeout, nor flush stale bytes.
 */
interface BufferedPortInternals {
  _buffer: Buffer;
  _client: {
    on(event: 'data', listener: (chunk: Buffer) => void): unknown;
    flush(callback: (err: Error | null) => void): void;
  };
}

function internalsOf(master: ModbusMaster): BufferedPortInternals | undefined {
  // modbus-serial does not type its port; this reads what connectRTUBuffered put there.
  const port = (master as unknown as { _port?: Partial<BufferedPortInternals> })._port;
  const client = port?._client;
  if (
    port === undefined ||
    !Buffer.isBuffer(port._buffer) ||
    typeof client?.on !== 'function' ||
    typeof client.flush !== 'function'
  ) {
    return undefined;
  }
  return port as BufferedPortInternals;
}

/**
 * A Modbus RTU master on `modbus-serial` (`connectRTUBuffered`) over a serial line.
 *
 * Beyond modbus-serial it (1) watches the raw bytes of each read, so a reply cut short is
 * MODBUS_SHORT_REPLY and noise is ADAPTER_BAD_REPLY rather than a bare timeout; (2) discards
 * stale bytes before a request when any arrived outside a read (a late reply, noise), because
 * modbus-serial's buffered port keeps them and would match them against the next request;
 * (3) fails the read in progress with ADAPTER_DISCONNECTED when the port closes under it (a
 * USB adapter unplugged). A reply later than the timeout that arrives after the next request
 * was sent cannot be told from that request's reply: RTU carries no transaction id.
 */
export class ModbusRtuClient implements ModbusClient {
  readonly kind = 'modbus-rtu';
  readonly #options: Required<ModbusRtuOptions>;
  #state: 'closed' | 'open' = 'closed';
  #master: ModbusMaster | undefined;
  #internals: BufferedPortInternals | undefined;
  /** Bytes of the read in progress; `undefined` between reads. */
  #rx: Buffer[] | undefined;
  /** Bytes arrived between reads: flush before the next request. */
  #stale = false;
  #abort: ((err: AdapterError) => void) | undefined;

  constructor(options: ModbusRtuOptions) {
    if (!Number.isInteger(options.unitId) || options.unitId < 1 || options.unitId > 247) {
      throw new ConfigError(
        'must be an integer from 1 to 247 (0 is broadcast: no device answers it)',
        'unitId',
      );
    }
    this.#options = {
      baudRate: 19200,
      parity: 'even',
      dataBits: 8,
      stopBits: 1,
      timeoutMs: 1000,
      ...options,
    };
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /**
   * True when the open port lets this client watch the raw bytes (see {@link internalsOf}): cut
   * short and garbled replies are then told from timeouts, and stale bytes are flushed.
   */
  get watchesLine(): boolean {
    return this.#internals !== undefined;
  }

  async open(): Promise<void> {
    await this.close();
    const { path, baudRate, parity, dataBits, stopBits, unitId, timeoutMs } = this.#options;
    const master = new (await loadModbusRtu())();
    try {
      await master.connectRTUBuffered(path, { baudRate, parity, dataBits, stopBits });
    } catch (cause) {
      throw new AdapterError(
        'ADAPTER_CONNECT_FAILED',
        `cannot open serial port ${path} (${describe(cause)}); check the device path, its permissions and that no other program holds it`,
        { cause },
      );
    }
    master.setTimeout(timeoutMs);
    master.setID(unitId);
    const internals = internalsOf(master);
    internals?._client.on('data', (chunk) => {
      if (this.#master !== master) return;
      if (this.#rx) this.#rx.push(chunk);
      else this.#stale = true;
    });
    master.on('close', () => {
      if (this.#master !== master) return;
      this.#master = undefined;
      this.#state = 'closed';
      this.#abort?.(new AdapterError('ADAPTER_DISCONNECTED', `serial port ${path} closed`));
    });
    master.on('error', () => undefined); // a port error closes the port; 'close' follows
    this.#master = master;
    this.#internals = internals;
    this.#stale = false;
    this.#state = 'open';
  }

  async read(table: ModbusTable, address: number, count: number): Promise<number[]> {
    const master = this.#master;
    if (this.#state !== 'open' || master === undefined) {
      throw new AdapterError(
        'ADAPTER_NOT_CONNECTED',
        `serial port ${this.#options.path} is not open`,
      );
    }
    if (this.#stale) await this.#flush();
    const rx: Buffer[] = [];
    this.#rx = rx;
    const aborted = new Promise<never>((_, reject) => (this.#abort = reject));
    const request = masterRead(master, table, address, count);
    request.catch(() => undefined);
    aborted.catch(() => undefined);
    try {
      return await Promise.race([request, aborted]);
    } catch (cause) {
      let err = toAdapterError(cause, table, address, count);
      if (err.code === 'MODBUS_TIMEOUT') {
        const bytes = Buffer.concat(rx);
        const leftover = classifyRtuLeftover(
          bytes,
          this.#options.unitId,
          functionCodeOf(table),
          count,
        );
        err = refineTimeout(err, leftover, bytes.length);
      }
      // Whatever is left of a failed exchange must not be matched against the next request.
      if (err.code !== 'MODBUS_EXCEPTION') this.#stale = true;
      throw err;
    } finally {
      this.#rx = undefined;
      this.#abort = undefined;
      forgetFinishedTransactions(master);
    }
  }

  async close(): Promise<void> {
    const master = this.#master;
    this.#master = undefined;
    this.#state = 'closed';
    this.#abort?.(new AdapterError('ADAPTER_CANCELLED', 'Modbus RTU client closed'));
    if (master === undefined || !master.isOpen) return;
    await new Promise<void>((resolve) => master.close(() => resolve()));
  }

  /** Drops bytes held by modbus-serial's port and by the OS for this line. */
  async #flush(): Promise<void> {
    this.#stale = false;
    const internals = this.#internals;
    if (internals === undefined) return;
    internals._buffer = Buffer.alloc(0);
    await new Promise<void>((resolve) => internals._client.flush(() => resolve()));
  }
}
