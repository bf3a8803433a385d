/**
 * The Modbus RTU face: the simulator's RTU slave on a socat PTY pair (needs socat), or a real
 * controller on a serial line (`rig.modbus.rtu: { path, baudRate, parity }`).
 */
import { modbusRtuAdapter } from '../../src/index.js';
import { intField, stringField } from './fields.js';
import type { AdapterSpec, RigFace } from './types.js';

const PARITIES = ['none', 'even', 'odd'] as const;

export const modbusRtuFace: RigFace = {
  name: 'modbus-rtu',
  simOptions: { modbusRtu: true },
  attachSim: async (sim) => {
    if (sim.modbusRtu === null) throw new Error('the simulator serves no Modbus RTU face');
    return {
      spec: { face: 'modbus-rtu', path: sim.modbusRtu.path, unitId: sim.unitId },
      close: async () => undefined,
    };
  },
  fromHardware: (links, check) => {
    const rtu = links.modbus?.rtu;
    if (typeof rtu !== 'object' || rtu === null)
      return check.fail('rig.modbus.rtu', 'the modbus-rtu face needs rig.modbus.rtu.path');
    const r = rtu as Record<string, unknown>;
    const spec: AdapterSpec = {
      face: 'modbus-rtu',
      path: stringField(check, r.path, 'rig.modbus.rtu.path'),
      baudRate: intField(check, r.baudRate ?? 19_200, 'rig.modbus.rtu.baudRate', 50, 4_000_000),
    };
    if (r.parity !== undefined)
      spec.parity = check.oneOf(r.parity, 'rig.modbus.rtu.parity', PARITIES);
    const unit = r.unitId ?? links.modbus?.unitId;
    if (unit !== undefined) spec.unitId = intField(check, unit, 'rig.modbus.unitId', 1, 247);
    return spec;
  },
  createAdapter: (spec, registerMap) =>
    modbusRtuAdapter({
      path: String(spec.path),
      ...(spec.baudRate === undefined ? {} : { baudRate: Number(spec.baudRate) }),
      ...(spec.parity === undefined ? {} : { parity: spec.parity as (typeof PARITIES)[number] }),
      ...(spec.unitId === undefined ? {} : { unitId: Number(spec.unitId) }),
      registerMap,
    }),
};
