/**
 * The faces the harness can drive. Adding one: write `hil/rigs/<face>.ts` exporting a
 * {@link RigFace} and list it here.
 */
import { modbusRtuFace } from './modbus-rtu.js';
import { modbusTcpFace } from './modbus-tcp.js';
import { sdkFace } from './sdk.js';
import { serialFace } from './serial.js';
import type { RigFace } from './types.js';

const FACES: readonly RigFace[] = [modbusTcpFace, modbusRtuFace, serialFace, sdkFace];

export function faceNames(): string[] {
  return FACES.map((f) => f.name);
}

/** The face called `name`; throws a TypeError for an unknown one (scenarios are validated first). */
export function face(name: string): RigFace {
  const found = FACES.find((f) => f.name === name);
  if (!found) throw new TypeError(`no rig face "${name}" (known: ${faceNames().join(', ')})`);
  return found;
}

export type { AdapterSpec, FaultOutcome, Rig, RigEvents, RigFace } from './types.js';
