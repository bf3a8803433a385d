import { linkSignals, raceAbort, raceSignals, reasonOf } from '../abort.js';
import { AdapterError, ConfigError } from '../errors.js';
import type { AdapterHealth, DeviceEvent } from '../types.js';
import { isRetriable } from './errors.js';
import { LineFramer } from './line-framer.js';
import {
  decodeMessage,
  deviceError,
  encodeRequest,
  isServicePortFrameStart,
  type ServiceMessage,
} from './protocol.js';
import {
  Listeners,
  systemSerialClock,
  type SerialClock,
  type SerialCloseInfo,
  type SerialTransport,
} from './transport.js';

export interface CommandLinkOptions {
  /** The line (injected: a real port, a PTY, a fake). */
  transport: SerialTransport;
  /** How long a command waits for its reply. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** How long opening the port may take. Default 3000 ms. */
  connectTimeoutMs?: number;
  /** Extra attempts for a command whose reply timed out or came back damaged. Default 1. */
  retries?: number;
  /** Longest line accepted. Default 4096 bytes. */
  maxLineLength?: number;
  /** Time, injected. Default: the system clock. */
  clock?: SerialClock;
}

/** Health, with what the line itself did. */
export interface SerialHealth extends AdapterHealth {
  /** Commands sent (retries included). */
  commands: number;
  /** Lines with a wrong checksum (received), and requests the controller saw damaged. */
  checksumErrors: number;
  /** Lines (or parts of lines) that were not frames. */
  garbageLines: number;
  /** Replies that began and never ended. */
  truncatedReplies: number;
  /** Lines too long for the framer. */
  overlongLines: number;
  /** Replies to an earlier command (it had timed out), dropped. */
  staleReplies: number;
  /** Unsolicited `!EVT` lines received. */
  events: number;
  /** Times the line was reopened after it had been open. */
  reconnects: number;
  /** Exceptions thrown by `onEvent` listeners (caught: they are not the line's fault). */
  listenerErrors: number;
}

type Lifecycle = 'idle' | 'open' | 'lost' | 'closed';

interface Pending {
  readonly tag: number;
  readonly verb: string;
  sawGarbage: boolean;
  settle(result: { verb: string; fields: string[] } | AdapterError): void;
}

/**
 * The command channel of a service port: the line's lifecycle (opened on first use, reopened by
 * the next call after a hang-up), one command at a time with its own timeout, replies matched to
 * requests by tag (a late reply to a command that timed out is dropped, never taken for the
 * next one's), damaged lines skipped (the framer resyncs), unsolicited `!EVT` lines delivered at
 * once, and the health counters of all of it.
 */
export class CommandLink {
  readonly #transport: SerialTransport;
  readonly #clock: SerialClock;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #retries: number;
  readonly #framer: LineFramer;
  readonly #events = new Listeners<DeviceEvent>();
  /** Fires on close(): calls in progress reject as cancelled. */
  readonly #closing = new AbortController();
  #state: Lifecycle = 'idle';
  #opening: Promise<void> | null = null;
  #pending: Pending | null = null;
  #busy: Promise<unknown> = Promise.resolve();
  #tag = 0;
  #health: Omit<SerialHealth, 'connected' | 'listenerErrors'> = {
    readsOk: 0,
    readsFailed: 0,
    timeouts: 0,
    commands: 0,
    checksumErrors: 0,
    garbageLines: 0,
    truncatedReplies: 0,
    overlongLines: 0,
    staleReplies: 0,
    events: 0,
    reconnects: 0,
  };

  constructor(options: CommandLinkOptions) {
    this.#transport = options.transport;
    this.#clock = options.clock ?? systemSerialClock;
    this.#timeoutMs = positive(options.commandTimeoutMs ?? 1000, 'commandTimeoutMs');
    this.#connectTimeoutMs = positive(options.connectTimeoutMs ?? 3000, 'connectTimeoutMs');
    this.#retries = options.retries ?? 1;
    if (!Number.isInteger(this.#retries) || this.#retries < 0)
      throw new ConfigError('must be a whole number ≥ 0', 'retries');
    this.#framer = new LineFramer({
      maxLineLength: options.maxLineLength ?? 4096,
      isFrameStart: isServicePortFrameStart,
    });
    this.#transport.onData((chunk) => this.#onData(chunk));
    this.#transport.onClose((info) => this.#onClose(info));
  }

  now(): number {
    return this.#clock.now();
  }

  async connect(signal?: AbortSignal): Promise<void> {
    try {
      const linked = linkSignals(signal, this.#closing.signal);
      await raceAbort(this.#ensureOpen(), linked.signal).finally(linked.release);
    } catch (err) {
      this.#fail(err);
      throw err;
    }
  }

  /**
   * Sends one command and resolves with its `OK` reply's fields. Rejects with an AdapterError:
   * ADAPTER_TIMEOUT, SERIAL_BAD_CHECKSUM / SERIAL_GARBAGE / SERIAL_TRUNCATED (the reply was
   * damaged), SERIAL_DEVICE_ERROR (`ERR`, see SerialDeviceError), ADAPTER_BAD_REPLY,
   * ADAPTER_DISCONNECTED, ADAPTER_CONNECT_FAILED or ADAPTER_CANCELLED. Damaged and missing
   * replies are retried (`retries`).
   */
  request(
    verb: string,
    args: readonly string[] = [],
    signal?: AbortSignal,
  ): Promise<{ verb: string; fields: string[] }> {
    // The caller's signal and the close signal side by side, no combined signal per command
    // (raceSignals): on Node 20 each AbortSignal outlives the young-generation GC.
    const signals = signal ? [signal, this.#closing.signal] : [this.#closing.signal];
    const fired = (): AbortSignal | undefined => signals.find((s) => s.aborted);
    const run = this.#busy.then(async () => {
      for (let attempt = 0; ; attempt++) {
        const f = fired();
        if (f) throw reasonOf(f);
        try {
          const reply = await this.#transact(verb, args, signals);
          this.#health.readsOk++;
          return reply;
        } catch (err) {
          this.#fail(err);
          if (!isRetriable(err) || attempt >= this.#retries || fired()) throw err;
        }
      }
    });
    this.#busy = run.catch(() => undefined);
    return raceSignals(run, ...signals);
  }

  health(): SerialHealth {
    return {
      ...this.#health,
      connected: this.#transport.isOpen,
      listenerErrors: this.#events.errors,
    };
  }

  onEvent(listener: (event: DeviceEvent) => void): () => void {
    return this.#events.add(listener);
  }

  async close(): Promise<void> {
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#closing.abort(new AdapterError('ADAPTER_CANCELLED', 'adapter closed'));
    }
    await this.#transport.close();
  }

  async #ensureOpen(): Promise<void> {
    if (this.#state === 'closed') throw new AdapterError('ADAPTER_CANCELLED', 'adapter is closed');
    if (this.#transport.isOpen) return;
    this.#opening ??= this.#open().finally(() => (this.#opening = null));
    return this.#opening;
  }

  async #open(): Promise<void> {
    const ctl = new AbortController();
    const timer = this.#clock.setTimeout(
      () =>
        ctl.abort(
          new AdapterError(
            'ADAPTER_CONNECT_FAILED',
            `serial port ${this.#transport.description} did not open within ${this.#connectTimeoutMs} ms`,
          ),
        ),
      this.#connectTimeoutMs,
    );
    const linked = linkSignals(ctl.signal, this.#closing.signal);
    try {
      await this.#transport.open(linked.signal);
    } finally {
      this.#clock.clearTimeout(timer);
      linked.release();
    }
    if (this.#state === 'closed') {
      await this.#transport.close();
      throw new AdapterError('ADAPTER_CANCELLED', 'adapter closed while opening');
    }
    this.#framer.reset();
    if (this.#state === 'lost') this.#health.reconnects++;
    this.#state = 'open';
  }

  async #transact(
    verb: string,
    args: readonly string[],
    signals: readonly AbortSignal[],
  ): Promise<{ verb: string; fields: string[] }> {
    await this.#ensureOpen();
    const fired = signals.find((s) => s.aborted);
    if (fired) throw reasonOf(fired);
    this.#tag = (this.#tag % 99_999) + 1;
    const bytes = encodeRequest(verb, args, this.#tag);
    this.#health.commands++;
    return new Promise((resolve, reject) => {
      let done = false;
      const pending: Pending = {
        tag: this.#tag,
        verb,
        sawGarbage: false,
        settle: (result) => {
          if (done) return;
          done = true;
          this.#clock.clearTimeout(timer);
          for (const [s, onAbort] of handlers) s.removeEventListener('abort', onAbort);
          if (this.#pending === pending) this.#pending = null;
          if (result instanceof AdapterError) reject(result);
          else resolve(result);
        },
      };
      const handlers = signals.map((s) => [s, (): void => pending.settle(reasonOf(s))] as const);
      const timer = this.#clock.setTimeout(
        () => pending.settle(this.#timedOut(pending)),
        this.#timeoutMs,
      );
      for (const [s, onAbort] of handlers) s.addEventListener('abort', onAbort, { once: true });
      this.#pending = pending;
      this.#transport
        .write(bytes)
        .catch((err: unknown) =>
          pending.settle(
            err instanceof AdapterError
              ? err
              : new AdapterError(
                  'ADAPTER_DISCONNECTED',
                  `write to ${this.#transport.description} failed`,
                  { cause: err },
                ),
          ),
        );
    });
  }

  /** What a timeout means: a reply cut short, a reply lost in noise, or silence. */
  #timedOut(p: Pending): AdapterError {
    const partial = this.#framer.reset();
    if (partial > 0) {
      this.#health.truncatedReplies++;
      return new AdapterError(
        'SERIAL_TRUNCATED',
        `the reply to ${p.verb} stopped after ${partial} bytes without ending its line within ${this.#timeoutMs} ms`,
      );
    }
    if (p.sawGarbage) {
      return new AdapterError(
        'SERIAL_GARBAGE',
        `only noise came back for ${p.verb} within ${this.#timeoutMs} ms; check the baud rate and the cable`,
      );
    }
    return new AdapterError(
      'ADAPTER_TIMEOUT',
      `no reply to ${p.verb} within ${this.#timeoutMs} ms from ${this.#transport.description}`,
    );
  }

  #onData(chunk: Uint8Array): void {
    for (const ev of this.#framer.push(chunk)) {
      const p = this.#pending;
      if (ev.type === 'error') {
        const code = ev.error.code;
        if (code === 'SERIAL_BAD_CHECKSUM') this.#health.checksumErrors++;
        else if (code === 'SERIAL_LINE_TOO_LONG') this.#health.overlongLines++;
        else this.#health.garbageLines++;
        // A damaged line while we wait is (almost always) our reply: no point waiting on.
        if (p && code !== 'SERIAL_GARBAGE') p.settle(ev.error);
        else if (p) p.sawGarbage = true;
        continue;
      }
      let m: ServiceMessage;
      try {
        m = decodeMessage(ev.payload, () => this.#clock.now());
      } catch (err) {
        this.#health.garbageLines++;
        if (p) p.settle(err as AdapterError);
        continue;
      }
      this.#onMessage(m, p);
    }
  }

  #onMessage(m: ServiceMessage, p: Pending | null): void {
    if (m.kind === 'event') {
      this.#health.events++;
      this.#events.emit(m.event);
      return;
    }
    if (m.kind === 'other-event') return;
    // A tagged reply must carry our tag; an untagged one (ERR CHK: the controller could not
    // trust the tag) is taken as the answer to the command in flight.
    const ours =
      p !== null && (m.tag === undefined ? m.kind === 'err' || m.verb === p.verb : m.tag === p.tag);
    if (!ours || p === null) {
      this.#health.staleReplies++;
      return;
    }
    if (m.kind === 'err') {
      if (m.deviceCode === 'CHK') this.#health.checksumErrors++;
      p.settle(deviceError(p.verb, m));
    } else if (m.verb !== p.verb) {
      p.settle(
        new AdapterError('ADAPTER_BAD_REPLY', `asked ${p.verb}, the controller answered ${m.verb}`),
      );
    } else {
      p.settle({ verb: m.verb, fields: m.fields });
    }
  }

  #onClose(info: SerialCloseInfo): void {
    this.#framer.reset();
    if (info.canceled || this.#state === 'closed') return;
    this.#state = 'lost';
    this.#pending?.settle(
      info.error ??
        new AdapterError(
          'ADAPTER_DISCONNECTED',
          `serial port ${this.#transport.description} hung up`,
        ),
    );
  }

  #fail(err: unknown): void {
    // A failure caused by close() or the caller's abort is a cancellation, not a device fault.
    if ((err instanceof AdapterError && err.canceled) || this.#state === 'closed') return;
    this.#health.readsFailed++;
    const code = err instanceof AdapterError ? err.code : 'ADAPTER_BAD_REPLY';
    if (code === 'ADAPTER_TIMEOUT') this.#health.timeouts++;
    this.#health.lastErrorCode = code;
  }
}

export function positive(v: number, path: string): number {
  if (!Number.isFinite(v) || v <= 0) throw new ConfigError('must be a positive number', path);
  return v;
}
