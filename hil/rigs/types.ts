/**
 * The rig layer. A *face* is one way the agent reaches the controller (Modbus TCP, Modbus RTU,
 * the serial service port, the vendor SDK); each is one small module in this folder exporting
 * a {@link RigFace}, listed in index.ts. A *rig* is what the faults are applied to: the
 * simulator (sim.ts) or a real controller (hardware.ts).
 */
import type { Simulator, SimulatorOptions } from '../../firmware-sim/index.js';
import type { DeviceAdapter, RegisterMap } from '../../src/index.js';
import type { FaultSpec } from '../scenario.js';
import type { Checker } from '../validate.js';

/**
 * Where and how the agent reaches a face. Plain JSON: it crosses into the agent process, where
 * the same face module turns it into an adapter.
 */
export interface AdapterSpec {
  face: string;
  [field: string]: unknown;
}

/** A hardware rig's link sections after environment references are expanded. */
export type ResolvedLinks = Record<string, Record<string, unknown>>;

export interface RigFace {
  readonly name: string;
  /** Options the simulator needs to serve this face (merged into startSimulator's). */
  readonly simOptions?: Partial<SimulatorOptions>;
  /**
   * Sim rig: makes the face reachable on a running simulator (starting whatever it needs, e.g.
   * a PTY pair) and says how the agent reaches it.
   */
  attachSim(sim: Simulator): Promise<{ spec: AdapterSpec; close(): Promise<void> }>;
  /**
   * Hardware rig: how the agent reaches the real controller, from the rig's link sections.
   * Bad values fail through `check` (a HilScenarioError naming the path).
   */
  fromHardware(links: ResolvedLinks, check: Checker): AdapterSpec;
  /** In the agent process: the adapter for `spec`. */
  createAdapter(spec: AdapterSpec, registerMap: RegisterMap): DeviceAdapter;
}

export type FaultOutcome =
  | { status: 'applied'; note?: string }
  | { status: 'skipped'; note: string }
  | { status: 'failed'; note: string };

/** What the runner records from the rig as it happens (runner's clock, `Date.now()`). */
export interface RigEvents {
  /** The controller raised a code (sim rigs only; `visible`: it got a register slot). */
  raised(code: number, atMs: number, visible: boolean): void;
  /** The controller went down or came back (sim reboot). */
  power(state: 'up' | 'down', atMs: number): void;
}

export interface Rig {
  readonly kind: 'sim' | 'hardware';
  /** One line for the report: what the agent talks to. */
  readonly description: string;
  /** How the agent reaches the controller. */
  readonly adapter: AdapterSpec;
  /** The register map and error catalogue the agent is configured with (JSON). */
  readonly registerMapJson: unknown;
  readonly errorCatalogueJson: unknown;
  /** The running simulator, on sim rigs. */
  readonly sim: Simulator | undefined;
  applyFault(fault: FaultSpec): Promise<FaultOutcome>;
  close(): Promise<void>;
}
