import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  MESSAGE_BUDGET_BYTES,
  bodyBudget,
  decodeFrame,
  encodeAlarmBody,
  encodeFrame,
  encodeFrameWithBody,
  packTelemetry,
  packTelemetryBody,
  proto,
  reader,
} from './index.js';

const pb = proto.v1;

const descriptorArb = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9_]{0,30}$/),
  unit: fc.constantFrom('count', 'HU', 'degC', 'kV', 'mA', '%', 's'),
  scale: fc.constantFrom(1, 0.1, 0.01, 10),
  offset: fc.constantFrom(0, -40, 273.15),
});

const batchArb = fc.integer({ min: 1, max: 40 }).chain((columns) =>
  fc.record({
    counters: fc.array(descriptorArb, { minLength: columns, maxLength: columns }),
    baseTimeMs: fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
    samples: fc.array(
      fc.record({
        offsetMs: fc.integer({ min: 0, max: 86_400_000 }),
        raw: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), {
          minLength: columns,
          maxLength: columns,
        }),
        missing: fc.uniqueArray(fc.integer({ min: 0, max: columns - 1 }), { maxLength: 3 }),
      }),
      { minLength: 1, maxLength: 200 },
    ),
    events: fc.array(
      fc.record({
        code: fc.integer({ min: 1, max: 65535 }),
        state: fc.constantFrom(1, 2),
        atMs: fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
      }),
      { maxLength: 5 },
    ),
  }),
);

/** Normalises a decoded message to plain data for comparison. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('frames', () => {
  it('round-trips every body type with its header', () => {
    const header = { deviceId: 'XR200-0001', seq: 42, sentAtMs: 1_763_000_000_123 };
    const frame = decodeFrame(
      encodeFrame(header, {
        type: 'alarm',
        alarm: {
          code: 2002,
          state: 1,
          severity: 4,
          subsystem: 'tube',
          observedAtMs: 5,
          text: 'hot',
        },
      }),
    );
    expect(frame).toMatchObject({ ...header, protocolVersion: 1, type: 'alarm' });
    expect(frame.type === 'alarm' && frame.alarm.code).toBe(2002);
    const ack = decodeFrame(
      encodeFrame({ ...header, seq: 0 }, { type: 'ack', ack: { upTo: 9_007_199_254_740_991 } }),
    );
    expect(ack.type === 'ack' && ack.ack.upTo).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('a pre-encoded body in a frame decodes the same as a directly encoded frame', () => {
    fc.assert(
      fc.property(batchArb, fc.integer({ min: 1, max: 2 ** 40 }), (batch, seq) => {
        const header = { deviceId: 'dev-1', seq, sentAtMs: 1_763_000_000_000 };
        const body = pb.TelemetryBatch.encode(batch).finish();
        const a = decodeFrame(encodeFrameWithBody(header, 'telemetry', body));
        const b = decodeFrame(encodeFrame(header, { type: 'telemetry', telemetry: batch }));
        expect(plain(a)).toEqual(plain(b));
      }),
      { numRuns: 100 },
    );
  });

  it('telemetry survives a round trip (property)', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const frame = decodeFrame(
          encodeFrame(
            { deviceId: 'd', seq: 1, sentAtMs: 1 },
            { type: 'telemetry', telemetry: batch },
          ),
        );
        expect(frame.type).toBe('telemetry');
        if (frame.type !== 'telemetry') return;
        const got = frame.telemetry;
        expect(got.samples?.map((s) => s.raw)).toEqual(batch.samples.map((s) => s.raw));
        expect(got.samples?.map((s) => s.offsetMs)).toEqual(batch.samples.map((s) => s.offsetMs));
        expect(got.counters?.map((c) => c.name)).toEqual(batch.counters.map((c) => c.name));
        expect(got.counters?.map((c) => c.scale)).toEqual(batch.counters.map((c) => c.scale));
        expect(got.events?.map((e) => e.code)).toEqual(batch.events.map((e) => e.code));
      }),
      { numRuns: 200 },
    );
  });
});

describe('bad input', () => {
  it('refuses garbage with OUTPOST_MALFORMED_FRAME or OUTPOST_MISSING_BODY, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError);
          expect([
            'OUTPOST_MALFORMED_FRAME',
            'OUTPOST_MISSING_BODY',
            'OUTPOST_UNSUPPORTED_VERSION',
          ]).toContain((err as CodecError).code);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a truncated frame as malformed', () => {
    const bytes = encodeFrame(
      { deviceId: 'dev-1', seq: 7, sentAtMs: 1 },
      { type: 'alarm', alarm: { code: 1003, text: 'arc' } },
    );
    const err = catchErr(() => decodeFrame(bytes.subarray(0, bytes.length - 3)));
    expect(err.code).toBe('OUTPOST_MALFORMED_FRAME');
  });

  it('refuses an envelope without a body', () => {
    const bytes = pb.Envelope.encode({ protocolVersion: 1, deviceId: 'd', seq: 1 }).finish();
    expect(catchErr(() => decodeFrame(bytes)).code).toBe('OUTPOST_MISSING_BODY');
  });

  it('refuses an unsupported protocol version', () => {
    const bytes = encodeFrame(
      { deviceId: 'd', seq: 1, sentAtMs: 1, protocolVersion: 9 },
      { type: 'ack', ack: { upTo: 1 } },
    );
    expect(catchErr(() => decodeFrame(bytes)).code).toBe('OUTPOST_UNSUPPORTED_VERSION');
  });

  it('refuses an oversized frame before parsing it', () => {
    expect(catchErr(() => decodeFrame(new Uint8Array(5000), { maxBytes: 4096 })).code).toBe(
      'OUTPOST_FRAME_TOO_LARGE',
    );
  });
});

describe('size budget', () => {
  const deviceId = 'XR200-0001';
  const budget = bodyBudget(deviceId);

  it('leaves room for the worst-case envelope header', () => {
    const frame = encodeFrameWithBody(
      { deviceId, seq: Number.MAX_SAFE_INTEGER, sentAtMs: Number.MAX_SAFE_INTEGER },
      'telemetry',
      new Uint8Array(budget),
    );
    expect(frame.length).toBeLessThanOrEqual(MESSAGE_BUDGET_BYTES);
    expect(frame.length).toBeGreaterThan(MESSAGE_BUDGET_BYTES - 8);
  });

  it('splits a batch over the budget into parts that each fit and together keep every sample in order', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const parts = packTelemetry(batch, budget);
        const decoded = parts.map((p) => pb.TelemetryBatch.decode(reader(p.body)));
        for (const [i, p] of parts.entries()) {
          expect(p.body.length).toBeLessThanOrEqual(budget);
          expect(p.samples).toBe(decoded[i]!.samples.length);
        }
        expect(decoded.flatMap((d) => d.samples.map((s) => s.raw))).toEqual(
          batch.samples.map((s) => s.raw),
        );
        expect(decoded.flatMap((d) => d.events.map((e) => e.code))).toEqual(
          batch.events.map((e) => e.code),
        );
        for (const d of decoded) expect(d.counters.length).toBe(batch.counters.length);
        if (parts.length > 1) {
          // Greedy packing: every part but the last is more than half full.
          for (const p of parts.slice(0, -1)) expect(p.body.length).toBeGreaterThan(budget / 2);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('splits a realistic 10-minute backlog of 12 counters into more than one frame', () => {
    const counters = Array.from({ length: 12 }, (_, i) => ({
      name: `counter_${i}`,
      unit: 'count',
      scale: 1,
    }));
    const samples = Array.from({ length: 600 }, (_, i) => ({
      offsetMs: i * 1000,
      raw: counters.map((_, c) => 4_000_000_000 - i * c),
    }));
    const parts = packTelemetry({ counters, baseTimeMs: 1, samples }, budget);
    expect(parts.length).toBeGreaterThan(1);
    const total = parts
      .map((p) => pb.TelemetryBatch.decode(reader(p.body)).samples.length)
      .reduce((a, b) => a + b, 0);
    expect(total).toBe(600);
  });

  it('refuses a single sample that cannot fit with OUTPOST_SAMPLE_TOO_LARGE', () => {
    const counters = Array.from({ length: 400 }, (_, i) => ({
      name: `a_rather_long_counter_name_${i}`,
    }));
    const err = catchErr(() =>
      packTelemetry(
        { counters, baseTimeMs: 1, samples: [{ offsetMs: 0, raw: counters.map(() => 1) }] },
        budget,
      ),
    );
    expect(err.code).toBe('OUTPOST_SAMPLE_TOO_LARGE');
  });

  it('refuses an alarm over the budget', () => {
    expect(catchErr(() => encodeAlarmBody({ code: 1, text: 'x'.repeat(4000) }, budget)).code).toBe(
      'OUTPOST_FRAME_TOO_LARGE',
    );
  });
});

function catchErr(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError);
    return err as CodecError;
  }
  throw new Error('expected a CodecError');
}

describe('compressed telemetry', () => {
  it('decodes to the same TelemetryBatch whether or not it was compressed', () => {
    fc.assert(
      fc.property(batchArb, fc.nat(1000), (batch, seq) => {
        const raw = pb.TelemetryBatch.encode(batch).finish();
        const packed = packTelemetryBody(raw);
        if (packed.type === 'telemetryDeflate') {
          expect(packed.body.length).toBeLessThanOrEqual(raw.length * 0.9);
        } else {
          expect(packed.body).toBe(raw);
        }
        const frame = decodeFrame(
          encodeFrameWithBody({ deviceId: 'XR200-1', seq, sentAtMs: 1 }, packed.type, packed.body),
        );
        expect(frame.type).toBe('telemetry');
        if (frame.type !== 'telemetry') return;
        expect(plain(frame.telemetry)).toEqual(plain(pb.TelemetryBatch.decode(reader(raw))));
      }),
      { numRuns: 200 },
    );
  });

  it('compresses a typical batch (repeated counter names) and leaves a tiny one alone', () => {
    const counters = Array.from({ length: 20 }, (_, i) => ({
      name: `counter_${i}`,
      unit: 'count',
      scale: 1,
    }));
    const samples = Array.from({ length: 15 }, (_, k) => ({
      offsetMs: k * 60_000,
      raw: counters.map((_, i) => 1000 * i + k),
    }));
    const big = pb.TelemetryBatch.encode({ counters, baseTimeMs: 1, samples }).finish();
    expect(packTelemetryBody(big).type).toBe('telemetryDeflate');
    const small = pb.TelemetryBatch.encode({ baseTimeMs: 1, samples: [{ raw: [1] }] }).finish();
    expect(packTelemetryBody(small)).toEqual({ type: 'telemetry', body: small });
  });

  it('refuses a decompression bomb and data that is not DEFLATE, with typed errors', () => {
    const bomb = deflateRawSync(new Uint8Array(300 * 1024)); // a few hundred bytes, 300 KiB inflated
    const bombFrame = encodeFrameWithBody(
      { deviceId: 'XR200-1', seq: 1, sentAtMs: 1 },
      'telemetryDeflate',
      bomb,
    );
    expect(bombFrame.length).toBeLessThan(2048);
    expect(() => decodeFrame(bombFrame)).toThrow(
      expect.objectContaining({ code: 'OUTPOST_FRAME_TOO_LARGE' }),
    );
    const junk = encodeFrameWithBody(
      { deviceId: 'XR200-1', seq: 1, sentAtMs: 1 },
      'telemetryDeflate',
      new Uint8Array([0xff, 0xff, 0xff, 0x00, 0x13]),
    );
    expect(() => decodeFrame(junk)).toThrow(CodecError);
    expect(() => decodeFrame(junk)).toThrow(
      expect.objectContaining({ code: 'OUTPOST_MALFORMED_FRAME' }),
    );
  });
});
