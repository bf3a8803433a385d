/**
 * Realistic inputs for the benches: the XR-200 register map, an in-memory Modbus master, and
 * device snapshots produced the way the agent produces them - the firmware-sim controller model
 * encodes its counters into its own register image, and the agent's real ModbusAdapter reads
 * and decodes them through the register map (so raw values, scales and units are exactly what
 * the agent would see on the bus).
 */
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import {
  ControllerModel,
  RegisterImage as SimRegisterImage,
  defaultRegisterMap as simRegisterMap,
} from '../firmware-sim/index.js';
import {
  ModbusAdapter,
  parseErrorCatalogue,
  parseRegisterMap,
  type AdapterHealth,
  type DeviceSnapshot,
  type ModbusClient,
  type RegisterMap,
  type RegisterTable,
} from '../src/index.js';

/** Device id used on every benchmarked frame (the demo's, 15 characters). */
export const DEVICE_ID = 'XR200-DEMO-0001';
/** Wall-clock start of simulated runs: fixed, so sizes are reproducible (13-digit Unix ms). */
export const START_MS = Date.parse('2026-01-05T08:00:00.000Z');

export const xr200Map: RegisterMap = parseRegisterMap(registerMapJson);
export const catalogue = parseErrorCatalogue(catalogueJson);

/**
 * A Modbus master that answers at once (a resolved promise, no timer, no I/O) from `read`.
 * Stands in for the bus so that what is timed is the agent's own work.
 */
export class MemoryModbusClient implements ModbusClient {
  readonly kind = 'memory';
  #open = false;
  readonly #read: (table: RegisterTable, address: number, count: number) => number[];

  constructor(read: (table: RegisterTable, address: number, count: number) => number[]) {
    this.#read = read;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  open(): Promise<void> {
    this.#open = true;
    return Promise.resolve();
  }

  read(table: RegisterTable, address: number, count: number): Promise<number[]> {
    return Promise.resolve(this.#read(table, address, count));
  }

  close(): Promise<void> {
    this.#open = false;
    return Promise.resolve();
  }
}

export interface SimulatedPoll {
  snapshot: DeviceSnapshot;
  /** Adapter health right after the read (what the batcher is given). */
  health: AdapterHealth;
}

/**
 * `count` polls of a simulated XR-200, `stepMs` of model time apart: the model steps, its
 * register image is refreshed from `model.counters()` and the visible error codes, and the
 * agent's ModbusAdapter reads a snapshot over the in-memory master. Bounded by `count`.
 */
export async function simulatePolls(options: {
  seed: number;
  count: number;
  stepMs: number;
}): Promise<SimulatedPoll[]> {
  let clock = START_MS;
  const model = new ControllerModel({ seed: options.seed, wallClock: () => clock });
  const image = new SimRegisterImage(simRegisterMap, Object.keys(model.counters()));
  const adapter = new ModbusAdapter({
    client: new MemoryModbusClient((table, address, count) => image.read(table, address, count)),
    registerMap: xr200Map,
    now: () => clock,
  });
  await adapter.connect();
  const polls: SimulatedPoll[] = [];
  for (let i = 0; i < options.count; i++) {
    model.step(options.stepMs);
    clock += options.stepMs;
    image.update(model.counters(), model.visibleCodes());
    const snapshot = await adapter.readSnapshot();
    polls.push({ snapshot, health: adapter.health() });
  }
  await adapter.close();
  return polls;
}

/**
 * The same sample as peer agents commonly send it: one JSON object per poll with the device
 * id, an ISO-8601 timestamp and every counter as `{name, value, unit}` (engineering value).
 */
export interface JsonSample {
  deviceId: string;
  timestamp: string;
  counters: Array<{ name: string; value: number; unit: string }>;
}

export function jsonSample(deviceId: string, snapshot: DeviceSnapshot): JsonSample {
  return {
    deviceId,
    timestamp: new Date(snapshot.atMs).toISOString(),
    counters: snapshot.counters.map((c) => ({ name: c.name, value: c.value, unit: c.unit })),
  };
}

/** UTF-8 bytes of `JSON.stringify(value)`. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
