/**
 * An in-process controller made for accounting: every sample carries a unique id (counter
 * `id` = boot × 1e6 + n) among realistic filler counters, and every alarm-class change a
 * unique observedAtMs, so the checker can follow each one from the device to the hub's store.
 * Each offered sample and raised change is journalled (synchronously) before the agent sees it.
 */
import type {
  ActiveErrors,
  AdapterHealth,
  CounterReading,
  DeviceAdapter,
  DeviceEvent,
  DeviceSnapshot,
} from '../../src/index.js';
import { decodeFrame, encodeFrameWithBody, type BodyType } from '../../src/codec/index.js';
import { alarmKey } from './protocol.js';

/** Ids of one boot stay below this; boot numbers stay below 2000 (ids < 2^31). */
export const IDS_PER_BOOT = 1_000_000;
/** observedAtMs of alarms: a fixed epoch plus boot × 1e6 + n (unique, not a wall-clock time). */
export const ALARM_EPOCH_MS = 1_700_000_000_000;

/** Names of the filler counters (a sample of about 24 counters, like a real register map). */
const FILLERS = Array.from({ length: 23 }, (_, i) => `reg_${String(i).padStart(2, '0')}`);

/** The counters of sample number `n` of `boot` (also used to pre-fill a backlog). */
export function sampleCounters(boot: number, n: number): CounterReading[] {
  const id = boot * IDS_PER_BOOT + n;
  const counters: CounterReading[] = [
    { name: 'id', raw: id, value: id, unit: '', scale: 1, offset: 0 },
  ];
  FILLERS.forEach((name, i) => {
    // Values of varied widths, slowly changing, as counters and gauges are.
    const raw = i % 3 === 0 ? (n * (i + 1)) % 65_536 : i % 3 === 1 ? 1000 + i * 37 : n >> (i % 7);
    counters.push({ name, raw, value: raw, unit: '', scale: 1, offset: 0 });
  });
  return counters;
}

/** The id a stored sample's values carry. */
export function sampleId(values: Record<string, number | null>): number | undefined {
  const id = values.id;
  return typeof id === 'number' ? id : undefined;
}

/**
 * The `id` of every sample in a queued telemetry record, whatever its body type (plain or
 * compressed): the record is framed and decoded exactly as the hub decodes it.
 */
export function sampleIdsOfRecord(type: BodyType, body: Uint8Array): number[] {
  const frame = decodeFrame(
    encodeFrameWithBody({ deviceId: 'x', seq: 1, sentAtMs: 0 }, type, body),
  );
  if (frame.type !== 'telemetry') return [];
  const batch = frame.telemetry;
  const col = (batch.counters ?? []).findIndex((c) => c.name === 'id');
  return col < 0 ? [] : (batch.samples ?? []).map((s) => Number(s.raw?.[col] ?? -1));
}

export class SyntheticDevice implements DeviceAdapter {
  readonly kind = 'synthetic';
  #n = 0;
  #alarmN = 0;
  #active = new Set<number>();
  readonly #listeners = new Set<(e: DeviceEvent) => void>();
  #alarmTimer: NodeJS.Timeout | undefined;
  #reads = 0;
  #closed = false;

  constructor(
    readonly o: {
      boot: number;
      alarmCode: number;
      /** Journals a line synchronously. */
      journal: (line: string) => void;
      now: () => number;
    },
  ) {}

  /** Changes the alarm code's state every `everyMs` (0 stops). */
  alarmsEvery(everyMs: number): void {
    if (this.#alarmTimer) clearInterval(this.#alarmTimer);
    this.#alarmTimer = undefined;
    if (everyMs > 0 && !this.#closed)
      this.#alarmTimer = setInterval(() => this.toggleAlarm(), everyMs);
  }

  /** Raises the alarm code if clear, clears it if raised; tells listeners at once. */
  toggleAlarm(): void {
    const code = this.o.alarmCode;
    const state = this.#active.has(code) ? 'cleared' : 'raised';
    const atMs = ALARM_EPOCH_MS + this.o.boot * IDS_PER_BOOT + this.#alarmN++;
    this.o.journal(`r ${alarmKey(code, state, atMs)}`);
    if (state === 'raised') this.#active.add(code);
    else this.#active.delete(code);
    for (const l of this.#listeners) l({ type: 'error', code, state, atMs });
  }

  async connect(): Promise<void> {}

  async readSnapshot(): Promise<DeviceSnapshot> {
    const n = this.#n++;
    if (n >= IDS_PER_BOOT) throw new RangeError('synthetic device: too many samples in one boot');
    this.o.journal(`a ${this.o.boot * IDS_PER_BOOT + n}`);
    this.#reads++;
    return {
      atMs: this.o.now(),
      counters: sampleCounters(this.o.boot, n),
      missing: [],
      codes: [...this.#active],
    };
  }

  async readActiveErrors(): Promise<ActiveErrors> {
    return { codes: [...this.#active] };
  }

  onEvent(listener: (e: DeviceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  health(): AdapterHealth {
    return { connected: true, readsOk: this.#reads, readsFailed: 0, timeouts: 0 };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.alarmsEvery(0);
  }
}
