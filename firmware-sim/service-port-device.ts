/** What the service-port command set reads from the running controller. */
import { codeNamed } from './catalogue.js';
import type { ServicePortDeps } from './service-port.js';
import { formatValue, type ServiceDevice } from './service-port-protocol.js';

const OVERHEAT = codeNamed('TUBE_OVERHEAT');

/** What the command set reads, from the model, its logs and the register map. */
export function serviceDevice(
  { model, logs, registerMap }: ServicePortDeps,
  clock: () => number,
): ServiceDevice {
  return {
    counters: () => {
      const values = model.counters() as unknown as Record<string, number>;
      return registerMap.counters
        .filter((c) => typeof values[c.name] === 'number')
        .map((c) => [c.name, formatValue(values[c.name] as number, c.scale)]);
    },
    activeCodes: () => model.activeCodes(),
    raisesTotal: () => model.counters().error_events_total,
    status: () => {
      const s = model.snapshot();
      const inhibited = !s.doorClosed || s.activeCodes.includes(OVERHEAT);
      return [
        ['model', 'XR-200'],
        ['serial', 'XR200-SIM-0001'],
        ['fw', '2.4.1'],
        ['proto', '1'],
        ['state', inhibited ? 'INHIBITED' : 'READY'],
        ['door', s.doorClosed ? 'closed' : 'open'],
        ['uptime', String(s.counters.uptime)],
        ['active', String(s.activeCodes.length)],
        ['time', String(Math.round(clock()))],
      ];
    },
    listLogs: () => logs.list(),
    readLog: (name, offset, length) => {
      const size = logs.size(name);
      if (size === undefined) return undefined;
      return { bytes: logs.read(name, offset, length) ?? new Uint8Array(), size };
    },
  };
}
