/**
 * The controller's set of active error codes, with raise/clear events.
 *
 * Codes are kept in raise order. The register map has a fixed number of slots (8 on the XR-200);
 * codes beyond that stay active inside the controller but are not shown in any slot until an
 * earlier code clears and frees one. Every raise, shown or not, increments `eventsTotal`
 * (error_events_total), which lets a master notice raises it could not see.
 */
import { lookupCode, type CatalogueEntry } from './catalogue.js';

/** Who raised a code: the controller's own condition monitoring, or fault injection. */
export type ErrorCause = 'model' | 'injected';

/** Why a code cleared. */
export type ClearReason = 'condition' | 'hold-expired' | 'manual' | 'reboot';

/** A code being raised or cleared. */
export interface ControllerErrorEvent {
  readonly code: number;
  readonly name: string;
  readonly severity: string;
  readonly immediate: boolean;
  readonly state: 'raised' | 'cleared';
  /** Origin of the active code (for a clear: the origin of the code that cleared). */
  readonly cause: ErrorCause;
  /** Only on clears. */
  readonly clearedBy?: ClearReason;
  /** Model time at which the controller raised or cleared it. */
  readonly modelTimeMs: number;
  /** Wall-clock time (ms since the epoch) at that moment. */
  readonly wallTimeMs: number;
  /**
   * Whether the code held a register slot: on a raise, whether it got one (false once all slots
   * are taken); on a clear, whether it had one.
   */
  readonly visible: boolean;
}

export type ErrorListener = (event: ControllerErrorEvent) => void;

interface ActiveEntry {
  readonly entry: CatalogueEntry;
  cause: ErrorCause;
  /** Model time of the automatic clear, or null to stay until cleared. */
  expiresAtMs: number | null;
}

const RECENT_EVENTS = 256;
const TWO_POW_32 = 0x1_0000_0000;

export class ActiveErrors {
  readonly slots: number;
  readonly #wallClock: () => number;
  readonly #active = new Map<number, ActiveEntry>();
  readonly #listeners = new Set<ErrorListener>();
  readonly #pending: ControllerErrorEvent[] = [];
  readonly #recent: ControllerErrorEvent[] = [];
  #eventsTotal = 0;

  constructor(slots: number, wallClock: () => number) {
    this.slots = slots;
    this.#wallClock = wallClock;
  }

  /** Raises since boot, modulo 2^32. */
  get eventsTotal(): number {
    return this.#eventsTotal;
  }

  has(code: number): boolean {
    return this.#active.has(code);
  }

  causeOf(code: number): ErrorCause | undefined {
    return this.#active.get(code)?.cause;
  }

  /** All active codes in raise order. */
  codes(): number[] {
    return [...this.#active.keys()];
  }

  /** The codes that occupy register slots: the first `slots` in raise order. */
  visible(): number[] {
    return this.codes().slice(0, this.slots);
  }

  /** The earliest pending automatic clear, or Infinity. */
  nextExpiryMs(): number {
    let next = Infinity;
    for (const a of this.#active.values()) {
      if (a.expiresAtMs !== null && a.expiresAtMs < next) next = a.expiresAtMs;
    }
    return next;
  }

  /**
   * Raises `code` (a catalogue code; throws otherwise). If it is already active nothing is
   * emitted or counted; an injection then takes it over (cause 'injected', new hold).
   * @returns true if the code was newly raised.
   */
  raise(code: number, cause: ErrorCause, nowMs: number, expiresAtMs: number | null): boolean {
    const entry = lookupCode(code);
    const existing = this.#active.get(code);
    if (existing !== undefined) {
      if (cause === 'injected') {
        existing.cause = 'injected';
        existing.expiresAtMs = expiresAtMs;
      }
      return false;
    }
    this.#active.set(code, { entry, cause, expiresAtMs });
    this.#eventsTotal = (this.#eventsTotal + 1) % TWO_POW_32;
    const visible = this.#active.size <= this.slots;
    this.#emit(entry, 'raised', cause, undefined, nowMs, visible);
    return true;
  }

  /** Clears `code` if active. @returns true if it was active. */
  clear(code: number, reason: ClearReason, nowMs: number): boolean {
    const active = this.#active.get(code);
    if (active === undefined) return false;
    const wasVisible = this.visible().includes(code);
    this.#active.delete(code);
    this.#emit(active.entry, 'cleared', active.cause, reason, nowMs, wasVisible);
    return true;
  }

  /** Clears every code whose hold has run out by `nowMs`. */
  expire(nowMs: number): void {
    for (const [code, a] of [...this.#active]) {
      if (a.expiresAtMs !== null && a.expiresAtMs <= nowMs)
        this.clear(code, 'hold-expired', a.expiresAtMs);
    }
  }

  /**
   * Controller restart: every active code clears (events with `clearedBy: 'reboot'`) and the
   * raise counter (error_events_total) restarts at 0.
   */
  reset(nowMs: number): void {
    for (const code of this.codes()) this.clear(code, 'reboot', nowMs);
    this.#eventsTotal = 0;
  }

  onEvent(listener: ErrorListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The last (up to 256) events, oldest first. */
  recent(): readonly ControllerErrorEvent[] {
    return [...this.#recent];
  }

  /**
   * Delivers queued events to the listeners. Called once the model state is consistent. Every
   * listener sees every event; if any listener threw, the first error is rethrown afterwards.
   */
  flush(): void {
    let failure: { error: unknown } | null = null;
    while (this.#pending.length > 0) {
      const event = this.#pending.shift() as ControllerErrorEvent;
      for (const listener of [...this.#listeners]) {
        try {
          listener(event);
        } catch (error) {
          failure ??= { error };
        }
      }
    }
    if (failure !== null) throw failure.error;
  }

  #emit(
    entry: CatalogueEntry,
    state: 'raised' | 'cleared',
    cause: ErrorCause,
    clearedBy: ClearReason | undefined,
    nowMs: number,
    visible: boolean,
  ): void {
    const event: ControllerErrorEvent = {
      code: entry.code,
      name: entry.name,
      severity: entry.severity,
      immediate: entry.immediate,
      state,
      cause,
      ...(clearedBy === undefined ? {} : { clearedBy }),
      modelTimeMs: nowMs,
      wallTimeMs: this.#wallClock(),
      visible,
    };
    this.#recent.push(event);
    if (this.#recent.length > RECENT_EVENTS) this.#recent.shift();
    this.#pending.push(event);
  }
}
