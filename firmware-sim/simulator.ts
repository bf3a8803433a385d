/**
 * The running XR-200 simulator: the state model ticked by a wall-clock interval, its register
 * image, the Modbus TCP face (and, on request, the Modbus RTU face on a PTY) and the control
 * channel, started together and closed together. Both Modbus faces share one set of armed
 * faults (`modbusFaults`, modbus-faults.ts).
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
import { ModbusFaults } from './modbus-faults.js';
import { runModbusFaultCommand } from './modbus-faults-control.js';
import { startModbusRtu, type ModbusRtuFace, type ModbusRtuOptions } from './modbus-rtu.js';
import { ControllerLogs, type ControllerLogsOptions } from './logs.js';
import { startServicePort, type ServicePort, type ServicePortOptions } from './service-port.js';
import { runSerialFaultCommand } from './service-port-control.js';
import { ControllerClock, ModelFaults, type PowerState } from './model-faults.js';
import { runFaultCommand } from './model-faults-control.js';
import { runSdkFaultCommand } from './sdk-control.js';
import { startSdkEndpoint, type SdkEndpoint, type SdkEndpointOptions } from './sdk-endpoint.js';
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
  /**
   * Also serve the vendor-SDK endpoint on a Unix socket (sdk-endpoint.ts): `true` for a socket in
   * a fresh temp directory, or its options. Default: not served.
   */
  sdk?: boolean | Omit<SdkEndpointOptions, 'device'>;
  /**
   * Also serve the serial service port on a socat PTY pair (service-port.ts): `true` for links in
   * a fresh temp directory, or its options. Needs socat. Default: not served.
   */
  servicePort?: boolean | ServicePortOptions;
  /** The controller's rotating log files (logs.ts); the seed defaults to `seed`. */
  logs?: Partial<ControllerLogsOptions>;
  /**
   * Also serve Modbus RTU on a socat PTY pair (modbus-rtu.ts): `true` for links in a fresh temp
   * directory, or its options. Needs socat. Default: not served.
   */
  modbusRtu?: boolean | Omit<ModbusRtuOptions, 'unitId' | 'read' | 'faults' | 'delayMs'>;
}

export interface Simulator {
  readonly host: string;
  readonly modbusPort: number;
  /** null when started with `controlPort: false`. */
  readonly controlPort: number | null;
  readonly unitId: number;
  readonly registerMap: RegisterMap;
  readonly model: ControllerModel;
  /**
   * Model-level fault injection: error storms, counter wrap, RTC jump, reboot (model-faults.ts).
   * The tick steps the model through it; with `tickMs: 0` call `faults.step(ms)`.
   */
  readonly faults: ModelFaults;
  /** Extra delay before every Modbus response, ms; may be changed at any time. */
  modbusDelayMs: number;
  /** The vendor-SDK endpoint (socket path, fault injection, stats); null unless started with `sdk`. */
  readonly sdk: SdkEndpoint | null;
  /** The controller's rotating log files (logs.ts). */
  readonly logs: ControllerLogs;
  /** The serial service port (agentPath, faults, stats); null unless started with `servicePort`. */
  readonly servicePort: ServicePort | null;
  /** The Modbus RTU face (`path` is what a master opens); null unless started with `modbusRtu`. */
  readonly modbusRtu: ModbusRtuFace | null;
  /** Faults armed on the Modbus faces (TCP and RTU): `add`, `clear`, `list`, `fired`. */
  readonly modbusFaults: ModbusFaults;
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
  readonly faults: ModelFaults;
  readonly logs: ControllerLogs;
  readonly #image: RegisterImage;
  readonly #target: ControlTarget;
  #imageRevision = -1;
  #modbus: ModbusTcpFace | null = null;
  #control: ControlServer | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closing: Promise<void> | null = null;
  /** Faces closing and reopening around a reboot, in order. Never rejects. */
  #faceOps: Promise<void> = Promise.resolve();
  #sdk: SdkEndpoint | null = null;
  /** The SDK endpoint suspending and resuming around a reboot, in order. Never rejects. */
  #sdkOps: Promise<void> = Promise.resolve();
  #servicePort: ServicePort | null = null;
  #modbusRtu: ModbusRtuFace | null = null;
  readonly modbusFaults: ModbusFaults;

  constructor(options: SimulatorOptions, map: RegisterMap) {
    this.host = options.host ?? '127.0.0.1';
    this.registerMap = map;
    this.unitId = map.unitId;
    const clock = new ControllerClock();
    this.model = new ControllerModel({
      wallClock: () => clock.now(),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.ambientC === undefined ? {} : { ambientC: options.ambientC }),
      ...(options.workload === undefined ? {} : { workload: options.workload }),
      errorSlots: map.errors.slots,
    });
    this.faults = new ModelFaults(this.model, clock);
    this.logs = new ControllerLogs(this.model, {
      seed: options.seed ?? 1,
      ...options.logs,
      power: this.faults,
    });
    this.#image = new RegisterImage(map, Object.keys(this.model.counters()));
    this.modbusFaults = new ModbusFaults({ seed: options.seed ?? 1 });
    const model = this.model;
    this.#target = {
      inject: (code, o) => this.inject(code, o),
      clear: (code) => this.clear(code),
      setExposures: (n) => model.setExposures(n),
      setAmbient: (c) => model.setAmbient(c),
      setDoor: (closed) => model.setDoor(closed),
      setDetectorLink: (connected) => model.setDetectorLink(connected),
      expose: (kv, ma, ms, o: ExposeOptions) => model.expose(kv, ma, ms, o),
      activeCodes: () => model.activeCodes(),
      status: () => this.snapshot(),
      fault: (c) => {
        const reply = runFaultCommand(this.faults, c);
        this.#refresh();
        return reply;
      },
      sdkFault: (c) => runSdkFaultCommand(this.#sdk, c),
      serialFault: (c) => runSerialFaultCommand(this.#servicePort, c),
      modbusFault: (c) => runModbusFaultCommand(this.modbusFaults, c),
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
      faults: this.modbusFaults,
    });
    try {
      if (controlPort !== false) {
        this.#control = await startControlServer({
          target: this.#target,
          host: this.host,
          port: controlPort,
        });
      }
      if (options.sdk !== undefined && options.sdk !== false) {
        const sdkOptions = options.sdk === true ? {} : options.sdk;
        this.#sdk = await startSdkEndpoint({ ...sdkOptions, device: this.model });
      }
      if (options.servicePort !== undefined && options.servicePort !== false) {
        this.#servicePort = await startServicePort(
          {
            model: this.model,
            logs: this.logs,
            registerMap: this.registerMap,
            power: this.faults,
            clock: () => this.faults.clock.now(),
          },
          { seed: options.seed, ...(options.servicePort === true ? {} : options.servicePort) },
        );
      }
      if (options.modbusRtu !== undefined && options.modbusRtu !== false) {
        this.#modbusRtu = await startModbusRtu({
          ...(options.modbusRtu === true ? {} : options.modbusRtu),
          unitId: this.unitId,
          delayMs: this.#modbus.delayMs,
          read: (table, address, length) => this.readRegisters(table, address, length),
          faults: this.modbusFaults,
        });
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.faults.onPower((state) => this.#powerChanged(state));
    this.faults.onPower((state) => this.#sdkPowerChanged(state));
    if (tickMs > 0) {
      let last = performance.now();
      this.#timer = setInterval(() => {
        const now = performance.now();
        this.faults.step((now - last) * timeScale);
        last = now;
        this.#refresh();
        this.logs.sync();
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

  get sdk(): SdkEndpoint | null {
    return this.#sdk;
  }

  get servicePort(): ServicePort | null {
    return this.#servicePort;
  }

  get modbusRtu(): ModbusRtuFace | null {
    return this.#modbusRtu;
  }

  get modbusDelayMs(): number {
    return this.#modbus?.delayMs ?? 0;
  }

  set modbusDelayMs(ms: number) {
    checkNonNegative('modbusDelayMs', ms);
    if (this.#modbus !== null) this.#modbus.delayMs = ms;
    if (this.#modbusRtu !== null) this.#modbusRtu.delayMs = ms;
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
      await this.#faceOps;
      await this.#sdkOps;
      await Promise.all([
        this.#modbus?.close(),
        this.#control?.close(),
        this.#sdk?.close(),
        this.#servicePort?.close(),
        this.#modbusRtu?.close(),
      ]);
      this.logs.close();
    })();
    return this.#closing;
  }

  /** A reboot closes the Modbus TCP face (and its connections), then listens on the same port. */
  #powerChanged(state: PowerState): void {
    this.#faceOps = this.#faceOps.then(async () => {
      if (this.#modbusRtu !== null) this.#modbusRtu.paused = state === 'down';
      const face = this.#modbus;
      if (face === null || this.#closing !== null) return;
      if (state === 'down') return face.close();
      try {
        this.#modbus = await startModbusTcp({
          host: this.host,
          port: face.port,
          unitId: this.unitId,
          delayMs: face.delayMs,
          read: (table, address, length) => this.readRegisters(table, address, length),
          faults: this.modbusFaults,
        });
      } catch (err) {
        this.faults.reportFaceError('modbus-tcp', err);
      }
    });
  }

  /** A reboot takes the SDK endpoint down (connections closed), then it listens on the same path. */
  #sdkPowerChanged(state: PowerState): void {
    this.#sdkOps = this.#sdkOps.then(async () => {
      const sdk = this.#sdk;
      if (sdk === null || this.#closing !== null) return;
      try {
        await (state === 'down' ? sdk.suspend() : sdk.resume());
      } catch (err) {
        this.faults.reportFaceError('vendor-sdk', err);
      }
    });
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
