/**
 * The XR-200's rotating log files, kept in memory: `xr200-0001.log`, `xr200-0002.log`, ... each
 * at most `fileBytes` (64 KiB) long, the newest `keep` (5) of them kept. A file never changes
 * name and is only ever appended to (then left alone once the next one starts), so a name and
 * an offset always mean the same bytes: an interrupted upload resumes safely.
 *
 * The controller writes what it sees happen in its model: exposures with their technique,
 * worklist studies (with made-up patient identifiers, see logs-lines.ts), image transfers,
 * interlock changes, error raises and clears, a health line every 10 minutes of model time.
 * At construction it also writes a stretch of past activity (`historyBytes`) so that rotated
 * files exist from the start.
 *
 * Deterministic: the text depends only on the seed and on what the model did. Timestamps are
 * `epochMs + model time` (a fixed default epoch), never the wall clock, so the same seed and the
 * same model steps give the same bytes.
 */
import { catalogue } from './catalogue.js';
import type { ControllerErrorEvent, ControllerModel } from './model.js';
import { Prng } from './prng.js';
import { SimBadArgumentError } from './errors.js';
import { pastActivity } from './logs-history.js';
import {
  BOOT_LINE,
  exposure,
  fakePatient,
  formatLine,
  imageStored,
  levelOf,
  operatorNote,
  studyClosed,
  studyOpened,
  type FakePatient,
  type LogLevel,
} from './logs-lines.js';
import { checkNumber } from './validate.js';
import { EXAM_TECHNIQUES, type Technique } from './workload.js';

export interface ControllerLogsOptions {
  /** Seed of the log's own PRNG (patients, accession numbers); the model's is untouched. Default 1. */
  seed: number;
  /** Wall-clock time stamped on model time 0. Default 2026-01-05T07:00:00Z (fixed, for repeatable bytes). */
  epochMs: number;
  /** Largest file, bytes. Default 65 536. */
  fileBytes: number;
  /** Files kept, newest first. Default 5. */
  keep: number;
  /** Past activity written at construction, bytes. Default 3.5 files' worth. */
  historyBytes: number;
  /** File name prefix. Default `xr200`. */
  prefix: string;
}

export interface LogFileInfo {
  name: string;
  bytes: number;
  /** Time of the last write, Unix ms. */
  modifiedMs: number;
}

const DEFAULT_EPOCH_MS = Date.UTC(2026, 0, 5, 7, 0, 0);
const HEALTH_EVERY_MS = 600_000;
/** A new study starts after this long without an exposure. */
const STUDY_GAP_MS = 45_000;
/** More exposures than this in one sync is a counter set by service, not a workload. */
const MAX_EXPOSURES_PER_SYNC = 50;
const TWO_POW_32 = 0x1_0000_0000;

interface LogFile {
  readonly name: string;
  data: Buffer;
  bytes: number;
  modifiedMs: number;
}

interface Study {
  readonly patient: FakePatient;
  readonly accession: string;
  readonly planned: number;
  images: number;
  lastAtMs: number;
}

export class ControllerLogs {
  readonly options: ControllerLogsOptions;
  readonly #model: ControllerModel;
  readonly #prng: Prng;
  readonly #files: LogFile[] = [];
  readonly #unsubscribe: () => void;
  #nextFile = 1;
  #study: Study | null = null;
  #lastExposures: number;
  #lastDoor: number;
  #nextHealthMs = HEALTH_EVERY_MS;
  #sopCounter = 1000;
  #accessionCounter: number;
  #lines = 0;

  constructor(
    model: ControllerModel,
    options: Partial<ControllerLogsOptions> & {
      /** Reboots (model-faults.ts): a boot line is written when the controller is back. */
      power?: { onPower(listener: (state: 'up' | 'down') => void): () => void };
    } = {},
  ) {
    const fileBytes = checkNumber(
      'logs.fileBytes',
      options.fileBytes ?? 65_536,
      1024,
      1 << 24,
      true,
    );
    this.options = {
      seed: options.seed ?? 1,
      epochMs: checkNumber('logs.epochMs', options.epochMs ?? DEFAULT_EPOCH_MS, 0, 8.64e15),
      fileBytes,
      keep: checkNumber('logs.keep', options.keep ?? 5, 1, 1000, true),
      historyBytes: checkNumber(
        'logs.historyBytes',
        options.historyBytes ?? Math.floor(fileBytes * 3.5),
        0,
        1 << 28,
        true,
      ),
      prefix: options.prefix ?? 'xr200',
    };
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(this.options.prefix))
      throw new SimBadArgumentError('logs.prefix must be 1-32 of A-Z a-z 0-9 _ -');
    this.#model = model;
    this.#prng = new Prng((this.options.seed ^ 0x6c06) >>> 0);
    this.#accessionCounter = this.#prng.int(100_000, 900_000);
    this.#writeHistory();
    const c = model.counters();
    this.#lastExposures = c.exposures_total;
    this.#lastDoor = c.door_closed;
    this.#write(model.timeMs, 'INFO', 'SYS', BOOT_LINE);
    const offError = model.onError((e) => this.#onError(e));
    const offPower = options.power?.onPower((state) => {
      this.sync();
      if (state === 'down')
        this.#write(model.timeMs, 'WARN', 'SYS', 'watchdog: controller restart');
      else this.#write(model.timeMs, 'INFO', 'SYS', BOOT_LINE);
    });
    this.#unsubscribe = () => {
      offError();
      offPower?.();
    };
  }

  /** Lines written since construction (history included). */
  get linesWritten(): number {
    return this.#lines;
  }

  /** Files oldest first. */
  list(): LogFileInfo[] {
    this.sync();
    return this.#files.map((f) => ({ name: f.name, bytes: f.bytes, modifiedMs: f.modifiedMs }));
  }

  /** Current size of `name`, or undefined if there is no such file (any more). */
  size(name: string): number | undefined {
    this.sync();
    return this.#find(name)?.bytes;
  }

  /** A copy of `length` bytes of `name` from `offset` (clipped to the end); undefined if no such file. */
  read(name: string, offset = 0, length = Number.MAX_SAFE_INTEGER): Uint8Array | undefined {
    this.sync();
    const f = this.#find(name);
    if (!f) return undefined;
    const start = Math.min(Math.max(0, offset), f.bytes);
    const end = Math.min(f.bytes, start + Math.max(0, length));
    return Uint8Array.from(f.data.subarray(start, end));
  }

  /**
   * Writes what happened in the model since the last call: exposures (with the study and image
   * lines around them), door changes, health lines. The simulator calls it after every tick;
   * reads call it too, so a listing is always current.
   */
  sync(): void {
    const c = this.#model.counters();
    const now = this.#model.timeMs;
    if (c.door_closed !== this.#lastDoor) {
      this.#lastDoor = c.door_closed;
      this.#write(
        now,
        c.door_closed ? 'INFO' : 'WARN',
        'IL',
        `door ${c.door_closed ? 'closed' : 'opened'}`,
      );
    }
    const delta = (c.exposures_total - this.#lastExposures + TWO_POW_32) % TWO_POW_32;
    this.#lastExposures = c.exposures_total;
    if (delta > MAX_EXPOSURES_PER_SYNC) {
      this.#write(now, 'WARN', 'SVC', `exposure counter set to ${c.exposures_total} by service`);
    } else {
      const technique = { kv: c.last_kv, ma: c.last_ma, ms: c.last_ms };
      for (let i = delta - 1; i >= 0; i--) {
        const n = (c.exposures_total - i + TWO_POW_32) % TWO_POW_32;
        this.#exposure(now, n, technique, c.tube_heat_pct);
      }
    }
    while (now >= this.#nextHealthMs) {
      this.#write(
        this.#nextHealthMs,
        'INFO',
        'SYS',
        `health uptime=${Math.floor(this.#nextHealthMs / 1000)}s heat=${c.tube_heat_pct.toFixed(1)}% ` +
          `det=${c.detector_temp.toFixed(1)}C exposures=${c.exposures_total} active=${this.#model.activeCodes().length}`,
      );
      this.#nextHealthMs += HEALTH_EVERY_MS;
    }
  }

  /** Stops following the model. */
  close(): void {
    this.#unsubscribe();
  }

  #find(name: string): LogFile | undefined {
    return this.#files.find((f) => f.name === name);
  }

  #onError(e: ControllerErrorEvent): void {
    this.sync();
    const entry = catalogue.get(e.code);
    if (e.state === 'raised') {
      this.#write(
        e.modelTimeMs,
        levelOf(entry),
        'ERR',
        `${e.code} ${e.name} raised (${e.cause}): ${entry?.text ?? ''}`.trimEnd(),
      );
    } else {
      this.#write(
        e.modelTimeMs,
        'INFO',
        'ERR',
        `${e.code} ${e.name} cleared (${e.clearedBy ?? 'condition'})`,
      );
    }
  }

  #exposure(atModelMs: number, number: number, t: Technique, heatPct: number): void {
    const study = this.#studyFor(atModelMs, t);
    this.#write(atModelMs, 'INFO', 'GEN', exposure({ number, ...t, heatPct }));
    study.images += 1;
    study.lastAtMs = atModelMs;
    this.#write(
      atModelMs,
      'INFO',
      'DCM',
      imageStored(study.patient, this.#sopCounter++, this.#prng.chance(0.97)),
    );
  }

  #studyFor(atModelMs: number, t: Technique): Study {
    const s = this.#study;
    if (s && atModelMs - s.lastAtMs <= STUDY_GAP_MS && s.images < s.planned) return s;
    if (s) this.#write(atModelMs, 'INFO', 'WKL', studyClosed(s.patient, s.accession, s.images));
    const study: Study = {
      patient: fakePatient(this.#prng),
      accession: `ACC${String(this.#accessionCounter++).padStart(8, '0')}`,
      planned: this.#prng.int(1, 4),
      images: 0,
      lastAtMs: atModelMs,
    };
    this.#study = study;
    this.#write(atModelMs, 'INFO', 'WKL', studyOpened(study.patient, study.accession, examFor(t)));
    if (this.#prng.chance(0.2))
      this.#write(atModelMs, 'INFO', 'UI', operatorNote(study.patient, this.#prng));
    return study;
  }

  /** Past activity before this boot (logs-history.ts), ending 5 min before model time 0. */
  #writeHistory(): void {
    const entries = pastActivity(this.#prng, this.options.historyBytes, {
      accession: () => `ACC${String(this.#accessionCounter++).padStart(8, '0')}`,
      sop: () => this.#sopCounter++,
    });
    const end = entries.at(-1)?.relMs ?? 0;
    for (const e of entries) this.#write(e.relMs - end - 300_000, e.level, e.source, e.text);
  }

  #write(atModelMs: number, level: LogLevel, source: string, text: string): void {
    const atMs = Math.floor(this.options.epochMs + atModelMs);
    const line = Buffer.from(formatLine(atMs, level, source, text), 'latin1');
    const bytes = line.subarray(0, this.options.fileBytes);
    let current = this.#files.at(-1);
    if (!current || current.bytes + bytes.length > this.options.fileBytes) {
      current = {
        name: `${this.options.prefix}-${String(this.#nextFile++).padStart(4, '0')}.log`,
        data: Buffer.alloc(this.options.fileBytes),
        bytes: 0,
        modifiedMs: atMs,
      };
      this.#files.push(current);
      while (this.#files.length > this.options.keep) this.#files.shift();
    }
    bytes.copy(current.data, current.bytes);
    current.bytes += bytes.length;
    current.modifiedMs = atMs;
    this.#lines += 1;
  }
}

/** The typical exam whose kV is nearest the technique's. */
function examFor(t: Technique): string {
  let best = EXAM_TECHNIQUES[0]!;
  for (const e of EXAM_TECHNIQUES) if (Math.abs(e.kv - t.kv) < Math.abs(best.kv - t.kv)) best = e;
  return best.exam;
}
