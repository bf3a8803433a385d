/**
 * wire-size: bytes on the wire per telemetry sample, amortised over a batch, against the same
 * sample as JSON. A simulated day of 60 s polls of the XR-200 goes through the real
 * ErrorTracker and TelemetryBatcher exactly as the agent wires them; every body the batcher
 * returns is compressed where it pays (packTelemetryBody), wrapped in a real envelope
 * (encodeFrameWithBody) and counted.
 */
import {
  bodyBudget,
  encodeFrameWithBody,
  MESSAGE_BUDGET_BYTES,
  packTelemetryBody,
  type PackedTelemetry,
} from '../src/codec/index.js';
import { ErrorTracker } from '../src/runtime/error-tracker.js';
import { TelemetryBatcher } from '../src/runtime/telemetry-batcher.js';
import {
  DEVICE_ID,
  catalogue,
  jsonBytes,
  jsonSample,
  simulatePolls,
  type JsonSample,
  type SimulatedPoll,
} from './fixtures.js';
import { mean, median, nowNs, round, table, type Bench } from './lib.js';

const POLL_MS = 60_000;
const POLLS = 1440; // one day at the default management interval
const SEED = 42;
/** Samples per flush; 'full' = never flushed on a schedule, frames go when the budget is full. */
const BATCHES = [1, 15, 60, 'full'] as const;
type BatchSize = (typeof BATCHES)[number];

interface FrameRecord {
  bytes: number;
  bodyBytes: number;
  samples: number;
  /** The end-of-run flush of a 'full' run: a partial batch, not counted. */
  tail: boolean;
}

function runBatches(polls: SimulatedPoll[], size: BatchSize): FrameRecord[] {
  const batcher = new TelemetryBatcher({ maxBodyBytes: bodyBudget(DEVICE_ID) });
  const tracker = new ErrorTracker(catalogue);
  const frames: FrameRecord[] = [];
  let seq = 0;
  let missed = 0;
  const emit = (parts: PackedTelemetry[], atMs: number, tail = false): void => {
    for (const part of parts) {
      const packed = packTelemetryBody(part.body); // as the agent queues it: compressed where it pays
      const frame = encodeFrameWithBody(
        { deviceId: DEVICE_ID, seq: ++seq, sentAtMs: atMs + 15 },
        packed.type,
        packed.body,
      );
      frames.push({
        bytes: frame.length,
        bodyBytes: packed.body.length,
        samples: part.samples,
        tail,
      });
    }
  };
  polls.forEach(({ snapshot, health }, i) => {
    // As the agent: errors first (non-alarm transitions ride with the batch), then the sample.
    const result = tracker.update(snapshot.codes, snapshot.atMs, snapshot.raisesTotal);
    missed += result.missed;
    const h = { ...health, missedErrorRaises: missed };
    for (const t of result.transitions)
      if (!t.info.immediate) emit(batcher.addEvent(t, h), snapshot.atMs);
    emit(batcher.add(snapshot, h), snapshot.atMs);
    if (size !== 'full' && (i + 1) % size === 0) emit(batcher.flush(h), snapshot.atMs);
  });
  const last = polls[polls.length - 1]!;
  emit(batcher.flush({ ...last.health, missedErrorRaises: missed }), last.snapshot.atMs, true);
  return frames;
}

export const wireSizeBench: Bench = {
  name: 'wire-size',
  description: 'bytes per telemetry sample on the wire vs the same sample as JSON',
  async run(log) {
    const t0 = nowNs();
    const polls = await simulatePolls({ seed: SEED, count: POLLS, stepMs: POLL_MS });
    const json: JsonSample[] = polls.map((p) => jsonSample(DEVICE_ID, p.snapshot));
    const jsonPerSample = json.map(jsonBytes);
    const jsonMean = mean(jsonPerSample);
    const activeCodesSeen = [...new Set(polls.flatMap((p) => p.snapshot.codes))];

    const results = BATCHES.map((size) => {
      const all = runBatches(polls, size);
      const counted = all.filter((f) => !f.tail || size !== 'full');
      const samples = counted.reduce((s, f) => s + f.samples, 0);
      const bytes = counted.reduce((s, f) => s + f.bytes, 0);
      const bodyBytes = counted.reduce((s, f) => s + f.bodyBytes, 0);
      // JSON batched the same way: one array per frame, of that frame's samples.
      let cursor = 0;
      let jsonArrayBytes = 0;
      for (const f of all) {
        const chunk = json.slice(cursor, cursor + f.samples);
        cursor += f.samples;
        if (!f.tail || size !== 'full') jsonArrayBytes += jsonBytes(chunk);
      }
      if (cursor !== polls.length) throw new Error(`frames carry ${cursor} of ${polls.length}`);
      const sizes = counted.map((f) => f.bytes);
      const perSample = bytes / samples;
      return {
        batch: String(size),
        frames: counted.length,
        samples,
        samplesPerFrame: {
          min: Math.min(...counted.map((f) => f.samples)),
          median: median(counted.map((f) => f.samples)),
          max: Math.max(...counted.map((f) => f.samples)),
        },
        frameBytes: { min: Math.min(...sizes), median: median(sizes), max: Math.max(...sizes) },
        bytesPerSample: round(perSample, 1),
        bodyBytesPerSample: round(bodyBytes / samples, 1),
        jsonBytesPerSample: round(jsonMean, 1),
        jsonArrayBytesPerSample: round(jsonArrayBytes / samples, 1),
        ratioVsJson: round(perSample / jsonMean, 3),
        ratioVsJsonArray: round(bytes / jsonArrayBytes, 3),
        framesOverBudget: sizes.filter((s) => s > MESSAGE_BUDGET_BYTES).length,
      };
    });

    log(
      table(
        [
          'batch',
          'frames',
          'samples/frame',
          'frame B min/med/max',
          'B/sample',
          'JSON B/sample',
          'ratio',
          'JSON-array B/sample',
          'ratio',
        ],
        results.map((r) => [
          r.batch,
          r.frames,
          r.samplesPerFrame.median,
          `${r.frameBytes.min}/${r.frameBytes.median}/${r.frameBytes.max}`,
          r.bytesPerSample,
          r.jsonBytesPerSample,
          r.ratioVsJson,
          r.jsonArrayBytesPerSample,
          r.ratioVsJsonArray,
        ]),
      ),
    );
    return {
      bench: 'wire-size',
      command: 'npm run bench -- wire-size',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        deviceId: DEVICE_ID,
        registerMap: 'protocols/register-map.json (XR-200, 12 counters)',
        samples: `${POLLS} polls ${POLL_MS / 1000} s apart (one day) of firmware-sim ControllerModel seed ${SEED}, read through the firmware-sim register image by the agent's ModbusAdapter`,
        activeCodesSeen,
        bodyBudgetBytes: bodyBudget(DEVICE_ID),
        messageBudgetBytes: MESSAGE_BUDGET_BYTES,
        batches:
          'N = TelemetryBatcher.flush() after every N polls (as the send schedule would); full = never flushed, frames leave when add() reports the budget full (the final partial batch is not counted)',
        bytesCounted:
          'whole Envelope frame (encodeFrameWithBody: version, device id, seq, sent time, body); WebSocket and TLS framing excluded on both sides',
        json: 'one UTF-8 JSON.stringify of {deviceId, timestamp (ISO-8601), counters: [{name, value, unit}]} per sample, engineering values, no whitespace; JSON-array = the same objects batched as one array per frame',
      },
      results,
    };
  },
};
