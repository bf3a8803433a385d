/**
 * Model-level fault injection: what goes wrong inside the controller itself, as opposed to on
 * one of its buses. Scriptable at run time (`sim.faults`, and the control commands `storm`,
 * `wrap`, `clock`, `reboot`; see model-faults-control.ts).
 *
 * - **Error storm**: a catalogue code raised and cleared `perSecond` times a second for
 *   `durationMs`. Each cycle raises the code at its start and clears it half a period later, at
 *   exact model times (the model is stepped edge to edge), so every raise counts in
 *   error_events_total and emits its events, and a bus master sees whichever half-cycle the
 *   register image was last refreshed in. Thousands a second are fine.
 * - **Counter wrap**: exposures_total or tube_mas_total set just below 2^32, so the next
 *   exposures carry them across the wrap.
 * - **Clock jump**: the controller's real-time clock (RTC) moves by up to ±24 h. What jumps: the
 *   wall time the controller stamps on error events (`wallTimeMs`) and anything a face reports
 *   as controller time (`sim.faults.clock.now()`). What does not: uptime and model time (a
 *   controller counts uptime from its monotonic tick, not its RTC), holds, storms, physics.
 *   Modbus TCP carries no RTC register, so over Modbus a clock jump is invisible by design.
 * - **Reboot**: the controller restarts at once (active codes clear with `clearedBy:
 *   'reboot'`, uptime and error_events_total restart at 0), its faces are unavailable for
 *   `downMs`, and when it is back SW_WATCHDOG_RESET (7001) is raised. Faces follow
 *   {@link ModelFaults.onPower}; the simulator closes its Modbus TCP listener (and every open
 *   connection) on `down` and listens again on the same port on `up`.
 *
 * All durations are model time, like `holdMs` (equal to wall time at timeScale 1). Storm edges
 * and the end of a reboot happen only as the model is stepped through {@link ModelFaults.step}
 * (the simulator's tick does this; a test with `tickMs: 0` must call `sim.faults.step`, not
 * `sim.model.step`).
 */
import { codeNamed, lookupCode } from './catalogue.js';
import { SimBadArgumentError } from './errors.js';
import type { ControllerModel } from './model.js';
import { checkNumber } from './validate.js';

/** Counters that wrap at 2^32 and can be jumped near it. */
export type WrapCounter = 'exposures_total' | 'tube_mas_total';
export const WRAP_COUNTERS: readonly WrapCounter[] = ['exposures_total', 'tube_mas_total'];

/** Whether the controller's faces are serving. */
export type PowerState = 'up' | 'down';
export type PowerListener = (state: PowerState) => void;

export interface StormOptions {
  /** A catalogue code. */
  code: number;
  /** Raise/clear cycles per second of model time (0 < perSecond ≤ 10 000). */
  perSecond: number;
  /** How long the storm lasts, model ms (1 .. 3 600 000). */
  durationMs: number;
}

export interface RebootOptions {
  /** How long the faces stay unavailable, model ms. Default 1500; 0 = back at once. */
  downMs?: number;
  /** SW_WATCHDOG_RESET clears itself after this long (model ms). Default: latched until cleared. */
  holdMs?: number;
}

export interface StormStatus {
  code: number;
  perSecond: number;
  cycles: number;
  cyclesDone: number;
  endsAtMs: number;
}

export interface FaultStatus {
  power: PowerState;
  /** Model time the controller comes back, while down. */
  downUntilMs: number | null;
  reboots: number;
  /** The RTC's offset from true wall time, ms. */
  clockOffsetMs: number;
  storms: StormStatus[];
  /** Faces that could not come back after a reboot (e.g. their port was taken meanwhile). */
  faceErrors: string[];
}

/** Largest single clock jump, ms (24 h). */
export const MAX_CLOCK_JUMP_MS = 86_400_000;
const TWO_POW_32 = 0x1_0000_0000;
/** Model-time slack when comparing an edge time with where a step landed. */
const EPSILON_MS = 1e-6;
const WATCHDOG_RESET = codeNamed('SW_WATCHDOG_RESET');

/**
 * The controller's real-time clock: true wall time plus an offset that a clock-jump fault moves.
 * The model stamps error events with it (pass `wallClock: () => clock.now()`).
 */
export class ControllerClock {
  readonly #base: () => number;
  #offsetMs = 0;

  constructor(base: () => number = Date.now) {
    this.#base = base;
  }

  get offsetMs(): number {
    return this.#offsetMs;
  }

  now(): number {
    return this.#base() + this.#offsetMs;
  }

  /** Moves the RTC by `ms` (−24 h .. +24 h per jump). @returns the new offset. */
  jump(ms: number): number {
    this.#offsetMs += checkNumber('jumpMs', ms, -MAX_CLOCK_JUMP_MS, MAX_CLOCK_JUMP_MS, true);
    return this.#offsetMs;
  }
}

interface Storm {
  readonly code: number;
  readonly perSecond: number;
  readonly periodMs: number;
  readonly startMs: number;
  readonly cycles: number;
  /** Edges fired so far: even = raise, odd = clear; 2 × cycles in all. */
  edges: number;
}

function edgeTime(s: Storm): number {
  return s.startMs + Math.floor(s.edges / 2) * s.periodMs + (s.edges % 2) * (s.periodMs / 2);
}

export class ModelFaults {
  readonly clock: ControllerClock;
  readonly #model: ControllerModel;
  readonly #storms: Storm[] = [];
  readonly #powerListeners = new Set<PowerListener>();
  readonly #faceErrors: string[] = [];
  #downUntilMs: number | null = null;
  #holdMs: number | undefined;
  #reboots = 0;

  constructor(model: ControllerModel, clock: ControllerClock = new ControllerClock()) {
    this.#model = model;
    this.clock = clock;
  }

  get power(): PowerState {
    return this.#downUntilMs === null ? 'up' : 'down';
  }

  /**
   * Advances the model by `dtMs`, stopping at every storm edge and at the end of a reboot so
   * they happen at their exact model times.
   */
  step(dtMs: number): void {
    let remaining = checkNumber('dtMs', dtMs, 0, Number.MAX_SAFE_INTEGER);
    this.#fireDue();
    while (remaining > 0) {
      const until = this.#nextEventMs() - this.#model.timeMs;
      if (until >= remaining) {
        this.#model.step(remaining);
        break;
      }
      if (until > 0) this.#model.step(until);
      remaining -= Math.max(0, until);
      this.#fireDue();
    }
    this.#fireDue();
  }

  /** Starts an error storm now. Unknown code → SimUnknownErrorCodeError. */
  storm(options: StormOptions): StormStatus {
    const code = lookupCode(options.code).code;
    const perSecond = checkNumber('perSecond', options.perSecond, 0.001, 10_000);
    const durationMs = checkNumber('durationMs', options.durationMs, 1, 3_600_000);
    const periodMs = 1000 / perSecond;
    const storm: Storm = {
      code,
      perSecond,
      periodMs,
      startMs: this.#model.timeMs,
      cycles: Math.max(1, Math.round((durationMs * perSecond) / 1000)),
      edges: 0,
    };
    this.#storms.push(storm);
    this.#fireDue();
    return this.#stormStatus(storm);
  }

  /**
   * Sets `counter` `before` raw steps below 2^32 (exposures: counts; tube_mas_total: 0.1 mAs),
   * so the next exposures wrap it. @returns the value set, in engineering units.
   */
  wrap(counter: WrapCounter, before = 3): number {
    const steps = checkNumber('before', before, 1, 1_000_000, true);
    if (counter === 'exposures_total') {
      this.#model.setExposures(TWO_POW_32 - steps);
      return TWO_POW_32 - steps;
    }
    if (counter === 'tube_mas_total') {
      this.#model.setMasTotal((TWO_POW_32 - steps) / 10);
      return (TWO_POW_32 - steps) / 10;
    }
    throw new SimBadArgumentError(
      `counter must be one of ${WRAP_COUNTERS.join(', ')}, got ${String(counter)}`,
    );
  }

  /** Moves the controller's RTC by `ms` (±24 h). @returns the RTC's offset from wall time. */
  jumpClock(ms: number): number {
    return this.clock.jump(ms);
  }

  /**
   * Reboots the controller now: it restarts at once and its faces are down for `downMs`; when
   * it is back, SW_WATCHDOG_RESET is raised. A reboot while down restarts the boot.
   */
  reboot(options: RebootOptions = {}): { downUntilMs: number } {
    const downMs = checkNumber('downMs', options.downMs ?? 1500, 0, 600_000);
    this.#holdMs =
      options.holdMs === undefined ? undefined : checkNumber('holdMs', options.holdMs, 1, 1e12);
    const wasUp = this.power === 'up';
    this.#model.restart();
    this.#reboots += 1;
    this.#downUntilMs = this.#model.timeMs + downMs;
    if (wasUp) this.#emitPower('down');
    this.#fireDue();
    return { downUntilMs: this.#model.timeMs + downMs };
  }

  /** Subscribes to the controller going down and coming back. @returns an unsubscribe function. */
  onPower(listener: PowerListener): () => void {
    this.#powerListeners.add(listener);
    return () => this.#powerListeners.delete(listener);
  }

  /** A face that could not come back after a reboot reports it here (shown in `status()`). */
  reportFaceError(face: string, error: unknown): void {
    this.#faceErrors.push(`${face}: ${error instanceof Error ? error.message : String(error)}`);
  }

  status(): FaultStatus {
    return {
      power: this.power,
      downUntilMs: this.#downUntilMs,
      reboots: this.#reboots,
      clockOffsetMs: this.clock.offsetMs,
      storms: this.#storms.map((s) => this.#stormStatus(s)),
      faceErrors: [...this.#faceErrors],
    };
  }

  #stormStatus(s: Storm): StormStatus {
    return {
      code: s.code,
      perSecond: s.perSecond,
      cycles: s.cycles,
      cyclesDone: Math.ceil(s.edges / 2),
      endsAtMs: s.startMs + (s.cycles - 1) * s.periodMs + s.periodMs / 2,
    };
  }

  #nextEventMs(): number {
    let next = this.#downUntilMs ?? Infinity;
    for (const s of this.#storms) next = Math.min(next, edgeTime(s));
    return next;
  }

  /** Fires every storm edge and boot completion due at the model's current time. */
  #fireDue(): void {
    const now = this.#model.timeMs + EPSILON_MS;
    for (;;) {
      let due: Storm | undefined;
      for (const s of this.#storms) {
        if (edgeTime(s) <= now && (due === undefined || edgeTime(s) < edgeTime(due))) due = s;
      }
      if (due === undefined) break;
      if (due.edges % 2 === 0) this.#model.inject(due.code);
      else this.#model.clear(due.code);
      due.edges += 1;
      if (due.edges >= 2 * due.cycles) this.#storms.splice(this.#storms.indexOf(due), 1);
    }
    if (this.#downUntilMs !== null && this.#downUntilMs <= now) {
      this.#downUntilMs = null;
      this.#model.inject(
        WATCHDOG_RESET,
        this.#holdMs === undefined ? {} : { holdMs: this.#holdMs },
      );
      this.#emitPower('up');
    }
  }

  #emitPower(state: PowerState): void {
    let failure: { error: unknown } | null = null;
    for (const listener of [...this.#powerListeners]) {
      try {
        listener(state);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== null) throw failure.error;
  }
}
