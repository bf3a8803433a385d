import { outpost } from './gen/outpost.js';
import { CodecError } from './errors.js';
import { envelopeOverhead } from './envelope.js';

const pb = outpost.v1;

/** Every telemetry or alarm frame encodes to at most this many bytes (envelope included). */
export const MESSAGE_BUDGET_BYTES = 3072;
/** Batching aims for at least this many bytes per telemetry frame (fewer round trips). */
export const MESSAGE_TARGET_MIN_BYTES = 512;

/** Bytes left for the body of a frame from this device under a frame budget. */
export function bodyBudget(deviceId: string, frameBudget = MESSAGE_BUDGET_BYTES): number {
  return frameBudget - envelopeOverhead(deviceId, frameBudget);
}

/**
 * Encodes a telemetry batch into one or more bodies, each at most `maxBodyBytes`. Samples
 * keep their order; every part repeats the counter descriptors so it stands alone; error
 * events and adapter health travel with the first part. A single sample that cannot fit on
 * its own is refused with `OUTPOST_SAMPLE_TOO_LARGE` (the register map needs fewer counters
 * per sample).
 */
export interface PackedTelemetry {
  body: Uint8Array;
  /** How many samples this part carries. */
  samples: number;
}

export function packTelemetry(
  batch: outpost.v1.TelemetryBatch.$Properties,
  maxBodyBytes: number,
): PackedTelemetry[] {
  const whole = pb.TelemetryBatch.encode(batch).finish();
  if (whole.length <= maxBodyBytes) return [{ body: whole, samples: batch.samples?.length ?? 0 }];
  const samples = batch.samples ?? [];
  if (samples.length <= 1) {
    throw new CodecError(
      'OUTPOST_SAMPLE_TOO_LARGE',
      `one telemetry sample encodes to ${whole.length} bytes, over the ${maxBodyBytes}-byte budget; reduce the counters per sample`,
    );
  }
  // Fill each part greedily using exact per-sample sizes, then verify by encoding.
  const base = pb.TelemetryBatch.encode({ ...batch, samples: [] }).finish().length;
  const noExtras = pb.TelemetryBatch.encode({
    counters: batch.counters ?? null,
    baseTimeMs: batch.baseTimeMs ?? null,
  }).finish().length;
  const parts: PackedTelemetry[] = [];
  let start = 0;
  let used = base;
  for (let i = 0; i < samples.length; i++) {
    const size = sampleFieldSize(samples[i]!);
    if (i > start && used + size > maxBodyBytes) {
      parts.push(...encodePart(batch, start, i, parts.length === 0, maxBodyBytes));
      start = i;
      used = noExtras;
    }
    used += size;
  }
  parts.push(...encodePart(batch, start, samples.length, parts.length === 0, maxBodyBytes));
  return parts;
}

function encodePart(
  batch: outpost.v1.TelemetryBatch.$Properties,
  from: number,
  to: number,
  first: boolean,
  maxBodyBytes: number,
): PackedTelemetry[] {
  const part: outpost.v1.TelemetryBatch.$Properties = {
    counters: batch.counters ?? null,
    baseTimeMs: batch.baseTimeMs ?? null,
    samples: (batch.samples ?? []).slice(from, to),
    events: first ? (batch.events ?? null) : null,
    health: first ? (batch.health ?? null) : null,
  };
  const bytes = pb.TelemetryBatch.encode(part).finish();
  if (bytes.length <= maxBodyBytes) return [{ body: bytes, samples: to - from }];
  // Sizes are exact, so this only happens when the extras alone crowd the first part.
  return packTelemetry(part, maxBodyBytes);
}

/** Encoded size of one sample as a field of TelemetryBatch (tag + length + message). */
export function sampleFieldSize(sample: outpost.v1.Sample.$Properties): number {
  const len = pb.Sample.encode(sample).len;
  return 1 + varintSize(len) + len;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Encodes an alarm body, checking it against the budget. */
export function encodeAlarmBody(
  alarm: outpost.v1.Alarm.$Properties,
  maxBodyBytes: number,
): Uint8Array {
  const bytes = pb.Alarm.encode(alarm).finish();
  if (bytes.length > maxBodyBytes) {
    throw new CodecError(
      'OUTPOST_FRAME_TOO_LARGE',
      `alarm for code ${alarm.code ?? '?'} encodes to ${bytes.length} bytes, over the ${maxBodyBytes}-byte budget`,
    );
  }
  return bytes;
}
