/**
 * First-order thermal models of the X-ray tube anode and the detector panel. Pure arithmetic on
 * model time; no clock.
 */
import type { Technique } from './workload.js';

/** Heat-unit factor for a constant-potential (high-frequency) generator. */
const HU_FACTOR = 1.35;
const MINUTE_MS = 60_000;

/** Heat units one exposure puts into the anode: kV × mA × s × 1.35. */
export function heatUnits(t: Technique): number {
  return t.kv * t.ma * (t.ms / 1000) * HU_FACTOR;
}

/** The anode: heat saturates at its capacity and decays exponentially toward 0. */
export class Anode {
  #heatHu = 0;
  /** Heat samples over the last minute plus one older, for the heat balance. */
  readonly #history: { t: number; heat: number }[] = [{ t: 0, heat: 0 }];

  constructor(
    readonly capacityHu: number,
    readonly coolingTauMs: number,
  ) {}

  get heatHu(): number {
    return this.#heatHu;
  }

  /** Heat as a fraction of capacity, 0..1. */
  get fraction(): number {
    return this.#heatHu / this.capacityHu;
  }

  /** Adds heat at model time `nowMs`, saturating at capacity. */
  add(hu: number, nowMs: number): void {
    this.#heatHu = Math.min(this.capacityHu, this.#heatHu + hu);
    this.#record(nowMs);
  }

  /** Cools for `dtMs`, ending at model time `nowMs`. */
  cool(dtMs: number, nowMs: number): void {
    this.#heatHu *= Math.exp(-dtMs / this.coolingTauMs);
    this.#record(nowMs);
  }

  /** Heat now minus heat one minute ago (or at boot, if younger), HU/min, rounded. */
  balance(): number {
    const past = this.#history[0] as { heat: number };
    return Math.round(this.#heatHu - past.heat);
  }

  #record(nowMs: number): void {
    const h = this.#history;
    h.push({ t: nowMs, heat: this.#heatHu });
    const horizon = nowMs - MINUTE_MS;
    // Keep exactly one sample at or before the horizon: the heat content one minute ago.
    while (h.length > 1 && (h[1] as { t: number }).t <= horizon) h.shift();
  }
}

/** Detector electronics' own heating above ambient, °C. */
const SELF_HEAT_C = 4;
/** Extra heating at full anode heat (the tube housing warms the room around the table), °C. */
const LOAD_C = 12;

/** The detector panel: relaxes toward ambient + self-heating + a load term. */
export class Detector {
  #tempC: number;

  constructor(
    readonly tauMs: number,
    ambientC: number,
  ) {
    this.#tempC = ambientC + SELF_HEAT_C;
  }

  get tempC(): number {
    return this.#tempC;
  }

  relax(dtMs: number, ambientC: number, anodeFraction: number): void {
    const target = ambientC + SELF_HEAT_C + LOAD_C * anodeFraction;
    this.#tempC += (target - this.#tempC) * (1 - Math.exp(-dtMs / this.tauMs));
  }
}
