/**
 * The seeded random exposure workload of a radiography room: exams arrive as a Poisson process,
 * most are a single exposure, some are a burst (a series of the same technique a second or two
 * apart). Techniques come from a small table of typical exams with a little jitter. Pure: it is
 * given model time, never reads a clock.
 */
import { SimBadArgumentError } from './errors.js';
import type { Prng } from './prng.js';

/** The technique of one exposure. */
export interface Technique {
  /** Peak kilovoltage, kV. */
  readonly kv: number;
  /** Tube current, mA. */
  readonly ma: number;
  /** Exposure time, ms. */
  readonly ms: number;
}

/** Typical radiographic techniques (adult, grid, 100-180 cm SID). */
export const EXAM_TECHNIQUES: readonly (Technique & { readonly exam: string })[] = [
  { exam: 'chest PA', kv: 120, ma: 250, ms: 10 },
  { exam: 'hand', kv: 55, ma: 100, ms: 25 },
  { exam: 'knee', kv: 65, ma: 200, ms: 40 },
  { exam: 'abdomen AP', kv: 80, ma: 400, ms: 80 },
  { exam: 'pelvis AP', kv: 78, ma: 400, ms: 100 },
  { exam: 'lumbar spine lateral', kv: 92, ma: 500, ms: 200 },
];

export interface WorkloadOptions {
  /** Whether the room produces exposures on its own. Default true. */
  readonly enabled: boolean;
  /** Mean exposures per minute of model time, bursts included. Default 4. */
  readonly exposuresPerMinute: number;
  /** Chance that an exam is a burst rather than a single exposure. Default 0.15. */
  readonly burstProbability: number;
  /** Smallest and largest number of exposures in a burst. Default 3..8. */
  readonly burstMin: number;
  readonly burstMax: number;
  /** Mean spacing of the exposures within a burst, ms. Default 1500. */
  readonly burstIntervalMs: number;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  enabled: true,
  exposuresPerMinute: 4,
  burstProbability: 0.15,
  burstMin: 3,
  burstMax: 8,
  burstIntervalMs: 1500,
};

function checkWorkload(w: WorkloadOptions): void {
  const bad = (what: string): never => {
    throw new SimBadArgumentError(`workload: ${what}`);
  };
  if (!(w.exposuresPerMinute > 0 && Number.isFinite(w.exposuresPerMinute))) {
    bad('exposuresPerMinute must be a positive number');
  }
  if (!(w.burstProbability >= 0 && w.burstProbability <= 1))
    bad('burstProbability must be in 0..1');
  if (!Number.isInteger(w.burstMin) || w.burstMin < 1 || !Number.isInteger(w.burstMax)) {
    bad('burstMin and burstMax must be positive integers');
  }
  if (w.burstMax < w.burstMin) bad('burstMax must be at least burstMin');
  if (!(w.burstIntervalMs > 0 && Number.isFinite(w.burstIntervalMs))) {
    bad('burstIntervalMs must be a positive number');
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

export class Workload {
  readonly options: WorkloadOptions;
  readonly #prng: Prng;
  #nextAtMs: number;
  /** Exposures still to come in the current burst, after the scheduled one. */
  #burstLeft = 0;
  #burstTechnique: Technique | null = null;

  constructor(prng: Prng, options: Partial<WorkloadOptions> = {}, startMs = 0) {
    this.options = { ...DEFAULT_WORKLOAD, ...options };
    checkWorkload(this.options);
    this.#prng = prng;
    this.#nextAtMs = this.options.enabled ? startMs + this.#examGapMs() : Infinity;
  }

  /** Model time of the next scheduled exposure (Infinity when the workload is disabled). */
  get nextAtMs(): number {
    return this.#nextAtMs;
  }

  /** Consumes the scheduled exposure: returns its technique and schedules the next one. */
  take(): Technique {
    const now = this.#nextAtMs;
    let base: Technique;
    if (this.#burstTechnique !== null && this.#burstLeft > 0) {
      base = this.#burstTechnique;
      this.#burstLeft -= 1;
    } else {
      base = this.#prng.pick(EXAM_TECHNIQUES);
      const burst = this.#prng.chance(this.options.burstProbability);
      this.#burstTechnique = burst ? base : null;
      this.#burstLeft = burst
        ? this.#prng.int(this.options.burstMin, this.options.burstMax) - 1
        : 0;
    }
    const technique: Technique = {
      kv: round1(base.kv * (1 + this.#prng.normal(0, 0.01))),
      ma: round1(base.ma * (1 + this.#prng.normal(0, 0.015))),
      ms: base.ms,
    };
    const gap =
      this.#burstLeft > 0
        ? Math.max(
            200,
            this.#prng.normal(this.options.burstIntervalMs, this.options.burstIntervalMs / 10),
          )
        : this.#examGapMs();
    this.#nextAtMs = now + Math.max(1, Math.round(gap));
    return technique;
  }

  /** Gap before the next exam, so that exposures (bursts included) average the configured rate. */
  #examGapMs(): number {
    const o = this.options;
    const meanPerExam =
      1 - o.burstProbability + (o.burstProbability * (o.burstMin + o.burstMax)) / 2;
    const examsPerMinute = o.exposuresPerMinute / meanPerExam;
    return Math.max(1, Math.round(this.#prng.exponential(60_000 / examsPerMinute)));
  }
}
