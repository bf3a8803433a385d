import { raceAbort, raceSignals, reasonOf } from '../abort.js';
import { AdapterError } from '../errors.js';
import type {
  AdapterHealth,
  ActiveErrors,
  CounterReading,
  DeviceAdapter,
  DeviceSnapshot,
} from '../types.js';
import type { ModbusClient } from './client.js';
import { ModbusRtuClient, type ModbusRtuOptions } from './rtu-client.js';
import { ModbusTcpClient, type ModbusTcpOptions } from './tcp-client.js';
import { decodeRaw, engineering, type RegisterImage } from './decode.js';
import { planReads, type ReadRequest } from './plan.js';
import type { ModbusTable, RegisterMap } from './register-map.js';

export interface ModbusAdapterOptions {
  /** The Modbus master (TCP or RTU); injected so tests and OEMs choose the transport. */
  client: ModbusClient;
  registerMap: RegisterMap;
  /**
   * Extra attempts for a read that timed out or came back corrupt (MODBUS_TIMEOUT, MODBUS_CRC,
   * MODBUS_SHORT_REPLY, ADAPTER_BAD_REPLY). Default 1. Exceptions and lost links are not retried.
   */
  retries?: number;
  /** Wall-clock source; default Date.now. */
  now?: () => number;
}

/**
 * Reads a controller through a register map given by configuration alone: counters from
 * holding/input registers and coils/discrete inputs, and the block of active error-code slots. Reads are coalesced
 * (see {@link planReads}); a lost link is reopened on the next call.
 */
export class ModbusAdapter implements DeviceAdapter {
  readonly kind: string;
  readonly #client: ModbusClient;
  readonly #map: RegisterMap;
  readonly #retries: number;
  readonly #now: () => number;
  readonly #allReads: ReadRequest[];
  readonly #errorReads: ReadRequest[];
  /** The counter of error raises (read with the error slots), if the map names one. */
  readonly #raisesDef: RegisterMap['counters'][number] | undefined;
  #health: AdapterHealth = { connected: false, readsOk: 0, readsFailed: 0, timeouts: 0 };
  #closed = false;
  /** Fires on close(): calls in progress reject as cancelled, not as bus failures. */
  readonly #closing = new AbortController();
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: ModbusAdapterOptions) {
    this.#client = options.client;
    this.kind = options.client.kind;
    this.#map = options.registerMap;
    this.#retries = options.retries ?? 1;
    this.#now = options.now ?? Date.now;
    this.#allReads = planReads(this.#map, 'all');
    this.#errorReads = planReads(this.#map, 'errors');
    this.#raisesDef = this.#map.counters.find((c) => c.name === this.#map.raisesCounter);
  }

  /** The reads one snapshot makes (for diagnostics and benchmarks). */
  get plannedReads(): readonly ReadRequest[] {
    return this.#allReads;
  }

  async connect(signal?: AbortSignal): Promise<void> {
    await raceAbort(this.#ensureOpen(), signal);
  }

  readSnapshot(signal?: AbortSignal): Promise<DeviceSnapshot> {
    return this.#exclusive(async () => {
      const image = await this.#readAll(this.#allReads, signal);
      const counters: CounterReading[] = [];
      const missing: string[] = [];
      for (const def of this.#map.counters) {
        const raw = decodeRaw(def, image);
        if (raw === undefined) {
          missing.push(def.name);
          continue;
        }
        counters.push({
          name: def.name,
          raw,
          rawKind: def.type === 'float32' ? 'float32' : 'integer',
          value: engineering(def, raw),
          unit: def.unit,
          scale: def.scale,
          offset: def.offset,
        });
      }
      return { atMs: this.#now(), counters, missing, ...this.#activeErrors(image, counters) };
    }, signal);
  }

  readActiveErrors(signal?: AbortSignal): Promise<ActiveErrors> {
    return this.#exclusive(async () => {
      const image = await this.#readAll(this.#errorReads, signal);
      const raises = this.#raisesDef;
      const counters: CounterReading[] = [];
      if (raises) {
        const raw = decodeRaw(raises, image);
        if (raw !== undefined)
          counters.push({ name: raises.name, raw, value: raw, unit: '', scale: 1, offset: 0 });
      }
      return this.#activeErrors(image, counters);
    }, signal);
  }

  health(): AdapterHealth {
    return { ...this.#health, connected: this.#client.isOpen };
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closing.abort(new AdapterError('ADAPTER_CANCELLED', 'adapter closed'));
    }
    await this.#client.close();
  }

  #activeErrors(image: RegisterImage, counters: CounterReading[]): ActiveErrors {
    const codes: number[] = [];
    const slots = this.#map.errors;
    if (slots) {
      for (let i = 0; i < slots.slots; i++) {
        const code = image.get(slots.table, slots.address + i);
        if (code !== undefined && code !== 0 && !codes.includes(code)) codes.push(code);
      }
    }
    const raises = counters.find((c) => c.name === this.#map.raisesCounter);
    return raises ? { codes, raisesTotal: raises.raw } : { codes };
  }

  /** One bus transaction at a time: Modbus masters are not re-entrant. */
  #exclusive<T>(fn: () => Promise<T>, caller: AbortSignal | undefined): Promise<T> {
    // No combined signal per call (raceSignals): this runs for every error poll.
    const closing = this.#closing.signal;
    const run = this.#busy.then(() => {
      if (caller?.aborted) throw reasonOf(caller);
      if (closing.aborted) throw reasonOf(closing);
      return fn();
    });
    this.#busy = run.catch(() => undefined);
    return raceSignals(run, caller, closing);
  }

  async #ensureOpen(): Promise<void> {
    if (this.#closed) throw new AdapterError('ADAPTER_CANCELLED', 'adapter is closed');
    if (this.#client.isOpen) return;
    try {
      await this.#client.open();
    } catch (err) {
      this.#fail(err);
      throw err;
    }
  }

  async #readAll(
    reads: readonly ReadRequest[],
    signal: AbortSignal | undefined,
  ): Promise<RegisterImage> {
    await this.#ensureOpen();
    const image = new BlockImage();
    for (const r of reads) {
      if (signal?.aborted) throw reasonOf(signal);
      image.add(r, await this.#readWithRetry(r));
    }
    return image;
  }

  async #readWithRetry(r: ReadRequest): Promise<number[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await this.#client.read(r.table, r.address, r.count);
        this.#health.readsOk++;
        return data;
      } catch (err) {
        this.#fail(err);
        const code = err instanceof AdapterError ? err.code : 'ADAPTER_DISCONNECTED';
        // Lost, corrupt or cut-short replies are worth another attempt; an exception is the
        // device's considered answer and a dead link is reopened by the next call instead.
        const retriable =
          code === 'MODBUS_TIMEOUT' ||
          code === 'MODBUS_CRC' ||
          code === 'MODBUS_SHORT_REPLY' ||
          code === 'ADAPTER_BAD_REPLY';
        if (code === 'ADAPTER_DISCONNECTED' || code === 'ADAPTER_NOT_CONNECTED')
          await this.#client.close();
        if (!retriable || attempt >= this.#retries || this.#closed) throw err;
      }
    }
  }

  #fail(err: unknown): void {
    // A failure caused by close() is a cancellation, not a device fault.
    if ((err instanceof AdapterError && err.canceled) || this.#closed) return;
    this.#health.readsFailed++;
    const code = err instanceof AdapterError ? err.code : 'ADAPTER_DISCONNECTED';
    if (code === 'MODBUS_TIMEOUT' || code === 'ADAPTER_TIMEOUT') this.#health.timeouts++;
    this.#health.lastErrorCode = code;
  }
}

/**
 * The words of one snapshot, as the blocks they were read in (a plan has a handful): looked up
 * by scanning them, the later block winning where two overlap. No per-word key or map entry:
 * the error poll builds one of these every second.
 */
class BlockImage implements RegisterImage {
  readonly #reads: ReadRequest[] = [];
  readonly #data: number[][] = [];

  add(read: ReadRequest, data: number[]): void {
    this.#reads.push(read);
    this.#data.push(data);
  }

  get(table: ModbusTable, address: number): number | undefined {
    for (let b = this.#reads.length - 1; b >= 0; b--) {
      const r = this.#reads[b]!;
      const data = this.#data[b]!;
      const i = address - r.address;
      if (r.table === table && i >= 0 && i < data.length) return data[i];
    }
    return undefined;
  }
}

/** Preset: a Modbus TCP controller read through `registerMap`. */
export function modbusTcpAdapter(
  options: Omit<ModbusTcpOptions, 'unitId'> & {
    registerMap: RegisterMap;
    unitId?: number;
    retries?: number;
  },
): ModbusAdapter {
  const { registerMap, retries, ...tcp } = options;
  return new ModbusAdapter({
    client: new ModbusTcpClient({ ...tcp, unitId: options.unitId ?? registerMap.unitId }),
    registerMap,
    retries,
  });
}

/**
 * Preset: a Modbus RTU controller on a serial line (`path`), read through `registerMap`.
 * The unit id defaults to the map's; line settings default to 19200 baud, 8 data bits, even
 * parity, 1 stop bit (the Modbus RTU defaults).
 */
export function modbusRtuAdapter(
  options: Omit<ModbusRtuOptions, 'unitId'> & {
    registerMap: RegisterMap;
    unitId?: number;
    retries?: number;
  },
): ModbusAdapter {
  const { registerMap, retries, ...rtu } = options;
  return new ModbusAdapter({
    client: new ModbusRtuClient({ ...rtu, unitId: options.unitId ?? registerMap.unitId }),
    registerMap,
    retries,
  });
}
