/**
 * The vendor-SDK face: the simulator's SDK endpoint on a Unix socket, or a real controller's
 * (`rig.sdk: { path }`), reached with the IPC client. Alarms are pushed between polls.
 */
import { IpcSdkClient, vendorSdkAdapter } from '../../src/index.js';
import { stringField } from './fields.js';
import type { RigFace } from './types.js';

export const sdkFace: RigFace = {
  name: 'sdk',
  simOptions: { sdk: true },
  attachSim: async (sim) => {
    if (sim.sdk === null) throw new Error('the simulator serves no SDK endpoint');
    return { spec: { face: 'sdk', path: sim.sdk.path }, close: async () => undefined };
  },
  fromHardware: (links, check) => {
    const s = links.sdk;
    if (s === undefined) return check.fail('rig.sdk', 'the sdk face needs rig.sdk.path');
    return { face: 'sdk', path: stringField(check, s.path, 'rig.sdk.path') };
  },
  createAdapter: (spec) => vendorSdkAdapter(new IpcSdkClient({ path: String(spec.path) })),
};
