/**
 * The XR-200 controller's state model. Deterministic: it has no timers and reads no clock for
 * its physics; time only moves through `step(dtMs)`, and randomness comes from a seeded PRNG, so
 * the same seed and the same steps give the same state. (The wall clock is read only to stamp
 * error events; it is injectable.)
 *
 * Physics, in brief:
 * - each exposure adds kV × mA × s × 1.35 heat units to the anode (capacity 300 kHU by default,
 *   saturating there); the anode cools exponentially toward 0 (time constant 5 min);
 * - the detector temperature relaxes (time constant 4 min) toward
 *   ambient + 4 °C (electronics) + 12 °C × anode heat fraction (load);
 * - the workload (see workload.ts) is inhibited while the door is open or TUBE_OVERHEAT is active,
 *   and halved while TUBE_HEAT_WARNING is active.
 */
import { ActiveErrors, type ControllerErrorEvent, type ErrorListener } from './active-errors.js';
import { codeNamed, lookupCode } from './catalogue.js';
import { SimBadArgumentError, SimExposureInhibitedError, type InhibitReason } from './errors.js';
import { Prng } from './prng.js';
import { Anode, Detector, heatUnits } from './thermal.js';
import { checkNumber } from './validate.js';
import type {
  ControllerModelOptions,
  Counters,
  ExposeOptions,
  InjectOptions,
  ModelSnapshot,
} from './model-types.js';
import { Workload, type Technique } from './workload.js';

export type * from './model-types.js';

export type {
  ControllerErrorEvent,
  ErrorCause,
  ClearReason,
  ErrorListener,
} from './active-errors.js';

/** Longest stretch integrated at once, so conditions are checked at least this often. */
const MAX_CHUNK_MS = 250;
const TWO_POW_32 = 0x1_0000_0000;

const CODES = {
  heatWarning: codeNamed('TUBE_HEAT_WARNING'),
  overheat: codeNamed('TUBE_OVERHEAT'),
  detHigh: codeNamed('DET_TEMP_HIGH'),
  detLow: codeNamed('DET_TEMP_LOW'),
  doorOpen: codeNamed('INTERLOCK_DOOR_OPEN'),
  detLinkLost: codeNamed('DET_LINK_LOST'),
} as const;

export class ControllerModel {
  readonly #anode: Anode;
  readonly #detector: Detector;
  readonly #workload: Workload;
  readonly #prng: Prng;
  readonly #errors: ActiveErrors;

  #timeMs = 0;
  #revision = 0;
  #exposuresTotal = 0;
  #ambientC: number;
  #last: Technique = { kv: 0, ma: 0, ms: 0 };
  #doorClosed = true;
  #detectorLinked = true;
  /** Cumulative tube load in 0.1 mAs, modulo 2^32, and the not-yet-counted fraction. */
  #masTenths = 0;
  #masFraction = 0;
  #inhibitedTotal = 0;
  /** Model time of the last (re)boot; uptime counts from here. */
  #bootAtMs = 0;

  constructor(options: ControllerModelOptions = {}) {
    const capacity = checkNumber('anodeCapacityHu', options.anodeCapacityHu ?? 300_000, 1, 1e9);
    const coolingTau = checkNumber(
      'coolingTimeConstantMs',
      options.coolingTimeConstantMs ?? 300_000,
      1,
      1e9,
    );
    const detectorTau = checkNumber(
      'detectorTimeConstantMs',
      options.detectorTimeConstantMs ?? 240_000,
      1,
      1e9,
    );
    this.#ambientC = checkNumber('ambientC', options.ambientC ?? 22, -40, 60);
    this.#anode = new Anode(capacity, coolingTau);
    this.#detector = new Detector(detectorTau, this.#ambientC);
    const slots = checkNumber('errorSlots', options.errorSlots ?? 8, 1, 125, true);
    this.#errors = new ActiveErrors(slots, options.wallClock ?? Date.now);
    this.#prng = new Prng(options.seed ?? 1);
    this.#workload = new Workload(this.#prng, options.workload);
  }

  /** Model time since boot, ms. */
  get timeMs(): number {
    return this.#timeMs;
  }

  /** Increments on every change of state; lets a register image know it is stale. */
  get revision(): number {
    return this.#revision;
  }

  /** Anode heat capacity, HU. */
  get anodeCapacityHu(): number {
    return this.#anode.capacityHu;
  }

  /** Anode heat as a percentage of capacity. */
  get heatPct(): number {
    return this.#anode.fraction * 100;
  }

  /** Advances model time by `dtMs`, running the workload, physics and condition monitoring. */
  step(dtMs: number): void {
    let remaining = checkNumber('dtMs', dtMs, 0, Number.MAX_SAFE_INTEGER);
    do {
      const eventAtMs = Math.min(this.#workload.nextAtMs, this.#errors.nextExpiryMs());
      const untilEvent = eventAtMs - this.#timeMs;
      const chunk = Math.min(remaining, MAX_CHUNK_MS, Math.max(0, untilEvent));
      this.#integrate(chunk);
      // Land exactly on the event: event times are fractional, and time + (event - time) can
      // fall one ulp short, which would leave the event pending and this loop spinning.
      if (chunk >= untilEvent) this.#timeMs = Math.max(this.#timeMs, eventAtMs);
      remaining -= chunk;
      if (this.#workload.nextAtMs <= this.#timeMs) this.#runWorkload();
      this.#errors.expire(this.#timeMs);
      this.#evaluateConditions();
    } while (remaining > 0);
    this.#changed();
  }

  /** Raises a catalogue code as an injected fault. Unknown code → SimUnknownErrorCodeError. */
  inject(code: number, options: InjectOptions = {}): boolean {
    lookupCode(code);
    const hold =
      options.holdMs === undefined ? null : checkNumber('holdMs', options.holdMs, 1, 1e12);
    const raised = this.#errors.raise(
      code,
      'injected',
      this.#timeMs,
      hold === null ? null : this.#timeMs + hold,
    );
    this.#changed();
    return raised;
  }

  /** Clears an active code, whatever raised it. @returns true if it was active. */
  clear(code: number): boolean {
    lookupCode(code);
    const cleared = this.#errors.clear(code, 'manual', this.#timeMs);
    this.#changed();
    return cleared;
  }

  /** Sets the exposure counter (e.g. near 2^32 to test the wrap). */
  setExposures(n: number): void {
    this.#exposuresTotal = checkNumber('exposures', n, 0, TWO_POW_32 - 1, true);
    this.#changed();
  }

  /** Sets the cumulative tube load, mAs (0..(2^32-1)/10; e.g. near the top to test the wrap). */
  setMasTotal(mas: number): void {
    const tenths = Math.round(checkNumber('mas', mas, 0, (TWO_POW_32 - 1) / 10) * 10);
    this.#masTenths = Math.min(tenths, TWO_POW_32 - 1);
    this.#masFraction = 0;
    this.#changed();
  }

  /**
   * Controller restart (see model-faults.ts for the whole reboot fault): every active code
   * clears (`clearedBy: 'reboot'`), error_events_total and uptime restart at 0. Lifetime
   * counters (exposures, mAs: NVRAM), the tube's heat and the door are physical and carry over.
   */
  restart(): void {
    this.#errors.reset(this.#timeMs);
    this.#bootAtMs = this.#timeMs;
    this.#changed();
  }

  /** Sets the room temperature the detector drifts toward. */
  setAmbient(celsius: number): void {
    this.#ambientC = checkNumber('ambient', celsius, -40, 60);
    this.#changed();
  }

  /**
   * Connects or disconnects the detector's data link (a wireless panel out of range, a
   * tether pulled); a lost link raises DET_LINK_LOST at once and inhibits exposures.
   */
  setDetectorLink(connected: boolean): void {
    if (typeof connected !== 'boolean')
      throw new SimBadArgumentError('detector link state must be a boolean');
    this.#detectorLinked = connected;
    this.#evaluateConditions();
    this.#changed();
  }

  get detectorLinked(): boolean {
    return this.#detectorLinked;
  }

  /** Opens or closes the room door; an open door raises INTERLOCK_DOOR_OPEN at once. */
  setDoor(closed: boolean): void {
    if (typeof closed !== 'boolean') throw new SimBadArgumentError('door state must be a boolean');
    this.#doorClosed = closed;
    this.#evaluateConditions();
    this.#changed();
  }

  /**
   * Makes one exposure now. Throws SimExposureInhibitedError while the door is open or the tube
   * is overheated, unless `force`; SimBadArgumentError outside 20–150 kV, 0.1–1000 mA, 1–10 000 ms.
   */
  expose(kv: number, ma: number, ms: number, options: ExposeOptions = {}): void {
    const technique: Technique = {
      kv: checkNumber('kv', kv, 20, 150),
      ma: checkNumber('ma', ma, 0.1, 1000),
      ms: checkNumber('ms', ms, 1, 10_000, true),
    };
    if (options.force !== true) {
      const reason = this.#inhibitReason();
      if (reason !== null) throw new SimExposureInhibitedError(reason);
    }
    this.#applyExposure(technique);
    this.#evaluateConditions();
    this.#changed();
  }

  /** Subscribes to raise/clear events. @returns an unsubscribe function. */
  onError(listener: ErrorListener): () => void {
    return this.#errors.onEvent(listener);
  }

  /** The last (up to 256) raise/clear events, oldest first. */
  recentEvents(): readonly ControllerErrorEvent[] {
    return this.#errors.recent();
  }

  activeCodes(): number[] {
    return this.#errors.codes();
  }

  visibleCodes(): number[] {
    return this.#errors.visible();
  }

  counters(): Counters {
    return {
      exposures_total: this.#exposuresTotal,
      tube_heat: this.#anode.heatHu,
      tube_heat_pct: this.heatPct,
      detector_temp: this.#detector.tempC,
      last_kv: this.#last.kv,
      last_ma: this.#last.ma,
      last_ms: this.#last.ms,
      uptime: Math.floor((this.#timeMs - this.#bootAtMs) / 1000),
      door_closed: this.#doorClosed ? 1 : 0,
      tube_mas_total: this.#masTenths / 10,
      heat_balance: this.#anode.balance(),
      error_events_total: this.#errors.eventsTotal,
    };
  }

  snapshot(): ModelSnapshot {
    return {
      modelTimeMs: this.#timeMs,
      counters: this.counters(),
      activeCodes: this.activeCodes(),
      visibleCodes: this.visibleCodes(),
      ambientC: this.#ambientC,
      doorClosed: this.#doorClosed,
      inhibitedTotal: this.#inhibitedTotal,
    };
  }

  #integrate(dtMs: number): void {
    if (dtMs <= 0) return;
    this.#timeMs += dtMs;
    this.#anode.cool(dtMs, this.#timeMs);
    this.#detector.relax(dtMs, this.#ambientC, this.#anode.fraction);
  }

  #runWorkload(): void {
    const technique = this.#workload.take();
    const rateLimited = this.#errors.has(CODES.heatWarning) && this.#prng.chance(0.5);
    if (this.#inhibitReason() !== null || rateLimited) {
      this.#inhibitedTotal += 1;
      return;
    }
    this.#applyExposure(technique);
  }

  #inhibitReason(): InhibitReason | null {
    if (!this.#doorClosed) return 'door-open';
    if (!this.#detectorLinked) return 'detector-link-lost';
    if (this.#errors.has(CODES.overheat)) return 'tube-overheat';
    return null;
  }

  #applyExposure(t: Technique): void {
    this.#exposuresTotal = (this.#exposuresTotal + 1) % TWO_POW_32;
    this.#anode.add(heatUnits(t), this.#timeMs);
    this.#masFraction += (t.ma * t.ms) / 100; // mA × ms = µAs; / 100 → 0.1 mAs
    const whole = Math.floor(this.#masFraction);
    this.#masFraction -= whole;
    this.#masTenths = (this.#masTenths + whole) % TWO_POW_32;
    this.#last = t;
  }

  /** Level conditions with hysteresis; a code clears by condition only if the model raised it. */
  #evaluateConditions(): void {
    const pct = this.heatPct;
    const temp = this.#detector.tempC;
    this.#hysteresis(CODES.heatWarning, pct >= 75, pct < 70);
    this.#hysteresis(CODES.overheat, pct >= 90, pct < 80);
    this.#hysteresis(CODES.detHigh, temp > 40, temp < 38);
    this.#hysteresis(CODES.detLow, temp < 5, temp > 7);
    this.#hysteresis(CODES.doorOpen, !this.#doorClosed, this.#doorClosed);
    this.#hysteresis(CODES.detLinkLost, !this.#detectorLinked, this.#detectorLinked);
  }

  #hysteresis(code: number, raiseWhen: boolean, clearWhen: boolean): void {
    if (raiseWhen) {
      if (!this.#errors.has(code)) this.#errors.raise(code, 'model', this.#timeMs, null);
    } else if (clearWhen && this.#errors.causeOf(code) === 'model') {
      this.#errors.clear(code, 'condition', this.#timeMs);
    }
  }

  #changed(): void {
    this.#revision += 1;
    this.#errors.flush();
  }
}
