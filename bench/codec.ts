/**
 * codec: encode and decode throughput of realistic telemetry and alarm frames with the real
 * codec (packTelemetry + encodeFrameWithBody, decodeFrame), with JSON.stringify/JSON.parse of
 * the same data measured side by side in the same rounds as a reference.
 */
import {
  bodyBudget,
  decodeFrame,
  encodeAlarmBody,
  encodeFrameWithBody,
  packTelemetry,
  proto,
  reader,
} from '../src/codec/index.js';
import { TelemetryBatcher } from '../src/runtime/telemetry-batcher.js';
import {
  DEVICE_ID,
  START_MS,
  catalogue,
  jsonBytes,
  jsonSample,
  simulatePolls,
} from './fixtures.js';
import { median, nowNs, round, runFor, sig, table, type Bench, type Timed } from './lib.js';

const WARMUP_S = 0.5;
const MEASURE_S = 1.5;
const ROUNDS = 3;
const MAX_OPS = 10_000_000;
const BATCHES = [1, 10, 60] as const;
const ALARM_CODE = 1003;

type Op = 'encode' | 'decode' | 'encodeDecode' | 'jsonEncodeDecode';
const OPS: readonly Op[] = ['encode', 'decode', 'encodeDecode', 'jsonEncodeDecode'];

interface Case {
  name: string;
  samples: number;
  /** Frames one encode produces (1 here: every batch is checked to fit one frame). */
  frames: number;
  frameBytes: number;
  jsonBytes: number;
  run: Record<Op, () => number>;
}

const header = { deviceId: DEVICE_ID, seq: 1_234_567, sentAtMs: START_MS + 3_600_000 };

async function buildCases(): Promise<Case[]> {
  const maxBody = bodyBudget(DEVICE_ID);
  const polls = await simulatePolls({ seed: 42, count: 200, stepMs: 60_000 });
  const cases: Case[] = [];
  for (const n of BATCHES) {
    // The batch exactly as the agent builds it: the real batcher, then its body decoded back
    // to the plain properties that packTelemetry is given at flush time.
    const batcher = new TelemetryBatcher({ maxBodyBytes: maxBody });
    const window = polls.slice(100, 100 + n);
    for (const p of window) {
      if (batcher.add(p.snapshot, { ...p.health, missedErrorRaises: 0 }).length > 0)
        throw new Error(`batch of ${n} does not fit one frame`);
    }
    const last = window[window.length - 1]!;
    const parts = batcher.flush({ ...last.health, missedErrorRaises: 0 });
    if (parts.length !== 1) throw new Error(`batch of ${n} packed into ${parts.length} parts`);
    const props = plainBatch(proto.v1.TelemetryBatch.decode(reader(parts[0]!.body)));
    const encode = (): Uint8Array[] =>
      packTelemetry(props, maxBody).map((part) =>
        encodeFrameWithBody(header, 'telemetry', part.body),
      );
    const frames = encode();
    const json = window.map((p) => jsonSample(DEVICE_ID, p.snapshot));
    cases.push(makeCase(`telemetry x${n}`, n, encode, frames, n === 1 ? json[0] : json));
  }
  const info = catalogue.lookup(ALARM_CODE);
  const alarm: proto.v1.Alarm.$Properties = {
    code: info.code,
    state: 1,
    severity: 4,
    subsystem: info.subsystem,
    observedAtMs: START_MS + 3_599_870,
    missedRaises: 0,
    text: info.text,
  };
  const encodeAlarm = (): Uint8Array[] => [
    encodeFrameWithBody(header, 'alarm', encodeAlarmBody(alarm, maxBody)),
  ];
  const alarmJson = {
    deviceId: DEVICE_ID,
    timestamp: new Date(alarm.observedAtMs!).toISOString(),
    code: info.code,
    name: info.name,
    state: 'raised',
    severity: info.severity,
    subsystem: info.subsystem,
    text: info.text,
  };
  cases.push(makeCase(`alarm ${ALARM_CODE}`, 0, encodeAlarm, encodeAlarm(), alarmJson));
  return cases;
}

/** A decoded batch as plain objects, the shape TelemetryBatcher.flush hands packTelemetry. */
function plainBatch(b: proto.v1.TelemetryBatch): proto.v1.TelemetryBatch.$Properties {
  return {
    counters: b.counters.map((c) => ({
      name: c.name ?? '',
      unit: c.unit ?? '',
      scale: c.scale ?? 1,
      offset: c.offset ?? 0,
    })),
    baseTimeMs: b.baseTimeMs,
    samples: b.samples.map((s) => ({
      offsetMs: s.offsetMs ?? 0,
      raw: [...(s.raw ?? [])],
      missing: [...(s.missing ?? [])],
    })),
    events: b.events.map((e) => ({ code: e.code, state: e.state, atMs: e.atMs })),
    health: b.health ? { ...b.health } : null,
  };
}

function makeCase(
  name: string,
  samples: number,
  encode: () => Uint8Array[],
  frames: Uint8Array[],
  json: unknown,
): Case {
  const decodeAll = (list: Uint8Array[]): number => {
    let s = 0;
    for (const f of list) s += decodeFrame(f).seq;
    return s;
  };
  const sum = (list: Uint8Array[]): number => list.reduce((s, f) => s + f.length, 0);
  return {
    name,
    samples,
    frames: frames.length,
    frameBytes: sum(frames),
    jsonBytes: jsonBytes(json),
    run: {
      encode: () => sum(encode()),
      decode: () => decodeAll(frames),
      encodeDecode: () => decodeAll(encode()),
      jsonEncodeDecode: () => {
        const text = JSON.stringify(json);
        return (JSON.parse(text) as unknown) === null ? 0 : text.length;
      },
    },
  };
}

export const codecBench: Bench = {
  name: 'codec',
  description: 'encode/decode throughput of telemetry (1, 10, 60 samples) and alarm frames',
  async run(log) {
    const t0 = nowNs();
    const cases = await buildCases();
    const rounds = new Map<string, Timed[]>();
    const key = (c: Case, op: Op): string => `${c.name}/${op}`;
    for (const c of cases) {
      for (const op of OPS) runFor(c.run[op], { seconds: WARMUP_S, maxOps: MAX_OPS });
    }
    // Rounds interleave every case and operation, so slow phases of a shared machine hit the
    // codec and the JSON reference alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of cases) {
        for (const op of OPS) {
          const t = runFor(c.run[op], { seconds: MEASURE_S, maxOps: MAX_OPS });
          rounds.set(key(c, op), [...(rounds.get(key(c, op)) ?? []), t]);
        }
      }
    }
    const results = cases.map((c) => {
      const stat = (op: Op, bytesPerOp: number, framesPerOp: number) => {
        const perSec = median(rounds.get(key(c, op))!.map((t) => t.opsPerSec));
        return {
          framesPerSec: sig(perSec * framesPerOp),
          MBps: sig((perSec * bytesPerOp) / 1e6),
          usPerOp: sig(1e6 / perSec),
          roundsOpsPerSec: rounds.get(key(c, op))!.map((t) => sig(t.opsPerSec)),
          roundsOps: rounds.get(key(c, op))!.map((t) => t.ops),
        };
      };
      const codecRounds = rounds.get(key(c, 'encodeDecode'))!;
      const jsonRounds = rounds.get(key(c, 'jsonEncodeDecode'))!;
      const roundRatios = codecRounds.map((t, i) => t.opsPerSec / jsonRounds[i]!.opsPerSec);
      const encodeDecode = stat('encodeDecode', c.frameBytes, c.frames);
      const json = stat('jsonEncodeDecode', c.jsonBytes, 1);
      return {
        case: c.name,
        samples: c.samples,
        framesPerEncode: c.frames,
        frameBytes: c.frameBytes,
        jsonBytes: c.jsonBytes,
        encode: stat('encode', c.frameBytes, c.frames),
        decode: stat('decode', c.frameBytes, c.frames),
        encodeDecode,
        jsonEncodeDecode: json,
        /**
         * Codec round trips per JSON round trip of the same data: the ratio of each round (the
         * two were measured back to back), then the median of the rounds.
         */
        speedVsJson: round(median(roundRatios), 2),
        speedVsJsonRounds: roundRatios.map((x) => round(x, 2)),
      };
    });
    log(
      table(
        [
          'case',
          'frame B',
          'encode fr/s',
          'decode fr/s',
          'enc+dec fr/s',
          'enc+dec MB/s',
          'JSON B',
          'JSON enc+dec /s',
          'JSON MB/s',
          'codec/JSON speed',
        ],
        results.map((r) => [
          r.case,
          r.frameBytes,
          r.encode.framesPerSec,
          r.decode.framesPerSec,
          r.encodeDecode.framesPerSec,
          r.encodeDecode.MBps,
          r.jsonBytes,
          r.jsonEncodeDecode.framesPerSec,
          r.jsonEncodeDecode.MBps,
          `${r.speedVsJson}x`,
        ]),
      ),
    );
    return {
      bench: 'codec',
      command: 'npm run bench -- codec',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        deviceId: DEVICE_ID,
        registerMap: 'protocols/register-map.json (XR-200, 12 counters)',
        samples: 'firmware-sim ControllerModel seed 42, 60 s apart, read by ModbusAdapter',
        warmupS: WARMUP_S,
        measureS: MEASURE_S,
        rounds: ROUNDS,
        statistic: 'median of rounds',
        encode: 'packTelemetry(batch, bodyBudget) + encodeFrameWithBody (alarm: encodeAlarmBody)',
        decode: 'decodeFrame (envelope and body, validated)',
        json: 'JSON.stringify + JSON.parse of the same data: telemetry x1 one {deviceId, timestamp, counters:[{name,value,unit}]} object, xN an array of N such objects; alarm {deviceId,timestamp,code,name,state,severity,subsystem,text}',
        MB: '10^6 bytes of encoded frame (or JSON text)',
        speedVsJson:
          'codec encode+decode per s / JSON encode+decode per s of the same data, per round (measured back to back), median of rounds',
      },
      results,
    };
  },
};
