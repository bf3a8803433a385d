/**
 * The XR-200's "vendor SDK" endpoint: the RPC a controller vendor's SDK daemon offers on a
 * Unix-domain socket (framing and messages in sdk-protocol.ts; methods below). Several clients may
 * be connected at once; a client that sends a malformed frame is answered with an error and
 * disconnected, the others carry on. Faults can be injected at run time (sdk-faults.ts).
 *
 * Methods (params → result):
 *   hello {client?}            → {sdkVersion, protocol, vendor, model, serial, firmware}
 *   getCounters                → {counters: [{name, value, unit, resolution}], atMs}
 *   getActiveErrors            → {codes: number[], raisesTotal}
 *   listLogs                   → {logs: [{name, bytes, modifiedMs}]}
 *   readLog {name, offset, length} → {data (base64), size, eof}   (length ≤ 256 KiB, shortened)
 *   subscribe / unsubscribe    → {subscribed}; while subscribed, every raise/clear is pushed as
 *                                {event:'error', code, name, state, atMs}
 */
import { chmod, mkdtemp, rm, unlink } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import { SimListenFailedError } from './errors.js';
import { SdkFaultPlan, type SdkFault } from './sdk-faults.js';
import { SdkLogStore, type SdkLogInfo } from './sdk-logs.js';
import {
  encodeFrame,
  FrameDecoder,
  parseRequest,
  SDK_MAX_FRAME_BYTES,
  SDK_MAX_READ_BYTES,
  SDK_PROTOCOL,
  SDK_STATUS,
  SDK_VERSION,
  SdkProtocolError,
  type SdkRequest,
  type SdkStatus,
} from './sdk-protocol.js';

/** What the endpoint reads from the controller (ControllerModel satisfies it). */
export interface SdkDevice {
  counters(): Record<string, number>;
  activeCodes(): number[];
  onError(
    listener: (event: {
      code: number;
      name: string;
      state: 'raised' | 'cleared';
      wallTimeMs: number;
    }) => void,
  ): () => void;
}

export interface SdkEndpointOptions {
  device: SdkDevice;
  /** Socket path. Default: `xr200-sdk.sock` in a fresh private temp directory (removed on close). */
  path?: string;
  /** Serial number reported by `hello`. Default `XR200-SIM-0001`. */
  serial?: string;
  /** Largest frame payload accepted or sent, bytes. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Connections served at once; more are answered BUSY and closed. Default 16. */
  maxClients?: number;
}

export interface SdkEndpointStats {
  /** Connections open now. */
  clients: number;
  /** Connections subscribed to events now. */
  subscribers: number;
  requests: number;
  /** Error replies sent (including those for malformed frames). */
  errors: number;
  /** Connections closed because of a malformed frame. */
  protocolErrors: number;
  faultsApplied: number;
  eventsSent: number;
}

export interface SdkEndpoint {
  readonly path: string;
  /** Arms a fault (validated; SimBadArgumentError otherwise). */
  inject(fault: SdkFault): void;
  clearFaults(): void;
  faults(): SdkFault[];
  /** Closes every client connection now. @returns how many were closed. */
  dropConnections(): number;
  stats(): SdkEndpointStats;
  /**
   * Powers the endpoint down (a controller reboot): stops listening, closes every connection and
   * removes the socket file, keeping faults, logs and the path. Idempotent.
   */
  suspend(): Promise<void>;
  /** Listens again on the same path after {@link suspend}. Idempotent. */
  resume(): Promise<void>;
  /** Stops listening, closes every connection, removes the socket. Idempotent. */
  close(): Promise<void>;
}

/** Outgoing bytes a client may leave unread before it is disconnected. */
const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

const UNITS = new Map<string, { unit: string; resolution: number }>(
  registerMapJson.counters.map((c) => [c.name, { unit: c.unit, resolution: c.scale }]),
);

interface Client {
  socket: net.Socket;
  decoder: FrameDecoder;
  subscribed: boolean;
}

class BadParams extends Error {
  readonly status: SdkStatus;
  constructor(message: string, status: SdkStatus = SDK_STATUS.BAD_PARAMS) {
    super(message);
    this.status = status;
  }
}

class RunningSdkEndpoint implements SdkEndpoint {
  readonly path: string;
  readonly #device: SdkDevice;
  readonly #serial: string;
  readonly #maxFrame: number;
  readonly #maxClients: number;
  readonly #ownDir: string | null;
  readonly #server: net.Server;
  readonly #clients = new Set<Client>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #faults = new SdkFaultPlan();
  readonly #logs: SdkLogStore;
  readonly #unsubscribe: () => void;
  #closing: Promise<void> | null = null;
  #listening = false;
  #stats = { requests: 0, errors: 0, protocolErrors: 0, eventsSent: 0 };

  constructor(options: SdkEndpointOptions, path: string, ownDir: string | null) {
    this.path = path;
    this.#ownDir = ownDir;
    this.#device = options.device;
    this.#serial = options.serial ?? 'XR200-SIM-0001';
    this.#maxFrame = options.maxFrameBytes ?? SDK_MAX_FRAME_BYTES;
    this.#maxClients = options.maxClients ?? 16;
    this.#logs = new SdkLogStore({ serial: this.#serial });
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#unsubscribe = this.#device.onError((e) => {
      this.#logs.appendEvent(
        `${new Date(e.wallTimeMs).toISOString()} ${e.state.toUpperCase()} ${e.code} ${e.name}`,
      );
      const event = {
        event: 'error',
        code: e.code,
        name: e.name,
        state: e.state,
        atMs: e.wallTimeMs,
      };
      for (const c of this.#clients) {
        if (!c.subscribed) continue;
        this.#stats.eventsSent += 1;
        this.#send(c, event);
      }
    });
  }

  async listen(): Promise<void> {
    try {
      await listenOn(this.#server, this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || (await isAlive(this.path))) {
        this.#unsubscribe();
        throw new SimListenFailedError(`SDK endpoint could not listen on ${this.path}`, {
          cause: err,
        });
      }
      // A socket file left behind by a crashed endpoint: nobody answers on it, so replace it.
      await unlink(this.path);
      await listenOn(this.#server, this.path);
    }
    // Only the user running the controller (and the agent as that user) may talk to the SDK.
    await chmod(this.path, 0o600);
    this.#listening = true;
  }

  async suspend(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  async resume(): Promise<void> {
    if (this.#listening || this.#closing !== null) return;
    await this.listen();
  }

  inject(fault: SdkFault): void {
    this.#faults.add(fault);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  faults(): SdkFault[] {
    return this.#faults.list();
  }

  dropConnections(): number {
    const n = this.#clients.size;
    for (const c of this.#clients) c.socket.destroy();
    return n;
  }

  stats(): SdkEndpointStats {
    let subscribers = 0;
    for (const c of this.#clients) if (c.subscribed) subscribers += 1;
    return {
      ...this.#stats,
      clients: this.#clients.size,
      subscribers,
      faultsApplied: this.#faults.applied,
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#unsubscribe();
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      await this.suspend();
      if (this.#ownDir !== null) await rm(this.#ownDir, { recursive: true, force: true });
    })();
    return this.#closing;
  }

  #accept(socket: net.Socket): void {
    const client: Client = { socket, decoder: new FrameDecoder(this.#maxFrame), subscribed: false };
    socket.on('error', () => socket.destroy()); // a client reset ends that client only
    if (this.#closing !== null || this.#clients.size >= this.#maxClients) {
      this.#stats.errors += 1;
      socket.end(
        encodeFrame({ id: null, error: { code: SDK_STATUS.BUSY, message: 'too many clients' } }),
      );
      return;
    }
    this.#clients.add(client);
    socket.on('close', () => this.#clients.delete(client));
    socket.on('data', (chunk: Buffer) => this.#receive(client, chunk));
  }

  #receive(client: Client, chunk: Buffer): void {
    try {
      for (const payload of client.decoder.push(chunk)) {
        if (client.socket.destroyed) return;
        this.#handle(client, parseRequest(payload));
      }
    } catch (err) {
      const e =
        err instanceof SdkProtocolError
          ? err
          : new SdkProtocolError(SDK_STATUS.INTERNAL, String(err), { cause: err });
      this.#stats.errors += 1;
      this.#stats.protocolErrors += 1;
      this.#clients.delete(client);
      const reply = encodeFrame({ id: null, error: { code: e.status, message: e.message } });
      client.socket.end(reply, () => client.socket.destroy());
    }
  }

  #handle(client: Client, req: SdkRequest): void {
    this.#stats.requests += 1;
    const fault = this.#faults.take(req.method);
    switch (fault?.kind) {
      case 'no-reply':
        return;
      case 'drop':
        client.socket.destroy();
        return;
      case 'malformed': {
        const garbage = Buffer.from([0, 0, 0, 6, 0xff, 0xfe, 0x7b, 0x22, 0x69, 0x00]);
        client.socket.write(garbage);
        return;
      }
      case 'oversize': {
        const header = Buffer.alloc(4);
        header.writeUInt32BE(Math.min(this.#maxFrame + 1, 0xffff_ffff));
        client.socket.write(header);
        return;
      }
    }
    const reply = this.#reply(client, req);
    if (fault?.kind === 'delay') {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#send(client, reply);
      }, fault.ms);
      this.#timers.add(t);
    } else {
      this.#send(client, reply);
    }
  }

  #reply(client: Client, req: SdkRequest): object {
    try {
      return { id: req.id, result: this.#dispatch(client, req) };
    } catch (err) {
      this.#stats.errors += 1;
      const status = err instanceof BadParams ? err.status : SDK_STATUS.INTERNAL;
      const message = err instanceof Error ? err.message : String(err);
      return { id: req.id, error: { code: status, message } };
    }
  }

  #dispatch(client: Client, req: SdkRequest): unknown {
    const p = req.params;
    switch (req.method) {
      case 'hello':
        return {
          sdkVersion: SDK_VERSION,
          protocol: SDK_PROTOCOL,
          vendor: 'OUTPOST-SIM',
          model: 'XR-200',
          serial: this.#serial,
          firmware: '1.8.0',
        };
      case 'getCounters':
        return {
          counters: Object.entries(this.#device.counters()).map(([name, value]) => ({
            name,
            value,
            unit: UNITS.get(name)?.unit ?? '',
            resolution: UNITS.get(name)?.resolution ?? 1,
          })),
          atMs: Date.now(),
        };
      case 'getActiveErrors':
        return {
          codes: this.#device.activeCodes(),
          raisesTotal: this.#device.counters().error_events_total ?? 0,
        };
      case 'listLogs':
        return { logs: this.#logs.list() satisfies SdkLogInfo[] };
      case 'readLog':
        return this.#readLog(p);
      case 'subscribe':
        client.subscribed = true;
        return { subscribed: true };
      case 'unsubscribe':
        client.subscribed = false;
        return { subscribed: false };
      default:
        throw new BadParams(
          `unknown method ${JSON.stringify(req.method)}`,
          SDK_STATUS.UNKNOWN_METHOD,
        );
    }
  }

  #readLog(p: Record<string, unknown>): unknown {
    const { name, offset, length } = p;
    if (typeof name !== 'string') throw new BadParams('readLog: name must be a string');
    if (!Number.isSafeInteger(offset) || (offset as number) < 0)
      throw new BadParams('readLog: offset must be an integer ≥ 0');
    if (!Number.isSafeInteger(length) || (length as number) < 1)
      throw new BadParams('readLog: length must be an integer ≥ 1');
    const want = Math.min(length as number, SDK_MAX_READ_BYTES);
    const read = this.#logs.read(name, offset as number, want);
    if (read === undefined) throw new BadParams(`no log named ${name}`, SDK_STATUS.NO_SUCH_LOG);
    if ((offset as number) > read.size)
      throw new BadParams(`readLog: offset ${String(offset)} is past the end (${read.size} bytes)`);
    return {
      data: read.data.toString('base64'),
      size: read.size,
      eof: (offset as number) + read.data.length >= read.size,
    };
  }

  #send(client: Client, message: object): void {
    const socket = client.socket;
    if (socket.destroyed) return;
    if (socket.writableLength > MAX_UNREAD_BYTES) {
      socket.destroy(); // a client that stops reading does not get to grow our memory
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(message, this.#maxFrame);
    } catch (err) {
      const id = (message as { id?: unknown }).id ?? null;
      frame = encodeFrame({ id, error: { code: SDK_STATUS.INTERNAL, message: String(err) } });
    }
    socket.write(frame);
  }
}

function listenOn(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Whether something answers on the Unix socket at `path`. */
function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Starts the vendor-SDK endpoint; resolves once it accepts connections. */
export async function startSdkEndpoint(options: SdkEndpointOptions): Promise<SdkEndpoint> {
  let ownDir: string | null = null;
  let path = options.path;
  if (path === undefined) {
    ownDir = await mkdtemp(join(tmpdir(), 'outpost-sdk-'));
    path = join(ownDir, 'xr200-sdk.sock');
  }
  const endpoint = new RunningSdkEndpoint(options, path, ownDir);
  try {
    await endpoint.listen();
  } catch (err) {
    if (ownDir !== null) await rm(ownDir, { recursive: true, force: true });
    throw err;
  }
  return endpoint;
}
