/**
 * The running XR-200 simulator: the state model ticked by a wall-clock interval, its register
 * image, the Modbus TCP face and the control channel, started together and closed together.
 *
 * The register image is refreshed on every tick and, because it tracks the model's revision, on
 * any read after a change (inject, clear, door, ...): a raised code is visible on the very next
 * Modbus read. Error events carry `wallTimeMs`, the wall-clock time at which the model raised or
 * cleared the code, so a harness can measure alarm latency end to end.
 */
import {
  startControlServer,
  handleLine,
  type ControlServer,
  type ControlTarget,
} from './control.js';
import { SimBadArgumentError } from './errors.js';
import {
  ControllerModel,
  type ErrorListener,
  type ExposeOptions,
  type InjectOptions,
  type ModelSnapshot,
} from './model.js';
import { startModbusTcp, type ModbusTcpFace } from './modbus-tcp.js';
import {
  defaultRegisterMap,
  parseRegisterMap,
  RegisterImage,
  type RegisterMap,
  type RegisterTable,
} from './registers.js';
import type { WorkloadOptions } from './workload.js';

export interface SimulatorOptions {
  /** Workload PRNG seed. Default 1. */
  seed?: number;
  /** Interface for both listeners. Default 127.0.0.1. */
  host?: string;
  /** Modbus TCP port; 0 or absent picks a free one. */
  modbusPort?: number;
  /** Control channel port; 0 or absent picks a free one; false runs no control server. */
  controlPort?: number | false;
  /** Wall-clock ms between model steps. Default 100; 0 = no ticking (drive `model.step` yourself). */
  tickMs?: number;
  /** Model ms per wall-clock ms. Default 1; >1 accelerates the model. */
  timeScale?: number;
  /** Extra delay before every Modbus response, ms. Default 0. */
  modbusDelayMs?: number;
  workload?: Partial<WorkloadOptions>;
  /** Room temperature at boot, °C. Default 22. */
  ambientC?: number;
  /** A register map to serve instead of protocols/register-map.json (validated). */
  registerMap?: unknown;
}

export interface Simulator {
  readonly host: string;
  readonly modbusPort: number;
  /** null when started with `controlPort: false`. */
  readonly controlPort: number | null;
  readonly unitId: number;
  readonly registerMap: RegisterMap;
  readonly model: ControllerModel;
  /** Extra delay before every Modbus response, ms; may be changed at any time. */
  modbusDelayMs: number;
  /** Raises a catalogue code (SimUnknownErrorCodeError otherwise). @returns true if newly raised. */
  inject(code: number, options?: InjectOptions): boolean;
  /** Clears an active code. @returns true if it was active. */
  clear(code: number): boolean;
  /** Subscribes to raise/clear events. @returns an unsubscribe function. */
  onError(listener: ErrorListener): () => void;
  /** Engineering values by counter name, active codes and the rest of the model state. */
  snapshot(): ModelSnapshot;
  /** The registers a Modbus master would read (throws SimModbusExceptionError likewise). */
  readRegisters(table: RegisterTable, address: number, length: number): number[];
  /** Runs one control-channel line and returns the reply line. */
  command(line: string): string;
  /** Stops ticking and closes both listeners. Idempotent. */
  close(): Promise<void>;
}

function checkPort(what: string, port: number | undefined): number {
  const p = port ?? 0;
  if (!Number.isInteger(p) || p < 0 || p > 0xffff)
    throw new SimBadArgumentError(`${what} must be 0..65535`);
  return p;
}

function checkNonNegative(what: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new SimBadArgumentError(`${what} must be ≥ 0`);
  return value;
}

class RunningSimulator implements Simulator {
  readonly host: string;
  readonly unitId: number;
  readonly registerMap: RegisterMap;
  readonly model: ControllerModel;
  readonly #image: RegisterImage;
  readonly #target: ControlTarget;
  #imageRevision = -1;
  #modbus: ModbusTcpFace | null = null;
  #control: ControlServer | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: SimulatorOptions, map: RegisterMap) {
    this.host = options.host ?? '127.0.0.1';
    this.registerMap = map;
    this.unitId = map.unitId;
    this.model = new ControllerModel({
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.ambientC === undefined ? {} : { ambientC: options.ambientC }),
      ...(options.workload === undefined ? {} : { workload: options.workload }),
      errorSlots: map.errors.slots,
    });
    this.#image = new RegisterImage(map, Object.keys(this.model.counters()));
    const model = this.model;
    this.#target = {
      inject: (code, o) => this.inject(code, o),
      clear: (code) => this.clear(code),
      setExposures: (n) => model.setExposures(n),
      setAmbient: (c) => model.setAmbient(c),
      setDoor: (closed) => model.setDoor(closed),
      expose: (kv, ma, ms, o: ExposeOptions) => model.expose(kv, ma, ms, o),
      activeCodes: () => model.activeCodes(),
      status: () => this.snapshot(),
    };
  }

  async start(options: SimulatorOptions): Promise<void> {
    const timeScale = options.timeScale ?? 1;
    if (!(Number.isFinite(timeScale) && timeScale > 0))
      throw new SimBadArgumentError('timeScale must be > 0');
    const tickMs = checkNonNegative('tickMs', options.tickMs ?? 100);
    const modbusPort = checkPort('modbusPort', options.modbusPort);
    const controlPort =
      options.controlPort === false ? false : checkPort('controlPort', options.controlPort);
    this.#modbus = await startModbusTcp({
      host: this.host,
      port: modbusPort,
      unitId: this.unitId,
      delayMs: checkNonNegative('modbusDelayMs', options.modbusDelayMs ?? 0),
      read: (table, address, length) => this.readRegisters(table, address, length),
    });
    try {
      if (controlPort !== false) {
        this.#control = await startControlServer({
          target: this.#target,
          host: this.host,
          port: controlPort,
        });
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    if (tickMs > 0) {
      let last = performance.now();
      this.#timer = setInterval(() => {
        const now = performance.now();
        this.model.step((now - last) * timeScale);
        last = now;
        this.#refresh();
      }, tickMs);
    }
    this.#refresh();
  }

  get modbusPort(): number {
    return this.#modbus?.port ?? 0;
  }

  get controlPort(): number | null {
    return this.#control?.port ?? null;
  }

  get modbusDelayMs(): number {
    return this.#modbus?.delayMs ?? 0;
  }

  set modbusDelayMs(ms: number) {
    checkNonNegative('modbusDelayMs', ms);
    if (this.#modbus !== null) this.#modbus.delayMs = ms;
  }

  inject(code: number, options: InjectOptions = {}): boolean {
    const raised = this.model.inject(code, options);
    this.#refresh();
    return raised;
  }

  clear(code: number): boolean {
    const cleared = this.model.clear(code);
    this.#refresh();
    return cleared;
  }

  onError(listener: ErrorListener): () => void {
    return this.model.onError(listener);
  }

  snapshot(): ModelSnapshot {
    return this.model.snapshot();
  }

  readRegisters(table: RegisterTable, address: number, length: number): number[] {
    this.#refresh();
    return this.#image.read(table, address, length);
  }

  command(line: string): string {
    return handleLine(this.#target, line);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#timer !== null) clearInterval(this.#timer);
      this.#timer = null;
      await Promise.all([this.#modbus?.close(), this.#control?.close()]);
    })();
    return this.#closing;
  }

  /** Re-encodes the register image if the model changed since the last encoding. */
  #refresh(): void {
    if (this.model.revision === this.#imageRevision) return;
    this.#image.update(this.model.counters(), this.model.visibleCodes());
    this.#imageRevision = this.model.revision;
  }
}

/** Starts a simulated XR-200 controller; resolves once both listeners accept connections. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const map =
    options.registerMap === undefined ? defaultRegisterMap : parseRegisterMap(options.registerMap);
  const sim = new RunningSimulator(options, map);
  await sim.start(options);
  return sim;
}
