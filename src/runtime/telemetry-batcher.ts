import type { CounterReading, DeviceSnapshot } from '../adapters/types.js';
import { packTelemetry, proto, sampleFieldSize, type PackedTelemetry } from '../codec/index.js';
import type { ErrorTransition } from './error-tracker.js';

type Descriptor = proto.v1.CounterDescriptor.$Properties;
type SampleProps = proto.v1.Sample.$Properties;

export interface BatchHealth {
  readsOk: number;
  readsFailed: number;
  timeouts: number;
  lastErrorCode?: string;
  missedErrorRaises: number;
  connected: boolean;
}

/** Budget bytes for the adapter's health record in every batch (about 30 encoded). */
const HEALTH_ALLOWANCE = 64;
/** Budget bytes per error event (code, state, a ms timestamp: at most 14 encoded). */
const EVENT_BYTES = 16;

/**
 * Collects samples into telemetry batches that fit the message budget. `add` returns the
 * bodies of a batch that became full; `flush` (called on the transmit schedule) returns what
 * is pending. Counter names, units and scales travel once per batch; each sample carries only
 * raw integers (zig-zag varints), so a sample of a dozen counters costs a few dozen bytes.
 */
export class TelemetryBatcher {
  readonly #maxBodyBytes: number;
  #descriptors: Descriptor[] = [];
  #signature = '';
  #baseTimeMs = 0;
  #samples: SampleProps[] = [];
  #events: proto.v1.ErrorEvent.$Properties[] = [];
  #size = HEALTH_ALLOWANCE;
  #headerSize = HEALTH_ALLOWANCE;
  readonly #known = new Map<string, Descriptor>();
  /** Column of each counter of the current batch (by name). */
  #index = new Map<string, number>();
  /** Per-column stamp of the last `add` that filled it (the fast path's duplicate check). */
  #stamps = new Uint32Array(0);
  #stamp = 0;

  constructor(options: { maxBodyBytes: number }) {
    this.#maxBodyBytes = options.maxBodyBytes;
  }

  get pendingSamples(): number {
    return this.#samples.length;
  }

  /** Adds one snapshot. Returns the bodies of the previous batch if this one had to start anew. */
  add(snapshot: DeviceSnapshot, health: BatchHealth): PackedTelemetry[] {
    // Usually a snapshot has exactly the current batch's counters and descriptions: fill a row
    // without sorting, describing or building a signature (garbage on every poll otherwise).
    const row = this.#sameColumns(snapshot);
    if (row !== undefined) return this.#push(row.raw, row.missing, snapshot.atMs, health, null);
    const all: Array<CounterReading | { name: string; missing: true }> = [
      ...snapshot.counters,
      ...snapshot.missing.map((name) => ({ name, missing: true as const })),
    ];
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of all) if (!('missing' in c)) this.#known.set(c.name, describe(c));
    // A counter missing from one read keeps its last known description, so an intermittent
    // read failure does not split the batch.
    const descriptors = all.map((c) => this.#known.get(c.name) ?? { name: c.name });
    const signature = JSON.stringify(descriptors);
    const out: PackedTelemetry[] = [];
    if (this.#samples.length > 0 && signature !== this.#signature) out.push(...this.flush(health));
    if (this.#samples.length === 0) this.#start(descriptors, signature, snapshot.atMs);
    const index = this.#index;
    const raw = new Array<number>(this.#descriptors.length).fill(0);
    const missing: number[] = [];
    for (const c of all) {
      const i = index.get(c.name)!;
      if ('missing' in c) missing.push(i);
      else raw[i] = c.raw;
    }
    out.push(...this.#push(raw, missing, snapshot.atMs, health, { descriptors, signature }));
    return out;
  }

  /**
   * The row of `snapshot` when it has exactly the current batch's columns, each read counter
   * described as its column is (so the slow path would find the same signature); otherwise
   * undefined. Missing counters keep their column, as in the slow path.
   */
  #sameColumns(snapshot: DeviceSnapshot): { raw: number[]; missing: number[] } | undefined {
    const n = this.#descriptors.length;
    if (n === 0 || snapshot.counters.length + snapshot.missing.length !== n) return undefined;
    if (++this.#stamp === 0xffffffff) {
      this.#stamps.fill(0);
      this.#stamp = 1;
    }
    const stamp = this.#stamp;
    const raw = new Array<number>(n).fill(0);
    for (const c of snapshot.counters) {
      const i = this.#index.get(c.name);
      if (i === undefined || this.#stamps[i] === stamp) return undefined;
      const d = this.#descriptors[i]!;
      if (
        d.unit !== c.unit ||
        d.scale !== c.scale ||
        d.offset !== c.offset ||
        d.kind !== (c.rawKind === 'float32' ? 1 : 0)
      )
        return undefined;
      this.#stamps[i] = stamp;
      raw[i] = c.raw;
    }
    const missing: number[] = [];
    for (const name of snapshot.missing) {
      const i = this.#index.get(name);
      if (i === undefined || this.#stamps[i] === stamp) return undefined;
      this.#stamps[i] = stamp;
      missing.push(i);
    }
    missing.sort((a, b) => a - b);
    return { raw, missing };
  }

  /**
   * Appends one row. `fresh` (slow path) holds the descriptors and signature to start a batch
   * with; `null` means the current batch's. Returns the bodies of a batch that became full.
   */
  #push(
    raw: number[],
    missing: number[],
    atMs: number,
    health: BatchHealth,
    fresh: { descriptors: Descriptor[]; signature: string } | null,
  ): PackedTelemetry[] {
    const descriptors = fresh?.descriptors ?? this.#descriptors;
    const signature = fresh?.signature ?? this.#signature;
    if (fresh === null && this.#samples.length === 0) this.#start(descriptors, signature, atMs);
    const out: PackedTelemetry[] = [];
    const sample: SampleProps = { offsetMs: Math.max(0, atMs - this.#baseTimeMs), raw, missing };
    const size = sampleFieldSize(sample);
    // Full: the samples so far, or (before the first sample) the events alone, go out first.
    const pending = this.#samples.length > 0 || this.#events.length > 0;
    if (pending && this.#size + size > this.#maxBodyBytes) {
      out.push(...this.flush(health));
      this.#start(descriptors, signature, atMs);
      sample.offsetMs = 0;
    }
    this.#samples.push(sample);
    this.#size += size;
    return out;
  }

  /**
   * Adds a non-alarm error transition; it rides with the next batch. Returns that batch's
   * bodies if the event filled it (a code flapping while no samples come): events never pile
   * up in memory beyond one batch.
   */
  addEvent(t: ErrorTransition, health: BatchHealth): PackedTelemetry[] {
    const out = this.#size + EVENT_BYTES > this.#maxBodyBytes ? this.flush(health) : [];
    this.#events.push({ code: t.info.code, state: t.state === 'raised' ? 1 : 2, atMs: t.atMs });
    this.#size += EVENT_BYTES;
    return out;
  }

  /** Returns the pending batch as bodies within the budget, and starts afresh. */
  flush(health: BatchHealth): PackedTelemetry[] {
    if (this.#samples.length === 0 && this.#events.length === 0) return [];
    try {
      return packTelemetry(
        {
          // Events alone (full polls failing) need no counter descriptions.
          counters: this.#samples.length > 0 ? this.#descriptors : [],
          baseTimeMs: this.#baseTimeMs,
          samples: this.#samples,
          events: this.#events,
          health: {
            readsOk: health.readsOk,
            readsFailed: health.readsFailed,
            timeouts: health.timeouts,
            lastErrorCode: health.lastErrorCode ?? '',
            missedErrorRaises: health.missedErrorRaises,
            connected: health.connected,
          },
        },
        this.#maxBodyBytes,
      );
    } finally {
      // Even when packing refuses (a single sample over the budget: a register map with too
      // many counters), the batch is gone: a batcher that kept it would refuse every poll after.
      this.#samples = [];
      this.#events = [];
      this.#size = this.#headerSize;
    }
  }

  #start(descriptors: Descriptor[], signature: string, atMs: number): void {
    if (descriptors !== this.#descriptors) {
      this.#index = new Map(descriptors.map((d, i) => [d.name ?? '', i]));
      this.#stamps = new Uint32Array(descriptors.length);
    }
    this.#signature = signature;
    this.#descriptors = descriptors;
    this.#baseTimeMs = atMs;
    // Descriptors, base time and a generous allowance for health.
    this.#headerSize =
      proto.v1.TelemetryBatch.encode({ counters: this.#descriptors, baseTimeMs: atMs }).len +
      HEALTH_ALLOWANCE;
    this.#size = this.#headerSize + this.#events.length * EVENT_BYTES;
  }
}

function describe(c: CounterReading): Descriptor {
  return {
    name: c.name,
    unit: c.unit,
    scale: c.scale,
    offset: c.offset,
    kind: c.rawKind === 'float32' ? 1 : 0,
  };
}
