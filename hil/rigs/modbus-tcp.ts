/** The Modbus TCP face: the simulator's ServerTCP, or a real controller at host:port. */
import { modbusTcpAdapter } from '../../src/index.js';
import type { AdapterSpec, RigFace } from './types.js';
import { intField, stringField } from './fields.js';

export const modbusTcpFace: RigFace = {
  name: 'modbus-tcp',
  attachSim: async (sim) => ({
    spec: { face: 'modbus-tcp', host: sim.host, port: sim.modbusPort, unitId: sim.unitId },
    close: async () => undefined,
  }),
  fromHardware: (links, check) => {
    const m = links.modbus;
    if (m === undefined || 'rtu' in m)
      return check.fail(
        'rig.modbus',
        'the modbus-tcp face needs rig.modbus.host (and port, unitId)',
      );
    const spec: AdapterSpec = {
      face: 'modbus-tcp',
      host: stringField(check, m.host, 'rig.modbus.host'),
      port: intField(check, m.port ?? 502, 'rig.modbus.port', 1, 65_535),
    };
    if (m.unitId !== undefined)
      spec.unitId = intField(check, m.unitId, 'rig.modbus.unitId', 0, 255);
    return spec;
  },
  createAdapter: (spec, registerMap) =>
    modbusTcpAdapter({
      host: String(spec.host),
      port: Number(spec.port),
      ...(spec.unitId === undefined ? {} : { unitId: Number(spec.unitId) }),
      registerMap,
    }),
};
