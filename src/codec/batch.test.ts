import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  batchFrameLength,
  decodeFrame,
  encodeAlarmBody,
  encodeBatchFrame,
  encodeFrame,
  encodeFrameWithBody,
  BODY_FIELD,
  proto,
  reader,
  type Body,
} from './index.js';

/** One record frame as the agent sends it alone: a short alarm or a body of raw bytes. */
const recordArb = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  sentAtMs: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  text: fc.string({ maxLength: 3000 }),
  code: fc.integer({ min: 0, max: 65535 }),
});

describe('RecordBatch frames', () => {
  it('carry each record frame byte for byte, in order, and decode to the same frames', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Z0-9-]{1,40}$/),
        fc.array(recordArb, { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (deviceId, records, sentAtMs) => {
          const frames = records.map((r) =>
            encodeFrameWithBody(
              { deviceId, seq: r.seq, sentAtMs: r.sentAtMs },
              'alarm',
              proto.v1.Alarm.encode({ code: r.code, state: 1, text: r.text }).finish(),
            ),
          );
          const batch = encodeBatchFrame({ deviceId, sentAtMs }, frames);
          // What the generic protobuf encoder writes for the same message, byte for byte.
          expect(Buffer.from(batch)).toEqual(
            Buffer.from(
              encodeFrame(
                { deviceId, seq: 0, sentAtMs },
                { type: 'batch', batch: { records: frames } },
              ),
            ),
          );
          const total = frames.reduce((n, f) => n + f.length, 0);
          expect(batchFrameLength(deviceId, frames.length, total)).toBeGreaterThanOrEqual(
            batch.length,
          );
          const outer = decodeFrame(batch);
          expect(outer).toMatchObject({ type: 'batch', seq: 0, deviceId, sentAtMs });
          if (outer.type !== 'batch') throw new Error('not a batch');
          expect(outer.batch.records.map((r) => Buffer.from(r))).toEqual(
            frames.map((f) => Buffer.from(f)),
          );
          outer.batch.records.forEach((r, i) => {
            const inner = decodeFrame(r);
            expect(inner).toMatchObject({ type: 'alarm', seq: records[i]!.seq, deviceId });
            if (inner.type === 'alarm') expect(inner.alarm.text).toBe(records[i]!.text);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sizes a batch of 2 KB alarms within a few bytes of its real length', () => {
    const body = encodeAlarmBody({ code: 1003, state: 1, text: 'x'.repeat(1990) }, 4096);
    const frames = Array.from({ length: 120 }, (_, i) =>
      encodeFrameWithBody({ deviceId: 'XR200-DEMO-0001', seq: i + 1, sentAtMs: 1 }, 'alarm', body),
    );
    const total = frames.reduce((n, f) => n + f.length, 0);
    const real = encodeBatchFrame({ deviceId: 'XR200-DEMO-0001', sentAtMs: 1 }, frames).length;
    const bound = batchFrameLength('XR200-DEMO-0001', frames.length, total);
    expect(bound).toBeGreaterThanOrEqual(real);
    expect(bound - real).toBeLessThan(frames.length + 32);
  });
});

describe('decodeFrame envelope reader', () => {
  const bodyArb = fc.oneof(
    fc
      .record({ code: fc.nat(65535), text: fc.string({ maxLength: 300 }) })
      .map((a): Body => ({ type: 'alarm', alarm: { code: a.code, state: 1, text: a.text } })),
    fc.nat().map((n): Body => ({ type: 'ack', ack: { upTo: n } })),
    fc
      .record({ f: fc.nat(1000), t: fc.nat(1000) })
      .map((g): Body => ({ type: 'gap', gap: { fromSeq: g.f, toSeq: g.f + g.t, records: g.t } })),
    fc.string({ maxLength: 50 }).map((c): Body => ({ type: 'error', error: { code: c } })),
  );

  it('reads what the generated Envelope decoder reads, unknown fields and field order included', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }),
        fc.nat(),
        fc.nat(),
        bodyArb,
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        (deviceId, seq, sentAtMs, body, extra, unknownFirst) => {
          const frame = encodeFrame({ deviceId, seq, sentAtMs }, body);
          // An unknown length-delimited field (number 99) before or after everything else.
          const unknown = new Uint8Array([0x9a, 0x06, extra.length, ...extra]);
          const bytes = unknownFirst
            ? new Uint8Array([...unknown, ...frame])
            : new Uint8Array([...frame, ...unknown]);
          const generated = proto.v1.Envelope.decode(reader(bytes));
          const ours = decodeFrame(bytes);
          expect(ours).toMatchObject({
            deviceId: generated.deviceId,
            sentAtMs,
            seq,
            type: body.type,
          });
          const key = generated.body as keyof typeof ours;
          expect(JSON.stringify(ours[key])).toBe(JSON.stringify(generated[generated.body!]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses what the generated decoder refuses', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let generatedFails = false;
        try {
          proto.v1.Envelope.decode(reader(bytes));
        } catch {
          generatedFails = true;
        }
        if (generatedFails) expect(() => decodeFrame(bytes)).toThrow(CodecError);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the hand-written envelope paths', () => {
  const bodyTypes = [
    'alarm',
    'telemetry',
    'gap',
    'commandResult',
    'telemetryDeflate',
    'hello',
  ] as const;

  it('encodeFrameWithBody writes what the generated Envelope encoder writes, byte for byte', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            // Device ids alternate between a few values, so the cached prefix is both hit and missed.
            deviceId: fc.constantFrom('', 'XR200-0001', 'XR200-0002', 'Gerät-ñ-7', 'x'.repeat(200)),
            protocolVersion: fc.constantFrom(undefined, 0, 1, 2, 300),
            seq: fc.oneof(
              fc.constant(0),
              fc.integer({ min: 1, max: 200 }),
              fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
              fc.constant(-1),
            ),
            sentAtMs: fc.oneof(
              fc.constant(0),
              fc.integer({ min: 0, max: 4_000_000_000_000 }),
              fc.constant(Number.MAX_SAFE_INTEGER),
            ),
            type: fc.constantFrom(...bodyTypes),
            body: fc.uint8Array({ maxLength: 300 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (frames) => {
          for (const f of frames) {
            const ours = encodeFrameWithBody(
              {
                deviceId: f.deviceId,
                seq: f.seq,
                sentAtMs: f.sentAtMs,
                ...(f.protocolVersion === undefined ? {} : { protocolVersion: f.protocolVersion }),
              },
              f.type,
              f.body,
            );
            const w = proto.v1.Envelope.encode({
              protocolVersion: f.protocolVersion ?? 1,
              deviceId: f.deviceId,
              seq: f.seq,
              sentAtMs: f.sentAtMs,
            });
            w.uint32((BODY_FIELD[f.type] << 3) | 2).bytes(f.body);
            expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(w.finish()).toString('hex'));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads each frame its own device id when ids alternate, and refuses a bad id of a cached length', () => {
    const alarm = proto.v1.Alarm.encode({ code: 1003, state: 1, text: 'x' }).finish();
    const ids = ['XR200-0001', 'XR200-0002', 'XR200-0001', 'CT-9', 'XR200-0002'];
    for (const [i, deviceId] of ids.entries()) {
      const f = decodeFrame(
        encodeFrameWithBody({ deviceId, seq: i + 1, sentAtMs: 5 }, 'alarm', alarm),
      );
      expect(f.deviceId).toBe(deviceId);
    }
    // Same length as the cached 'XR200-0002', one byte differs and is not UTF-8.
    const good = encodeFrameWithBody(
      { deviceId: 'XR200-0002', seq: 1, sentAtMs: 5 },
      'alarm',
      alarm,
    );
    const bad = Buffer.from(good);
    const at = bad.indexOf(Buffer.from('XR200-0002'));
    bad[at + 9] = 0xff;
    expect(() => decodeFrame(bad)).toThrow(CodecError);
    expect(decodeFrame(good).deviceId).toBe('XR200-0002');
  });
});
