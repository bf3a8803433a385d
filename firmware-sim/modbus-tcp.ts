/**
 * The controller's Modbus TCP face: its own MBAP responder on node:net (no modbus-serial), so
 * a reply goes out the moment the request is read — no timer in between — and a fault can
 * shape the reply byte by byte.
 *
 * Each connection is parsed as a stream of MBAP ADUs (transaction id, protocol id 0, length,
 * unit id, PDU). Requests for another unit id go unanswered, as on a real gateway-less device;
 * the PDU is answered by modbus-pdu.ts (functions 1-4 from the register reader; exceptions 1,
 * 2, 3 and 4 as described there). A header that cannot be Modbus TCP (protocol id ≠ 0, length
 * outside 2..254) means the stream lost its framing: the connection is closed, as devices do.
 * Armed faults (modbus-faults.ts) apply per request; `delayMs` delays every reply.
 */
import net from 'node:net';
import { SimListenFailedError } from './errors.js';
import { ModbusFaults, truncatedLength, type ModbusFault } from './modbus-faults.js';
import { answerPdu, exceptionPdu, type ModbusReader } from './modbus-pdu.js';

export interface ModbusTcpOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** TCP port; 0 or absent picks a free one. */
  port?: number;
  /** The unit id this device answers to. */
  unitId: number;
  /**
   * Reads registers (bits as 0/1 from coil/discrete); throws SimModbusExceptionError to answer
   * with a Modbus exception.
   */
  read: ModbusReader;
  /** Extra delay before every response, ms. Default 0. */
  delayMs?: number;
  /** Armed faults to apply (shared with the RTU face). Default: a private, empty set. */
  faults?: ModbusFaults;
}

export interface ModbusTcpFace {
  readonly host: string;
  readonly port: number;
  /** Extra delay before every response, ms; may be changed while serving. */
  delayMs: number;
  /** Socket-level errors seen (client resets and the like); they never stop the server. */
  readonly socketErrors: number;
  /** Connections open now. */
  readonly connections: number;
  /** Requests answered (or deliberately not) since start, over all connections. */
  readonly requests: number;
  /** Drops every connection; for `downMs` new ones are closed as soon as they are accepted. */
  dropConnections(downMs?: number): void;
  close(): Promise<void>;
}

/** A port that was free on `host` a moment ago. */
export async function findFreePort(host: string): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, host, resolve);
  });
  const address = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return address.port;
}

const MBAP_HEADER = 6;
const MAX_MBAP_LENGTH = 254;

/** `txid, 0, length, unit, pdu`. */
function mbap(transactionId: number, unit: number, pdu: Uint8Array): Buffer {
  const adu = Buffer.alloc(MBAP_HEADER + 1 + pdu.length);
  adu.writeUInt16BE(transactionId, 0);
  adu.writeUInt16BE(0, 2);
  adu.writeUInt16BE(pdu.length + 1, 4);
  adu[6] = unit;
  adu.set(pdu, 7);
  return adu;
}

export async function startModbusTcp(options: ModbusTcpOptions): Promise<ModbusTcpFace> {
  const host = options.host ?? '127.0.0.1';
  const faults = options.faults ?? new ModbusFaults();
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<net.Socket>();
  const state = { delayMs: options.delayMs ?? 0, socketErrors: 0, requests: 0, downUntil: 0 };

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const dropConnections = (downMs = 0): void => {
    state.downUntil = Math.max(state.downUntil, performance.now() + downMs);
    for (const socket of sockets) socket.destroy();
  };

  /** Answers one ADU (already checked to be for our unit). */
  const answer = (socket: net.Socket, adu: Buffer): void => {
    state.requests += 1;
    const transactionId = adu.readUInt16BE(0);
    const pdu = adu.subarray(7);
    const fault = faults.take('tcp');
    let reply: Uint8Array = mbap(transactionId, options.unitId, answerPdu(pdu, options.read));
    let extraDelay = 0;
    switch (fault?.kind) {
      case 'no-reply':
        return;
      case 'disconnect':
        dropConnections(fault.downMs ?? 0);
        return;
      case 'delay':
        extraDelay = fault.delayMs ?? 0;
        break;
      case 'exception':
        reply = mbap(
          transactionId,
          options.unitId,
          exceptionPdu(pdu[0] ?? 0, fault.exceptionCode ?? 4),
        );
        break;
      case 'truncate':
        reply = reply.subarray(0, truncatedLength(fault, reply.length));
        break;
      case 'garbage':
        reply = garbage(faults, fault, reply.length);
        break;
    }
    const send = (): void => {
      if (!socket.destroyed) socket.write(reply);
    };
    const delay = state.delayMs + extraDelay;
    if (delay <= 0) send();
    else later(delay, send);
  };

  const server = net.createServer((socket) => {
    if (performance.now() < state.downUntil) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      while (buffer.length >= MBAP_HEADER + 1) {
        const protocol = buffer.readUInt16BE(2);
        const length = buffer.readUInt16BE(4);
        if (protocol !== 0 || length < 2 || length > MAX_MBAP_LENGTH) {
          socket.destroy(); // not Modbus TCP: the stream cannot be resynchronised
          return;
        }
        if (buffer.length < MBAP_HEADER + length) break;
        const adu = buffer.subarray(0, MBAP_HEADER + length);
        buffer = buffer.subarray(MBAP_HEADER + length);
        if (adu[6] === options.unitId) answer(socket, adu);
      }
    });
    socket.on('error', () => {
      state.socketErrors += 1;
      socket.destroy(); // a client reset ends that client only
    });
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('error', () => {
    state.socketErrors += 1;
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new SimListenFailedError(`Modbus TCP could not listen on ${host}:${options.port ?? 0}`, {
      cause: err,
    });
  }
  const port = (server.address() as net.AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get socketErrors() {
      return state.socketErrors;
    },
    get connections() {
      return sockets.size;
    },
    get requests() {
      return state.requests;
    },
    dropConnections,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      })),
  };
}

/** Random bytes of the reply's length (or `bytes`) that can never parse as an MBAP header. */
function garbage(faults: ModbusFaults, fault: ModbusFault, replyLength: number): Uint8Array {
  const bytes = faults.garbage(fault.bytes ?? replyLength, -1);
  if (bytes.length > 2 && bytes[2] === 0) bytes[2] = 0x5a; // protocol id ≠ 0
  return bytes;
}
