import net from 'node:net';
import { linkSignals, raceAbort, reasonOf } from '../abort.js';
import { AdapterError, type AdapterErrorCode } from '../errors.js';
import { SdkError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, SdkFrameParser, encodeSdkFrame } from './frame-parser.js';
import { deliver, warnListenerError } from './listeners.js';
import { IPC_PROTOCOL, IPC_STATUS, decodeIpcMessage } from './messages.js';
import type {
  SdkActiveErrors,
  SdkCounters,
  SdkEvent,
  SdkInfo,
  SdkLogChunk,
  SdkLogInfo,
  VendorSdk,
} from './types.js';
import { checkActiveErrors, checkChunk, checkCounters, checkInfo, checkLogs } from './validate.js';

export interface IpcSdkClientOptions {
  /** The endpoint's Unix-domain socket path (a named pipe `\\.\pipe\…` on Windows). */
  path: string;
  /** Per-request timeout, ms (`SDK_TIMEOUT`). Default 5000. */
  timeoutMs?: number;
  /** Budget for connecting and the `hello` exchange, ms. Default 3000. */
  connectTimeoutMs?: number;
  /** Largest frame accepted or sent, bytes. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Sent in `hello` so the endpoint can log who connected. Default `outpost`. */
  clientName?: string;
  /** Where an exception thrown by an event listener goes. Default: a process warning. */
  onListenerError?: (err: unknown) => void;
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: AdapterError): void;
}

/** One socket and its parser; dead once torn down, never reused. */
interface Link {
  socket: net.Socket;
  parser: SdkFrameParser;
  pending: Map<number, Pending>;
  dead: boolean;
  /** The last socket error, as the cause of the disconnect. */
  cause?: Error;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The out-of-process vendor-SDK binding: a {@link VendorSdk} that talks to an SDK running in
 * another process (the simulator's endpoint, or an OEM's daemon wrapping a native SDK) over a
 * Unix-domain socket, with the length-prefixed JSON protocol described in docs/adapters.md.
 *
 * Requests are pipelined (several may be in flight; replies are matched by id). A reply that
 * comes after its request timed out or was aborted is discarded. Bytes that are not a frame of the
 * protocol end the connection (`SDK_BAD_FRAME`), as does a frame over `maxFrameBytes`
 * (`SDK_FRAME_TOO_LARGE`); pending requests reject with that error and listeners get
 * `{ type: 'disconnected' }`. The event subscription is re-armed on every (re)connect while
 * there are listeners.
 */
export class IpcSdkClient implements VendorSdk {
  readonly name = 'ipc';
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxFrame: number;
  readonly #clientName: string;
  readonly #onListenerError: (err: unknown) => void;
  readonly #listeners = new Set<(event: SdkEvent) => void>();
  readonly #closing = new AbortController();
  /** The link in use (after a successful hello). */
  #link: Link | undefined;
  /** The link being opened. */
  #opening: Link | undefined;
  #connecting: Promise<SdkInfo> | undefined;
  #info: SdkInfo | undefined;
  #nextId = 1;

  constructor(options: IpcSdkClientOptions) {
    this.#path = options.path;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.#maxFrame = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#clientName = options.clientName ?? 'outpost';
    this.#onListenerError = options.onListenerError ?? warnListenerError;
  }

  get connected(): boolean {
    return this.#link !== undefined;
  }

  /** What the last successful `hello` reported. */
  get info(): SdkInfo | undefined {
    return this.#info;
  }

  connect(signal?: AbortSignal): Promise<SdkInfo> {
    if (this.#closing.signal.aborted) return Promise.reject(closedError());
    if (this.#link !== undefined && this.#info !== undefined) return Promise.resolve(this.#info);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return raceAbort(this.#connecting, signal);
  }

  async getCounters(signal?: AbortSignal): Promise<SdkCounters> {
    return checkCounters(await this.#call('getCounters', {}, signal));
  }

  async getActiveErrors(signal?: AbortSignal): Promise<SdkActiveErrors> {
    return checkActiveErrors(await this.#call('getActiveErrors', {}, signal));
  }

  async listLogs(signal?: AbortSignal): Promise<SdkLogInfo[]> {
    const result = await this.#call('listLogs', {}, signal);
    return checkLogs((result as { logs?: unknown } | null)?.logs);
  }

  async readLog(
    name: string,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<SdkLogChunk> {
    const result = await this.#call('readLog', { name, offset, length }, signal);
    const r = (typeof result === 'object' && result !== null ? result : {}) as Record<
      string,
      unknown
    >;
    if (typeof r.data !== 'string' || !BASE64.test(r.data)) {
      throw new AdapterError('ADAPTER_BAD_REPLY', 'vendor SDK readLog reply: data is not base64');
    }
    return checkChunk(
      { ...r, data: new Uint8Array(Buffer.from(r.data, 'base64')) },
      offset,
      length,
    );
  }

  subscribe(listener: (event: SdkEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1 && this.#link !== undefined) this.#arm(this.#link);
    return () => {
      if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
      const link = this.#link;
      // Best effort: with no listener left there is nobody to tell if this fails, and events
      // that still arrive are simply delivered to no one.
      if (link !== undefined) this.#request(link, 'unsubscribe', {}).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(closedError());
    for (const link of [this.#link, this.#opening]) {
      if (link !== undefined) this.#down(link, closedError());
    }
  }

  async #open(): Promise<SdkInfo> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new SdkError('SDK_TIMEOUT', `no answer within ${this.#connectTimeoutMs} ms`),
        ),
      this.#connectTimeoutMs,
    );
    const linked = linkSignals(deadline.signal, this.#closing.signal);
    const { signal } = linked;
    const socket = net.createConnection(this.#path);
    const link: Link = {
      socket,
      parser: new SdkFrameParser({ maxFrameBytes: this.#maxFrame }),
      pending: new Map(),
      dead: false,
    };
    this.#opening = link;
    socket.on('data', (chunk: Buffer) => this.#receive(link, chunk));
    socket.on('error', (err) => {
      link.cause = err;
    });
    socket.on('close', () =>
      this.#down(
        link,
        new AdapterError(
          'ADAPTER_DISCONNECTED',
          `vendor SDK endpoint at ${this.#path} closed the connection${link.cause ? ` (${link.cause.message})` : ''}`,
          { cause: link.cause },
        ),
      ),
    );
    try {
      await raceAbort(
        new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('close', () => reject(link.cause ?? new Error('connection closed')));
        }),
        signal,
      );
      const hello = await this.#request(
        link,
        'hello',
        { client: this.#clientName, protocol: IPC_PROTOCOL },
        signal,
      );
      const protocol = (hello as { protocol?: unknown } | null)?.protocol;
      if (protocol !== IPC_PROTOCOL) {
        throw new SdkError(
          'SDK_INCOMPATIBLE',
          `vendor SDK endpoint speaks protocol ${JSON.stringify(protocol)}; this agent speaks ${IPC_PROTOCOL}`,
        );
      }
      const info = checkInfo(hello);
      if (this.#listeners.size > 0) await this.#request(link, 'subscribe', {}, signal);
      this.#info = info;
      this.#link = link;
      return info;
    } catch (err) {
      this.#down(link, closedError());
      throw connectError(err, this.#path);
    } finally {
      clearTimeout(timer);
      linked.release();
      if (this.#opening === link) this.#opening = undefined;
    }
  }

  #call(method: string, params: object, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#closing.signal.aborted) return Promise.reject(closedError());
    const link = this.#link;
    if (link === undefined) {
      return Promise.reject(
        new AdapterError('ADAPTER_NOT_CONNECTED', `vendor SDK is not connected (${method})`),
      );
    }
    return this.#request(link, method, params, signal);
  }

  #request(link: Link, method: string, params: object, signal?: AbortSignal): Promise<unknown> {
    const id = this.#nextId;
    this.#nextId = id >= 0xffff_ffff ? 1 : id + 1;
    let frame: Uint8Array;
    try {
      frame = encodeSdkFrame({ id, method, params }, this.#maxFrame);
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    if (link.dead) {
      return Promise.reject(
        new AdapterError('ADAPTER_DISCONNECTED', `vendor SDK connection lost (${method})`),
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        link.pending.delete(id);
      };
      const onAbort = (): void => {
        settle();
        reject(reasonOf(signal!));
      };
      const timer = setTimeout(() => {
        settle();
        reject(
          new SdkError(
            'SDK_TIMEOUT',
            `vendor SDK did not answer ${method} within ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      link.pending.set(id, {
        method,
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      link.socket.write(frame);
    });
  }

  #receive(link: Link, chunk: Buffer): void {
    if (link.dead) return;
    let payloads: Uint8Array[];
    try {
      payloads = link.parser.push(chunk);
    } catch (err) {
      this.#down(link, err as SdkError); // the parser throws only SdkError
      return;
    }
    for (const payload of payloads) {
      let message;
      try {
        message = decodeIpcMessage(payload);
      } catch (err) {
        this.#down(link, err as SdkError); // decodeIpcMessage throws only SdkError
        return;
      }
      switch (message.kind) {
        case 'result':
          link.pending.get(message.id)?.resolve(message.result);
          break;
        case 'error': {
          if (message.id === null) {
            // The endpoint refused our stream as a whole and is closing the connection.
            this.#down(link, statusError(message.status, message.message, 'connection'));
            return;
          }
          const pending = link.pending.get(message.id);
          pending?.reject(statusError(message.status, message.message, pending.method));
          break;
        }
        case 'event':
          deliver(this.#listeners, message.event, this.#onListenerError);
          break;
        case 'unknown-event':
          break; // the protocol grows additively: an event this binding does not know is skipped
      }
      if (link.dead) return;
    }
  }

  #arm(link: Link): void {
    this.#request(link, 'subscribe', {}).catch((err: unknown) => {
      // Without the subscription events would silently stop: drop the link so the next
      // (re)connect arms it again.
      if (!link.dead && !(err instanceof AdapterError && err.canceled)) {
        this.#down(
          link,
          new AdapterError('ADAPTER_DISCONNECTED', 'vendor SDK refused the event subscription', {
            cause: err,
          }),
        );
      }
    });
  }

  /** Tears a link down once: pending requests reject with `error`; listeners hear of a drop. */
  #down(link: Link, error: AdapterError): void {
    if (link.dead) return;
    link.dead = true;
    link.socket.destroy();
    for (const p of [...link.pending.values()]) p.reject(error);
    if (this.#link !== link) return;
    this.#link = undefined;
    if (!this.#closing.signal.aborted) {
      deliver(this.#listeners, { type: 'disconnected', error }, this.#onListenerError);
    }
  }
}

function closedError(): AdapterError {
  return new AdapterError('ADAPTER_CANCELLED', 'vendor SDK client closed');
}

/** Maps an endpoint error status to a stable AdapterError code. */
function statusError(status: number | string, message: string, method: string): SdkError {
  const codes: Record<number, AdapterErrorCode> = {
    [IPC_STATUS.BAD_FRAME]: 'SDK_BAD_FRAME',
    [IPC_STATUS.FRAME_TOO_LARGE]: 'SDK_FRAME_TOO_LARGE',
    [IPC_STATUS.UNKNOWN_METHOD]: 'SDK_UNSUPPORTED',
    [IPC_STATUS.NO_SUCH_LOG]: 'SDK_NOT_FOUND',
    [IPC_STATUS.DEVICE_TIMEOUT]: 'SDK_TIMEOUT',
  };
  const code = (typeof status === 'number' ? codes[status] : undefined) ?? 'SDK_ERROR';
  return new SdkError(code, `vendor SDK ${method} failed: ${message} (status ${status})`, {
    sdkStatus: status,
  });
}

function connectError(err: unknown, path: string): AdapterError {
  if (err instanceof AdapterError && (err.canceled || err.code === 'SDK_INCOMPATIBLE')) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new AdapterError(
    'ADAPTER_CONNECT_FAILED',
    `cannot reach the vendor SDK endpoint at ${path} (${detail}); check that the SDK service is running`,
    { cause: err },
  );
}
