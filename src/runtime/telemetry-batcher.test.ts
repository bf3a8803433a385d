import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CounterReading, DeviceSnapshot } from '../adapters/types.js';
import { CodecError, proto, reader, type PackedTelemetry } from '../codec/index.js';
import { parseErrorCatalogue } from './catalogue.js';
import type { ErrorTransition } from './error-tracker.js';
import { TelemetryBatcher, type BatchHealth } from './telemetry-batcher.js';

const T0 = 1_763_000_000_000;
const HEALTH: BatchHealth = {
  readsOk: 120,
  readsFailed: 3,
  timeouts: 2,
  lastErrorCode: 'MODBUS_TIMEOUT',
  missedErrorRaises: 1,
  connected: true,
};

function reading(name: string, raw: number, unit = 'count', scale = 1, offset = 0): CounterReading {
  return { name, raw, value: raw * scale + offset, unit, scale, offset };
}

function snap(atMs: number, counters: CounterReading[], missing: string[] = []): DeviceSnapshot {
  return { atMs, counters, missing, codes: [] };
}

/** A snapshot of counters a, b, c with the given raw values. */
function abc(atMs: number, a: number, b: number, c: number): DeviceSnapshot {
  return snap(atMs, [reading('a', a), reading('b', b, 'HU'), reading('c', c, 'degC', 0.1, -40)]);
}

interface DecodedBatch {
  counters: Array<{ name: string; unit: string; scale: number; offset: number; kind: number }>;
  baseTimeMs: number;
  samples: Array<{ offsetMs: number; raw: number[]; missing: number[] }>;
  events: Array<{ code: number; state: number; atMs: number }>;
  health: proto.v1.AdapterHealth.$Properties | null | undefined;
}

/** Decodes a body the way the hub does, into plain data. */
function decode(part: PackedTelemetry): DecodedBatch {
  const b = proto.v1.TelemetryBatch.decode(reader(part.body));
  return {
    counters: b.counters.map((c) => ({
      name: c.name ?? '',
      unit: c.unit ?? '',
      scale: c.scale ?? 0,
      offset: c.offset ?? 0,
      kind: c.kind ?? 0,
    })),
    baseTimeMs: b.baseTimeMs,
    samples: b.samples.map((s) => ({
      offsetMs: s.offsetMs ?? 0,
      raw: [...(s.raw ?? [])],
      missing: [...(s.missing ?? [])],
    })),
    events: b.events.map((e) => ({ code: e.code ?? 0, state: e.state ?? 0, atMs: e.atMs ?? 0 })),
    health: b.health,
  };
}

const catalogue = parseErrorCatalogue({
  codes: [
    { code: 2001, severity: 'warning', immediate: false },
    { code: 3004, severity: 'info', immediate: false },
  ],
});
function transition(code: number, state: 'raised' | 'cleared', atMs: number): ErrorTransition {
  return { info: catalogue.lookup(code), state, atMs, missedRaises: 0 };
}

describe('TelemetryBatcher: batches', () => {
  it('accumulates samples until flushed', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    expect(b.add(abc(T0, 1, 2, 3), HEALTH)).toEqual([]);
    expect(b.add(abc(T0 + 1000, 4, 5, 6), HEALTH)).toEqual([]);
    expect(b.add(abc(T0 + 2500, 7, 8, 9), HEALTH)).toEqual([]);
    expect(b.pendingSamples).toBe(3);

    const parts = b.flush(HEALTH);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.samples).toBe(3);
    const batch = decode(parts[0]!);
    expect(batch.baseTimeMs).toBe(T0);
    expect(batch.samples.map((s) => s.offsetMs)).toEqual([0, 1000, 2500]);
    expect(batch.samples.map((s) => s.raw)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    expect(batch.samples.every((s) => s.missing.length === 0)).toBe(true);
    expect(b.pendingSamples).toBe(0);
  });

  it('describes each counter once per batch, with unit, scale and offset', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters.map((c) => [c.name, c.unit, c.scale, c.offset])).toEqual([
      ['a', 'count', 1, 0],
      ['b', 'HU', 1, 0],
      ['c', 'degC', 0.1, -40],
    ]);
  });

  it('orders columns by counter name whatever the snapshot order', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(snap(T0, [reading('zeta', 26), reading('alpha', 1), reading('mid', 13)]), HEALTH);
    // The same counters in another order belong to the same batch.
    expect(
      b.add(snap(T0 + 1, [reading('mid', 14), reading('zeta', 27), reading('alpha', 2)]), HEALTH),
    ).toEqual([]);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters.map((c) => c.name)).toEqual(['alpha', 'mid', 'zeta']);
    expect(batch.samples.map((s) => s.raw)).toEqual([
      [1, 13, 26],
      [2, 14, 27],
    ]);
  });

  it('a snapshot naming a counter twice is not folded into the current columns', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(snap(T0, [reading('a', 1), reading('b', 2)]), HEALTH);
    // Same count of counters as the batch's columns, but 'a' twice and 'b' absent: a new batch.
    const out = b.add(snap(T0 + 1, [reading('a', 3), reading('a', 4)]), HEALTH);
    expect(out.map((p) => decode(p).samples.map((x) => x.raw))).toEqual([[[1, 2]]]);
    expect(decode(b.flush(HEALTH)[0]!).counters.map((c) => c.name)).toEqual(['a', 'a']);
  });

  it('a batch restarted after a flush keeps its columns and reads missing counters by column', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    b.flush(HEALTH);
    b.add(snap(T0 + 5, [reading('c', 30, 'degC', 0.1, -40)], ['b', 'a']), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.baseTimeMs).toBe(T0 + 5);
    expect(batch.samples).toEqual([{ offsetMs: 0, raw: [0, 0, 30], missing: [0, 1] }]);
  });

  it('carries raw values of every register width losslessly', () => {
    const values = [-(2 ** 31), 2 ** 32 - 1, 0x3fc00000, -1, 0, 32767, -32768];
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(
      snap(
        T0,
        values.map((v, i) => reading(`c${i}`, v)),
      ),
      HEALTH,
    );
    expect(decode(b.flush(HEALTH)[0]!).samples[0]!.raw).toEqual(values);
  });

  it('flush with nothing pending returns nothing', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    expect(b.flush(HEALTH)).toEqual([]);
    b.add(abc(T0, 1, 2, 3), HEALTH);
    expect(b.flush(HEALTH)).toHaveLength(1);
    expect(b.flush(HEALTH)).toEqual([]);
  });

  it('a new batch after a flush starts at its first sample', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    b.flush(HEALTH);
    b.add(abc(T0 + 60_000, 4, 5, 6), HEALTH);
    b.add(abc(T0 + 61_000, 7, 8, 9), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.baseTimeMs).toBe(T0 + 60_000);
    expect(batch.samples.map((s) => s.offsetMs)).toEqual([0, 1000]);
  });

  it('includes the health passed to flush', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), { ...HEALTH, readsOk: 1 });
    const health = decode(b.flush(HEALTH)[0]!).health!;
    expect(health).toMatchObject({
      readsOk: 120,
      readsFailed: 3,
      timeouts: 2,
      lastErrorCode: 'MODBUS_TIMEOUT',
      missedErrorRaises: 1,
      connected: true,
    });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    const noError = { ...HEALTH, lastErrorCode: undefined, connected: false };
    expect(decode(b.flush(noError)[0]!).health).toMatchObject({
      lastErrorCode: '',
      connected: false,
    });
  });
});

describe('TelemetryBatcher: counter set changes', () => {
  it('a new counter flushes the previous batch first', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    b.add(abc(T0 + 1000, 4, 5, 6), HEALTH);
    const out = b.add(
      snap(T0 + 2000, [
        reading('a', 7),
        reading('b', 8, 'HU'),
        reading('c', 9, 'degC', 0.1, -40),
        reading('d', 10),
      ]),
      HEALTH,
    );
    expect(out).toHaveLength(1);
    const previous = decode(out[0]!);
    expect(previous.counters.map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(previous.samples.map((s) => s.raw)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(b.pendingSamples).toBe(1);

    const next = decode(b.flush(HEALTH)[0]!);
    expect(next.counters.map((c) => c.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(next.baseTimeMs).toBe(T0 + 2000);
    expect(next.samples.map((s) => [s.offsetMs, s.raw])).toEqual([[0, [7, 8, 9, 10]]]);
  });

  it('a removed counter or a changed scale, unit or offset also starts a new batch', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    expect(b.add(snap(T0 + 1, [reading('a', 1), reading('b', 2, 'HU')]), HEALTH)).toHaveLength(1);
    expect(b.add(snap(T0 + 2, [reading('a', 1), reading('b', 2, 'kHU')]), HEALTH)).toHaveLength(1);
    expect(b.add(snap(T0 + 3, [reading('a', 1), reading('b', 2, 'kHU', 2)]), HEALTH)).toHaveLength(
      1,
    );
    expect(
      b.add(snap(T0 + 4, [reading('a', 1), reading('b', 2, 'kHU', 2, 5)]), HEALTH),
    ).toHaveLength(1);
    expect(b.add(snap(T0 + 5, [reading('a', 9), reading('b', 9, 'kHU', 2, 5)]), HEALTH)).toEqual(
      [],
    );
    expect(decode(b.flush(HEALTH)[0]!).counters[1]).toMatchObject({
      unit: 'kHU',
      scale: 2,
      offset: 5,
    });
  });
});

describe('TelemetryBatcher: missing counters', () => {
  it('lists counters that could not be read by column index', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(snap(T0, [reading('a', 1), reading('c', 3)], ['b']), HEALTH);
    b.add(snap(T0 + 1, [reading('c', 30), reading('a', 10)], ['b']), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters.map((c) => c.name)).toEqual(['a', 'b', 'c']);
    expect(batch.counters[1]!.unit).toBe('');
    expect(batch.samples.map((s) => [s.raw, s.missing])).toEqual([
      [[1, 0, 3], [1]],
      [[10, 0, 30], [1]],
    ]);
  });

  it('several missing counters', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(snap(T0, [reading('b', 2)], ['c', 'a']), HEALTH);
    const sample = decode(b.flush(HEALTH)[0]!).samples[0]!;
    expect(sample.raw).toEqual([0, 2, 0]);
    expect([...sample.missing].sort()).toEqual([0, 2]);
  });
});

describe('TelemetryBatcher: a counter missing from some snapshots', () => {
  /** a, b and c, with b carrying a non-default unit, scale and offset. */
  const full = (atMs: number, a: number, b: number, c: number): DeviceSnapshot =>
    snap(atMs, [reading('a', a), reading('b', b, 'kHU', 0.5, 3), reading('c', c, 'degC')]);

  it('keeps its last known descriptor, so the batch is not split', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    expect(b.add(full(T0, 1, 2, 3), HEALTH)).toEqual([]);
    expect(
      b.add(snap(T0 + 1000, [reading('c', 6, 'degC'), reading('a', 4)], ['b']), HEALTH),
    ).toEqual([]);
    expect(b.add(full(T0 + 2000, 7, 8, 9), HEALTH)).toEqual([]);
    expect(b.pendingSamples).toBe(3);

    const parts = b.flush(HEALTH);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.samples).toBe(3);
    const batch = decode(parts[0]!);
    expect(batch.counters).toEqual([
      { name: 'a', unit: 'count', scale: 1, offset: 0, kind: 0 },
      { name: 'b', unit: 'kHU', scale: 0.5, offset: 3, kind: 0 },
      { name: 'c', unit: 'degC', scale: 1, offset: 0, kind: 0 },
    ]);
    expect(batch.samples.map((s) => [s.offsetMs, s.raw, s.missing])).toEqual([
      [0, [1, 2, 3], []],
      [1000, [4, 0, 6], [1]],
      [2000, [7, 8, 9], []],
    ]);
  });

  it('keeps the descriptor across a flush and across several missing snapshots', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(full(T0, 1, 2, 3), HEALTH);
    b.flush(HEALTH);
    // The new batch starts with b missing: it is still described from the earlier reading.
    b.add(snap(T0 + 1000, [reading('a', 4), reading('c', 6, 'degC')], ['b']), HEALTH);
    b.add(snap(T0 + 2000, [reading('a', 5), reading('c', 7, 'degC')], ['b']), HEALTH);
    expect(b.add(full(T0 + 3000, 8, 9, 10), HEALTH)).toEqual([]);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters[1]).toEqual({ name: 'b', unit: 'kHU', scale: 0.5, offset: 3, kind: 0 });
    expect(batch.samples.map((s) => s.missing)).toEqual([[1], [1], []]);
  });

  it('a float32 counter that goes missing keeps kind FLOAT32_BITS', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    const dose = (raw: number): CounterReading => ({
      name: 'dose',
      raw,
      rawKind: 'float32',
      value: 0,
      unit: 'mGy',
      scale: 1,
      offset: 0,
    });
    b.add(snap(T0, [dose(0x3fc00000), reading('a', 1)]), HEALTH);
    expect(b.add(snap(T0 + 1, [reading('a', 2)], ['dose']), HEALTH)).toEqual([]);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters.map((c) => [c.name, c.kind])).toEqual([
      ['a', 0],
      ['dose', 1],
    ]);
    expect(batch.samples.map((s) => s.missing)).toEqual([[], [1]]);
  });

  it('a counter never read before is described by its name alone', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(snap(T0, [reading('a', 1, 'HU', 2, 1)], ['fresh']), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters).toEqual([
      { name: 'a', unit: 'HU', scale: 2, offset: 1, kind: 0 },
      { name: 'fresh', unit: '', scale: 0, offset: 0, kind: 0 },
    ]);
  });

  it('once such a counter is read, its full descriptor starts a new batch', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(snap(T0, [reading('a', 1)], ['fresh']), HEALTH);
    const out = b.add(snap(T0 + 1, [reading('a', 2), reading('fresh', 5, 'u', 3)]), HEALTH);
    expect(out).toHaveLength(1);
    expect(decode(out[0]!).counters[1]).toMatchObject({ name: 'fresh', unit: '', scale: 0 });
    // And from then on, missing again keeps the full descriptor.
    expect(b.add(snap(T0 + 2, [reading('a', 3)], ['fresh']), HEALTH)).toEqual([]);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.counters[1]).toMatchObject({ name: 'fresh', unit: 'u', scale: 3 });
    expect(batch.samples.map((s) => s.missing)).toEqual([[], [1]]);
  });
});

describe('TelemetryBatcher: raw kinds', () => {
  it('a float32 counter is described as FLOAT32_BITS and its bits travel unchanged', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    const counters: CounterReading[] = [
      {
        name: 'dose',
        raw: 0x3fc00000,
        rawKind: 'float32',
        value: 1.5,
        unit: 'mGy',
        scale: 1,
        offset: 0,
      },
      {
        name: 'exposures',
        raw: 0x3fc00000,
        rawKind: 'integer',
        value: 0x3fc00000,
        unit: '',
        scale: 1,
        offset: 0,
      },
      {
        name: 'nan',
        raw: 0xffc00001,
        rawKind: 'float32',
        value: Number.NaN,
        unit: '',
        scale: 1,
        offset: 0,
      },
      reading('plain', 7), // no rawKind at all: integer
    ];
    b.add(snap(T0, counters), HEALTH);
    const parts = b.flush(HEALTH);
    const batch = proto.v1.TelemetryBatch.decode(reader(parts[0]!.body));
    expect(batch.counters.map((c) => [c.name, c.kind ?? 0])).toEqual([
      ['dose', proto.v1.RawKind.RAW_KIND_FLOAT32_BITS],
      ['exposures', proto.v1.RawKind.RAW_KIND_INTEGER],
      ['nan', proto.v1.RawKind.RAW_KIND_FLOAT32_BITS],
      ['plain', proto.v1.RawKind.RAW_KIND_INTEGER],
    ]);
    expect(proto.v1.RawKind.RAW_KIND_FLOAT32_BITS).toBe(1);
    expect(batch.counters[0]!.kind).toBe(1);
    expect(decode(parts[0]!).samples[0]!.raw).toEqual([0x3fc00000, 0x3fc00000, 0xffc00001, 7]);
  });

  it('a counter switching between integer and float32 starts a new batch', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    const x = (rawKind: 'integer' | 'float32'): CounterReading => ({
      name: 'x',
      raw: 1,
      rawKind,
      value: 1,
      unit: '',
      scale: 1,
      offset: 0,
    });
    b.add(snap(T0, [x('integer')]), HEALTH);
    expect(b.add(snap(T0 + 1, [x('integer')]), HEALTH)).toEqual([]);
    const out = b.add(snap(T0 + 2, [x('float32')]), HEALTH);
    expect(out).toHaveLength(1);
    expect(decode(out[0]!).counters[0]!.kind).toBe(0);
    expect(decode(b.flush(HEALTH)[0]!).counters[0]!.kind).toBe(1);
  });
});

describe('TelemetryBatcher: error events', () => {
  it('non-alarm events ride with the next flush, and only that one', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    b.addEvent(transition(2001, 'raised', T0 + 10), HEALTH);
    b.addEvent(transition(2001, 'cleared', T0 + 20), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.events.map((e) => [e.code, e.state, e.atMs])).toEqual([
      [2001, 1, T0 + 10],
      [2001, 2, T0 + 20],
    ]);
    b.add(abc(T0 + 30, 1, 2, 3), HEALTH);
    expect(decode(b.flush(HEALTH)[0]!).events).toEqual([]);
  });

  it('events alone are flushed', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.addEvent(transition(3004, 'raised', T0), HEALTH);
    const parts = b.flush(HEALTH);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.samples).toBe(0);
    const batch = decode(parts[0]!);
    expect(batch.samples).toEqual([]);
    expect(batch.events.map((e) => e.code)).toEqual([3004]);
    expect(b.flush(HEALTH)).toEqual([]);
  });

  it('events added before the first sample travel with that batch', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.addEvent(transition(3004, 'raised', T0 - 5), HEALTH);
    b.add(abc(T0, 1, 2, 3), HEALTH);
    const batch = decode(b.flush(HEALTH)[0]!);
    expect(batch.events.map((e) => e.code)).toEqual([3004]);
    expect(batch.samples).toHaveLength(1);
  });

  it('events pending at a counter set change go with the batch that is flushed', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 3000 });
    b.add(abc(T0, 1, 2, 3), HEALTH);
    b.addEvent(transition(2001, 'raised', T0 + 1), HEALTH);
    const out = b.add(snap(T0 + 2, [reading('x', 1)]), HEALTH);
    expect(decode(out[0]!).events.map((e) => e.code)).toEqual([2001]);
    expect(decode(b.flush(HEALTH)[0]!).events).toEqual([]);
  });
});

describe('TelemetryBatcher: events without samples', () => {
  it('a flapping code with no samples coming fills batches within the budget, nothing held beyond one', () => {
    const max = 600;
    const b = new TelemetryBatcher({ maxBodyBytes: max });
    const parts: PackedTelemetry[] = [];
    const n = 2000;
    let emitted = 0;
    for (let i = 0; i < n; i++) {
      const out = b.addEvent(transition(3004, i % 2 ? 'cleared' : 'raised', T0 + i), HEALTH);
      for (const p of out) emitted += decode(p).events.length;
      // Never more events held than one batch can carry (16 bytes each in the budget).
      expect(i + 1 - emitted).toBeLessThanOrEqual(max / 16);
      parts.push(...out);
    }
    expect(parts.length).toBeGreaterThan(n / 60);
    parts.push(...b.flush(HEALTH));
    const events = parts.flatMap((p) => {
      expect(p.body.length).toBeLessThanOrEqual(max);
      return decode(p).events.map((e) => e.atMs);
    });
    expect(events).toEqual(Array.from({ length: n }, (_, i) => T0 + i));
  });
});

describe('TelemetryBatcher: events before the first sample', () => {
  it('events that pile up while full polls fail never wedge the batcher when samples come back', () => {
    const max = 3037; // the budget of a real device id
    const b = new TelemetryBatcher({ maxBodyBytes: max });
    const parts: PackedTelemetry[] = [];
    for (let i = 0; i < 180; i++)
      parts.push(...b.addEvent(transition(3004, i % 2 ? 'cleared' : 'raised', T0 + i), HEALTH));
    const counters = Array.from({ length: 12 }, (_, k) =>
      reading(`a_rather_long_counter_name_${k}`, 1000 + k),
    );
    parts.push(...b.add(snap(T0 + 200, counters), HEALTH));
    parts.push(...b.add(snap(T0 + 260, counters), HEALTH));
    parts.push(...b.flush(HEALTH));
    for (const p of parts) expect(p.body.length).toBeLessThanOrEqual(max);
    const batches = parts.map(decode);
    expect(batches.flatMap((x) => x.events.map((e) => e.atMs))).toEqual(
      Array.from({ length: 180 }, (_, i) => T0 + i),
    );
    expect(batches.flatMap((x) => x.samples)).toHaveLength(2);
    // And it goes on working.
    expect(() => b.add(snap(T0 + 320, counters), HEALTH)).not.toThrow();
    expect(decode(b.flush(HEALTH)[0]!).samples).toHaveLength(1);
  });

  it('a batch the codec refuses is dropped, not kept to be refused at every poll', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 120 });
    const big = Array.from({ length: 40 }, (_, k) => reading(`counter_${k}`, 1_000_000 + k));
    b.add(snap(T0, big), HEALTH);
    expect(() => b.flush(HEALTH)).toThrow(/over the 120-byte budget/);
    expect(b.pendingSamples).toBe(0);
    expect(b.flush(HEALTH)).toEqual([]);
  });
});

describe('TelemetryBatcher: size budget', () => {
  it('returns the full batch when the next sample would not fit, and keeps that sample', () => {
    const max = 600;
    const b = new TelemetryBatcher({ maxBodyBytes: max });
    const counters = (i: number): CounterReading[] =>
      Array.from({ length: 8 }, (_, k) => reading(`counter_${k}`, 1_000_000 * k + i, 'u'));
    let out: PackedTelemetry[] = [];
    let i = 0;
    for (; i < 1000 && out.length === 0; i++) out = b.add(snap(T0 + i * 1000, counters(i)), HEALTH);
    expect(out).toHaveLength(1);
    const full = out[0]!;
    expect(full.body.length).toBeLessThanOrEqual(max);
    // Not flushed early: the batch was at least most of the budget.
    expect(full.body.length).toBeGreaterThan(max / 2);
    const batch = decode(full);
    expect(batch.samples).toHaveLength(i - 1);
    expect(full.samples).toBe(i - 1);
    batch.samples.forEach((s, k) => {
      expect(s.offsetMs).toBe(k * 1000);
      expect(s.raw[3]).toBe(3_000_000 + k);
    });
    // The sample that did not fit starts the next batch.
    expect(b.pendingSamples).toBe(1);
    const next = decode(b.flush(HEALTH)[0]!);
    expect(next.baseTimeMs).toBe(T0 + (i - 1) * 1000);
    expect(next.samples.map((s) => [s.offsetMs, s.raw[0]])).toEqual([[0, i - 1]]);
  });

  it('a single sample that cannot fit at all is refused with OUTPOST_SAMPLE_TOO_LARGE', () => {
    const b = new TelemetryBatcher({ maxBodyBytes: 100 });
    b.add(
      snap(
        T0,
        Array.from({ length: 40 }, (_, k) => reading(`counter_${k}`, k)),
      ),
      HEALTH,
    );
    let caught: unknown;
    try {
      b.flush(HEALTH);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CodecError);
    expect((caught as CodecError).code).toBe('OUTPOST_SAMPLE_TOO_LARGE');
  });

  it('property: every body fits, and all samples and events come out once, in order', () => {
    const pool = ['a', 'b', 'c', 'door', 'exposures', 'heat', 'kv', 'ma', 'temp', 'uptime'];
    const raw = fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 });
    const segment = fc.record({
      names: fc.subarray(pool, { minLength: 1 }),
      missingMask: fc.nat({ max: 1023 }),
      unit: fc.constantFrom('', 'u', 'degC'),
      samples: fc.array(
        fc.record({
          step: fc.integer({ min: 0, max: 60_000 }),
          values: fc.array(raw, { minLength: pool.length, maxLength: pool.length }),
          events: fc.array(fc.record({ code: fc.constantFrom(2001, 3004), raised: fc.boolean() }), {
            maxLength: 2,
          }),
        }),
        { minLength: 1, maxLength: 40 },
      ),
    });
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), (segments) => {
        const max = 600;
        const b = new TelemetryBatcher({ maxBodyBytes: max });
        const parts: PackedTelemetry[] = [];
        const expectedSamples: Array<{
          atMs: number;
          values: Map<string, number>;
          missing: string[];
        }> = [];
        const expectedEvents: Array<[number, number, number]> = [];
        let t = T0;
        for (const seg of segments) {
          const missing = seg.names.filter((_, k) => seg.missingMask & (1 << k) && k > 0);
          const present = seg.names.filter((n) => !missing.includes(n));
          for (const s of seg.samples) {
            t += s.step;
            for (const e of s.events) {
              parts.push(
                ...b.addEvent(transition(e.code, e.raised ? 'raised' : 'cleared', t), HEALTH),
              );
              expectedEvents.push([e.code, e.raised ? 1 : 2, t]);
            }
            const counters = present.map((n) => reading(n, s.values[pool.indexOf(n)]!, seg.unit));
            const out = b.add(snap(t, counters, missing), HEALTH);
            // The batcher's running size is accurate: a full batch never needs splitting.
            expect(out.length).toBeLessThanOrEqual(1);
            parts.push(...out);
            expectedSamples.push({
              atMs: t,
              values: new Map(counters.map((c) => [c.name, c.raw])),
              missing: [...missing].sort(),
            });
          }
        }
        parts.push(...b.flush(HEALTH));

        const gotSamples: typeof expectedSamples = [];
        const gotEvents: Array<[number, number, number]> = [];
        for (const part of parts) {
          expect(part.body.length).toBeLessThanOrEqual(max);
          const batch = decode(part);
          expect(batch.samples).toHaveLength(part.samples);
          expect(batch.health).toMatchObject({ readsOk: 120, lastErrorCode: 'MODBUS_TIMEOUT' });
          const names = batch.counters.map((c) => c.name);
          expect([...names].sort()).toEqual(names);
          for (const s of batch.samples) {
            const values = new Map<string, number>();
            s.raw.forEach((v, k) => {
              if (!s.missing.includes(k)) values.set(names[k]!, v);
            });
            gotSamples.push({
              atMs: batch.baseTimeMs + s.offsetMs,
              values,
              missing: s.missing.map((k) => names[k]!).sort(),
            });
          }
          for (const e of batch.events) gotEvents.push([e.code, e.state, e.atMs]);
        }
        expect(gotSamples).toEqual(expectedSamples);
        expect(gotEvents).toEqual(expectedEvents);
      }),
      { numRuns: 150 },
    );
  });
});
