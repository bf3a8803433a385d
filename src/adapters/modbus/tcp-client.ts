import net from 'node:net';
import { AdapterError } from '../errors.js';
import type { ModbusClient } from './client.js';
import { describe, refineTimeout } from './master.js';
import { aduLength, decodeReadReply, encodeReadRequest, transactionIdOf } from './mbap.js';
import { describeRead, type ModbusTable } from './register-map.js';
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

/** The read waiting for its reply. */
interface Pending {
  transactionId: number;
  /** Settles the read with the ADU whose transaction id is ours. */
  reply(adu: Buffer): void;
  /** Fails the read (timeout, bad bytes, connection lost, closed). */
  fail(err: AdapterError): void;
}

/** One TCP connection: its socket and the bytes received that are not a whole ADU yet. */
interface Link {
  socket: net.Socket;
  rx: Buffer;
  pending: Pending | undefined;
}

const NO_BYTES = Buffer.alloc(0);

/**
 * A Modbus TCP master of its own (MBAP framing in mbap.ts), for the reads the adapter makes:
 * functions 1–4, one at a time. It does not use `modbus-serial` (the RTU client does), so an
 * agent on Modbus TCP never loads that package or `serialport` and its native binding.
 *
 * State is one field: `closed` (not connected), `open`, or `resync`: the byte stream lost its
 * framing (a reply cut short, bytes that were no reply) and the connection was dropped; the next
 * read reconnects before sending, since no later reply on the old stream could be trusted.
 * A reply to an earlier read that timed out (its transaction id is not the current one) is
 * skipped. A connection the device drops fails the read in progress at once with
 * ADAPTER_DISCONNECTED (not after the timeout) and leaves the client `closed`; the adapter
 * reopens it.
 */
export class ModbusTcpClient implements ModbusClient {
  readonly kind = 'modbus-tcp';
  readonly #options: Required<ModbusTcpOptions>;
  #state: 'closed' | 'open' | 'resync' = 'closed';
  #link: Link | undefined;
  #transactionId = 0;

  constructor(options: ModbusTcpOptions) {
    this.#options = { timeoutMs: 1000, connectTimeoutMs: 3000, ...options };
  }

  get isOpen(): boolean {
    return this.#state !== 'closed';
  }

  async open(): Promise<void> {
    this.#drop(new AdapterError('ADAPTER_CANCELLED', 'connection replaced'));
    await this.#connect();
  }

  async read(table: ModbusTable, address: number, count: number): Promise<number[]> {
    if (this.#state === 'resync') await this.#connect();
    const link = this.#link;
    if (this.#state !== 'open' || link === undefined) {
      throw new AdapterError('ADAPTER_NOT_CONNECTED', 'Modbus TCP connection is not open');
    }
    const { unitId, timeoutMs } = this.#options;
    // Bytes that came between reads and were not whole frames mean the stream is out of step.
    if (classifyTcpLeftover(link.rx, unitId) !== 'none') {
      this.#drop(new AdapterError('ADAPTER_CANCELLED', 'resynchronising'), 'resync');
      return this.read(table, address, count);
    }
    link.rx = NO_BYTES;
    this.#transactionId = (this.#transactionId + 1) & 0xffff;
    const transactionId = this.#transactionId;
    const request = encodeReadRequest(transactionId, unitId, table, address, count);
    return new Promise<number[]>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        if (link.pending === pending) link.pending = undefined;
      };
      const pending: Pending = {
        transactionId,
        reply: (adu) => {
          done();
          try {
            resolve(decodeReadReply(adu, table, address, count));
          } catch (err) {
            // A whole frame of another function: the device is not answering what we ask.
            if (err instanceof AdapterError && err.code === 'ADAPTER_BAD_REPLY')
              this.#dropIf(link, err);
            reject(err);
          }
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const what = describeRead(table, address, count);
        const timeout = new AdapterError(
          'MODBUS_TIMEOUT',
          `no reply ${what}; the bus or controller is stuck or the unit id is wrong`,
          { address },
        );
        const leftover = classifyTcpLeftover(link.rx, unitId);
        const err = refineTimeout(timeout, leftover, link.rx.length);
        pending.fail(err);
        if (leftover !== 'none') this.#dropIf(link, err);
      }, timeoutMs);
      link.pending = pending;
      link.socket.write(request);
    });
  }

  async close(): Promise<void> {
    this.#drop(new AdapterError('ADAPTER_CANCELLED', 'Modbus TCP client closed'));
  }

  async #connect(): Promise<void> {
    const { host, port, connectTimeoutMs } = this.#options;
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
    socket.setNoDelay(true);
    const link: Link = { socket, rx: NO_BYTES, pending: undefined };
    socket.on('data', (chunk: Buffer) => this.#received(link, chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      if (this.#link !== link) return;
      this.#link = undefined;
      this.#state = 'closed';
      link.pending?.fail(
        new AdapterError(
          'ADAPTER_DISCONNECTED',
          `Modbus TCP server at ${host}:${port} closed the connection`,
        ),
      );
    });
    this.#link = link;
    this.#state = 'open';
  }

  /** Takes the whole ADUs out of what arrived; fails the read at once on bytes that are not Modbus TCP. */
  #received(link: Link, chunk: Buffer): void {
    const { unitId, host, port } = this.#options;
    let rx = link.rx.length === 0 ? chunk : Buffer.concat([link.rx, chunk]);
    for (let n = aduLength(rx, unitId); n > 0; n = aduLength(rx, unitId)) {
      const adu = rx.subarray(0, n);
      rx = rx.length === n ? NO_BYTES : rx.subarray(n);
      // Anything else is a reply to an earlier read that timed out: skipped.
      if (link.pending?.transactionId === transactionIdOf(adu)) {
        link.rx = rx;
        link.pending.reply(adu);
      }
    }
    link.rx = rx;
    if (link.pending && aduLength(rx, unitId) < 0) {
      const err = new AdapterError(
        'ADAPTER_BAD_REPLY',
        `${rx.length} bytes that are not Modbus TCP arrived from ${host}:${port} (the stream lost its framing)`,
      );
      link.pending.fail(err);
      this.#dropIf(link, err);
    }
  }

  /** Drops `link` for a resync if it is still the current connection. */
  #dropIf(link: Link, reason: AdapterError): void {
    if (this.#link === link) this.#drop(reason, 'resync');
  }

  /** Ends the current connection, failing a read in progress with `reason`. */
  #drop(reason: AdapterError, next: 'closed' | 'resync' = 'closed'): void {
    const link = this.#link;
    this.#link = undefined;
    this.#state = next;
    if (link === undefined) return;
    link.pending?.fail(reason);
    link.socket.destroy();
  }
}
