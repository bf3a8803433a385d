/** Types of the controller model's public surface (see model.ts). */
import type { WorkloadOptions } from './workload.js';

/** The counters the controller publishes, by register-map name, in engineering units. */
export type CounterName =
  | 'exposures_total'
  | 'tube_heat'
  | 'tube_heat_pct'
  | 'detector_temp'
  | 'last_kv'
  | 'last_ma'
  | 'last_ms'
  | 'uptime'
  | 'door_closed'
  | 'tube_mas_total'
  | 'heat_balance'
  | 'error_events_total';

export type Counters = Record<CounterName, number>;

export interface ControllerModelOptions {
  /** PRNG seed of the workload. Default 1. */
  seed?: number;
  /** Room temperature, °C. Default 22. */
  ambientC?: number;
  workload?: Partial<WorkloadOptions>;
  /** Anode heat capacity, HU. Default 300 000. */
  anodeCapacityHu?: number;
  /** Anode cooling time constant, ms of model time. Default 300 000 (5 min). */
  coolingTimeConstantMs?: number;
  /** Detector thermal time constant, ms of model time. Default 240 000 (4 min). */
  detectorTimeConstantMs?: number;
  /** Register slots for active codes. Default 8. */
  errorSlots?: number;
  /** Stamps error events with wall time. Default Date.now. */
  wallClock?: () => number;
}

export interface InjectOptions {
  /** Model-time ms after which the code clears by itself. Default: stays until `clear(code)`. */
  holdMs?: number;
}

export interface ExposeOptions {
  /** Bypass the interlocks (door, overheat), like a service-mode exposure. Default false. */
  force?: boolean;
}

export interface ModelSnapshot {
  modelTimeMs: number;
  counters: Counters;
  /** All active codes in raise order. */
  activeCodes: number[];
  /** The codes shown in register slots (the first `errorSlots` of activeCodes). */
  visibleCodes: number[];
  ambientC: number;
  doorClosed: boolean;
  /** Workload exposures refused by an interlock or the heat-warning rate limit. */
  inhibitedTotal: number;
}
