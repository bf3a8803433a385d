import { AdapterError } from '../errors.js';
import type {
  ActiveErrors,
  AdapterCapabilities,
  DeviceAdapter,
  DeviceEvent,
  DeviceSnapshot,
} from '../types.js';
import {
  CommandLink,
  positive,
  type CommandLinkOptions,
  type SerialHealth,
} from './command-link.js';
import { checkCounterDefs, readCounters, type SerialCounterDef } from './counters.js';
import { NodeSerialTransport, type NodeSerialOptions } from './node-transport.js';
import { keyValues, parseErrors, parseLogChunk, parseLogList } from './protocol.js';

export type { SerialHealth } from './command-link.js';

export interface SerialAdapterOptions extends CommandLinkOptions {
  /**
   * Which counters to report, with units (and scale/offset for the raw integers telemetry
   * carries). Default: every counter the controller reports, as it names them, without a unit.
   */
  counters?: readonly SerialCounterDef[];
  /** Log bytes asked for per LOG request. Default 1536 (a 2 KiB line in base64). */
  logChunkBytes?: number;
  /** Largest log `readLog` returns (it fails with ADAPTER_BAD_REPLY beyond). Default 16 MiB. */
  maxLogBytes?: number;
}

/**
 * A controller's service port as a {@link DeviceAdapter}: counters from `COUNTERS`, codes from
 * `ERRORS`, logs from `LOGS`/`LOG`, and error changes pushed by `!EVT` lines as events between
 * polls. The line itself — lifecycle, one command at a time, timeouts, tags, resync, health — is
 * the {@link CommandLink}.
 */
export class SerialAdapter implements DeviceAdapter {
  readonly kind = 'serial';
  readonly capabilities: AdapterCapabilities;
  readonly #link: CommandLink;
  readonly #counters: readonly SerialCounterDef[] | undefined;
  readonly #chunk: number;
  readonly #maxLog: number;

  constructor(options: SerialAdapterOptions) {
    this.#link = new CommandLink(options);
    this.#counters = options.counters && checkCounterDefs(options.counters);
    this.#chunk = positive(options.logChunkBytes ?? 1536, 'logChunkBytes');
    this.#maxLog = positive(options.maxLogBytes ?? 16 * 2 ** 20, 'maxLogBytes');
    this.capabilities = {
      listLogs: (signal) => this.listLogs(signal),
      readLog: (name, o) => this.readLog(name, o),
    };
  }

  connect(signal?: AbortSignal): Promise<void> {
    return this.#link.connect(signal);
  }

  async readSnapshot(signal?: AbortSignal): Promise<DeviceSnapshot> {
    const counters = await this.request('COUNTERS', [], signal);
    const errors = await this.request('ERRORS', [], signal);
    const read = readCounters(counters.fields, this.#counters);
    const active = parseErrors(errors.fields);
    return { atMs: this.#link.now(), counters: read.counters, missing: read.missing, ...active };
  }

  async readActiveErrors(signal?: AbortSignal): Promise<ActiveErrors> {
    return parseErrors((await this.request('ERRORS', [], signal)).fields);
  }

  /** `PING`: resolves when the controller answered. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.request('PING', [], signal);
  }

  /** `STATUS` as key/value pairs (model, firmware, state, door, ...). */
  async status(signal?: AbortSignal): Promise<Record<string, string>> {
    const { fields } = await this.request('STATUS', [], signal);
    return Object.fromEntries(keyValues('STATUS', fields));
  }

  async listLogs(
    signal?: AbortSignal,
  ): Promise<Array<{ name: string; bytes: number; modifiedMs: number }>> {
    return parseLogList((await this.request('LOGS', [], signal)).fields);
  }

  /**
   * Reads a log file from `offset` to its end in chunks (one LOG command each, so polls can go
   * between them). The end is the file's size as the last reply gives it.
   */
  async readLog(
    name: string,
    options: { offset?: number; signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    let offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new RangeError('offset must be a whole number ≥ 0');
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const reply = await this.request(
        'LOG',
        [name, String(offset), String(this.#chunk)],
        options.signal,
      );
      const chunk = parseLogChunk(reply.fields, name, offset);
      parts.push(chunk.bytes);
      total += chunk.bytes.length;
      offset += chunk.bytes.length;
      if (total > this.#maxLog)
        throw new AdapterError(
          'ADAPTER_BAD_REPLY',
          `log ${name} is larger than maxLogBytes (${this.#maxLog})`,
        );
      if (offset >= chunk.size || chunk.bytes.length === 0) break;
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  /**
   * Sends one command and resolves with its `OK` reply's fields (see {@link CommandLink.request}
   * for the errors). For diagnostics: `request('STATUS')`.
   */
  request(
    verb: string,
    args: readonly string[] = [],
    signal?: AbortSignal,
  ): Promise<{ verb: string; fields: string[] }> {
    return this.#link.request(verb, args, signal);
  }

  health(): SerialHealth {
    return this.#link.health();
  }

  onEvent(listener: (event: DeviceEvent) => void): () => void {
    return this.#link.onEvent(listener);
  }

  close(): Promise<void> {
    return this.#link.close();
  }
}

/** Preset: a controller's service port on a real serial port (through `serialport`). */
export function serialAdapter(
  options: NodeSerialOptions & Omit<SerialAdapterOptions, 'transport'>,
): SerialAdapter {
  const { path, baudRate, dataBits, stopBits, parity, rtscts, flushOnOpen, ...rest } = options;
  return new SerialAdapter({
    ...rest,
    transport: new NodeSerialTransport({
      path,
      baudRate,
      dataBits,
      stopBits,
      parity,
      rtscts,
      flushOnOpen,
    }),
  });
}
