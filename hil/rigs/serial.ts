/**
 * The serial service-port face: the simulator's text protocol on a socat PTY pair (needs
 * socat), or a real controller's service port (`rig.serial: { path, baudRate }`). Counters are
 * named and scaled as in the register map; error lines are pushed between polls.
 */
import { serialAdapter, serialCountersFromRegisterMap } from '../../src/index.js';
import { intField, stringField } from './fields.js';
import type { RigFace } from './types.js';

export const serialFace: RigFace = {
  name: 'serial',
  simOptions: { servicePort: true },
  attachSim: async (sim) => {
    if (sim.servicePort === null) throw new Error('the simulator serves no service port');
    return {
      spec: { face: 'serial', path: sim.servicePort.agentPath },
      close: async () => undefined,
    };
  },
  fromHardware: (links, check) => {
    const s = links.serial;
    if (s === undefined) return check.fail('rig.serial', 'the serial face needs rig.serial.path');
    return {
      face: 'serial',
      path: stringField(check, s.path, 'rig.serial.path'),
      baudRate: intField(check, s.baudRate ?? 115_200, 'rig.serial.baudRate', 50, 4_000_000),
    };
  },
  createAdapter: (spec, registerMap) =>
    serialAdapter({
      path: String(spec.path),
      ...(spec.baudRate === undefined ? {} : { baudRate: Number(spec.baudRate) }),
      counters: serialCountersFromRegisterMap(registerMap),
    }),
};
