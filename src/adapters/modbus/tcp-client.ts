import net from 'node:net';
import { AdapterError } from '../errors.js';
import type { ModbusClient } from './client.js';
import {
  describe,
  forgetFinishedTransactions,
  masterRead,
  loadModbusRtu,
  refineTimeout,
  toAdapterError,
  type ModbusMaster,
} from './master.js';
import type { ModbusTable } from './register-map.js';
import { classifyTcpLeftover } from './reply-tap.js';

export interface ModbusTcpOptions {
  host: string;
  port: number;
  unitId: number;
  /** Per-request timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** TCP connect timeout. Default 3000 ms. */
  connectTimeoutMs?: number;
}

/** One TCP connection: its socket, the master on it, and the bytes of the current read. */
interface Link {
  socket: net.Socket;
  master: ModbusMaster;
  /** Bytes received since the current read started (the tap; see reply-tap.ts). */
  rx: Buffer[];
  /** Rejects the read in progress when the connection drops or the client closes. */
  abort: ((err: AdapterError) => void) | undefined;
}

/**
 * A Modbus TCP master on `modbus-serial` (over a socket this client opens and hands to it with
 * `linkTCP`, so it can watch the bytes).
 *
 * State is one field: `closed` (not connected), `open`, or `resync`: the byte stream lost its
 * framing (a reply cut short, bytes that were no reply) and the connection was dropped; the next
 * read reconnects before sending, since no later reply on the old stream could be trusted.
 * A connection the device drops fails the read in progress at once with ADAPTER_DISCONNECTED
 * (not after the timeout) and leaves the client `closed`; the adapter reopens it.
 */
export class ModbusTcpClient implements ModbusClient {
  readonly kind = 'modbus-tcp';
  readonly #options: Required<ModbusTcpOptions>;
  #state: 'closed' | 'open' | 'resync' = 'closed';
  #link: Link | undefined;

  constructor(options: ModbusTcpOptions) {
    this.#options = { timeoutMs: 1000, connectTimeoutMs: 3000, ...options };
  }

  get isOpen(): boolean {
    return this.#state !== 'closed';
  }

  async open(): Promise<void> {
    // A fresh connection and master each time: modbus-serial keeps transaction state per port.
    this.#drop(new AdapterError('ADAPTER_CANCELLED', 'connection replaced'));
    await this.#connect();
  }

  async read(table: ModbusTable, address: number, count: number): Promise<number[]> {
    if (this.#state === 'resync') await this.#connect();
    const link = this.#link;
    if (this.#state !== 'open' || link === undefined) {
      throw new AdapterError('ADAPTER_NOT_CONNECTED', 'Modbus TCP connection is not open');
    }
    const { unitId } = this.#options;
    // Bytes that came between reads and were not whole frames mean the stream is out of step.
    const before = link.rx.length === 1 ? link.rx[0]! : Buffer.concat(link.rx);
    if (classifyTcpLeftover(before, unitId) !== 'none') {
      this.#drop(new AdapterError('ADAPTER_CANCELLED', 'resynchronising'), 'resync');
      return this.read(table, address, count);
    }
    link.rx = [];
    const aborted = new Promise<never>((_, reject) => (link.abort = reject));
    const request = masterRead(link.master, table, address, count);
    // Whichever loses the race settles later; nobody waits for it.
    request.catch(() => undefined);
    aborted.catch(() => undefined);
    try {
      return await Promise.race([request, aborted]);
    } catch (cause) {
      let err = toAdapterError(cause, table, address, count);
      if (err.code === 'MODBUS_TIMEOUT' && this.#link === link) {
        const bytes = Buffer.concat(link.rx);
        const leftover = classifyTcpLeftover(bytes, unitId);
        err = refineTimeout(err, leftover, bytes.length);
        if (leftover !== 'none') this.#drop(err, 'resync');
      }
      if (err.code === 'ADAPTER_BAD_REPLY' && this.#link === link) this.#drop(err, 'resync');
      throw err;
    } finally {
      link.abort = undefined;
      forgetFinishedTransactions(link.master);
    }
  }

  async close(): Promise<void> {
    this.#drop(new AdapterError('ADAPTER_CANCELLED', 'Modbus TCP client closed'));
  }

  async #connect(): Promise<void> {
    const { host, port, unitId, timeoutMs, connectTimeoutMs } = this.#options;
    this.#state = 'closed';
    const socket = new net.Socket();
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`no connection within ${connectTimeoutMs} ms`));
        }, connectTimeoutMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        socket.connect(port, host);
      });
    } catch (cause) {
      socket.destroy();
      throw new AdapterError(
        'ADAPTER_CONNECT_FAILED',
        `cannot reach Modbus TCP server at ${host}:${port} (${describe(cause)}); check the address and that the controller is powered`,
        { cause },
      );
    }
    const master = new (await loadModbusRtu())();
    await master.linkTCP(socket, { port });
    // After linkTCP, so modbus-serial does not also arm an idle timeout on the socket.
    master.setTimeout(timeoutMs);
    master.setID(unitId);
    master.on('error', () => undefined); // socket errors end in 'close', handled below
    const link: Link = { socket, master, rx: [], abort: undefined };
    socket.on('data', (chunk: Buffer) => {
      link.rx.push(chunk);
      // Bytes that cannot be Modbus TCP fail the read now rather than at the timeout.
      const all = link.rx.length === 1 ? chunk : Buffer.concat(link.rx);
      if (link.abort && classifyTcpLeftover(all, unitId) === 'garbage') {
        const received = link.rx.reduce((n, c) => n + c.length, 0);
        link.abort(
          new AdapterError(
            'ADAPTER_BAD_REPLY',
            `${received} bytes that are not Modbus TCP arrived from ${host}:${port} (the stream lost its framing)`,
          ),
        );
      }
    });
    socket.on('error', () => undefined); // 'close' follows; modbus-serial listens too
    socket.on('close', () => {
      if (this.#link !== link) return;
      this.#link = undefined;
      this.#state = 'closed';
      link.abort?.(
        new AdapterError(
          'ADAPTER_DISCONNECTED',
          `Modbus TCP server at ${host}:${port} closed the connection`,
        ),
      );
    });
    this.#link = link;
    this.#state = 'open';
  }

  /** Ends the current connection, failing a read in progress with `reason`. */
  #drop(reason: AdapterError, next: 'closed' | 'resync' = 'closed'): void {
    const link = this.#link;
    this.#link = undefined;
    this.#state = next;
    if (link === undefined) return;
    link.abort?.(reason);
    // destroy() also cancels modbus-serial's pending transaction timers.
    link.master.destroy(() => undefined);
    link.socket.destroy();
  }
}
