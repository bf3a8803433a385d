/** A full disk: by the spool's quota, and by a real (or injected) ENOSPC. */
import { sleep } from '../processes.js';
import { check, commonChecks, summaries, withRig, type Scenario } from './common.js';

export const diskQuota: Scenario = {
  name: 'disk-full-quota',
  description:
    'the hub is unreachable while the agent fills its spool quota (24 KiB): oldest telemetry is evicted and reported as gaps, alarms are kept; then the network heals',
  run: () =>
    withRig({ maxBytes: 24 * 1024, segmentBytes: 8 * 1024, pollMs: 4 }, async (rig) => {
      const agent = await rig.startAgent();
      await sleep(500);
      rig.proxy.set({ accept: 'refuse' });
      rig.proxy.reset();
      await sleep(4000);
      const inGaps = agent.stats?.inGaps ?? 0;
      rig.proxy.heal();
      await sleep(1000);
      const settled = await rig.settle();
      const h = rig.history();
      const t = h.telemetry.counts;
      return {
        checks: [
          ...commonChecks(rig, h, settled, { gapsAllowed: true }),
          check(
            'the quota was hit: telemetry was evicted',
            t.gapRecords > 0,
            `${t.gapRecords} records in gaps`,
          ),
          check(
            'every alarm raised was accepted and delivered',
            h.alarms.counts.notAccepted === 0 &&
              h.alarms.counts.lost === 0 &&
              h.alarms.counts.gapAccounted === 0,
            `notAccepted=${h.alarms.counts.notAccepted} lost=${h.alarms.counts.lost} inGaps=${h.alarms.counts.gapAccounted}`,
          ),
          check(
            'telemetry loss equals the counted gaps exactly',
            t.gapRecords === t.gapAccountedSeqs,
            `the hub counted ${t.gapRecords} records lost in gaps; ${t.gapAccountedSeqs} accepted records are not stored (${t.overReported} samples stored yet inside a gap)`,
          ),
        ],
        figures: {
          gapRecords: t.gapRecords,
          gapSamples: t.gapAccounted,
          gaps: t.gaps,
          agentInGapsDuringOutage: inGaps,
          alarmsDelivered: h.alarms.counts.stored,
        },
        lines: summaries(h),
      };
    }),
};

/** The small file system of the ENOSPC scenario. */
const SMALL_DISK_BYTES = 48 * 1024;

export const diskEnospc: Scenario = {
  name: 'disk-full-enospc',
  description: `the spool on a ${SMALL_DISK_BYTES / 1024} KiB tmpfs (real ENOSPC; injected ENOSPC where mounting is not allowed) fills while the hub is unreachable: writes fail, the agent keeps running, refused alarms are retried; after healing every alarm is delivered`,
  run: () =>
    withRig({ segmentBytes: 8 * 1024, pollMs: 4 }, async (rig) => {
      const real = rig.mountSmallDisk(SMALL_DISK_BYTES);
      const agent = await rig.startAgent();
      await sleep(500);
      rig.proxy.set({ accept: 'refuse' });
      rig.proxy.reset();
      if (!real) {
        await sleep(1000);
        agent.send({ t: 'fs', enospc: true });
      }
      await sleep(real ? 5000 : 2000);
      if (!real) agent.send({ t: 'fs', enospc: false });
      const refused = agent.stats?.refused ?? 0;
      const alive = agent.alive;
      rig.proxy.heal();
      await sleep(1500);
      const settled = await rig.settle();
      const h = rig.history();
      return {
        checks: [
          ...commonChecks(rig, h, settled, { gapsAllowed: true }),
          check('the disk filled: the spool refused records', refused > 0, `${refused} refused`),
          check('the agent kept running through ENOSPC', alive, alive ? 'alive' : 'dead'),
          check(
            'every alarm raised was delivered after recovery',
            h.alarms.counts.notAccepted === 0 && h.alarms.counts.lost === 0,
            `notAccepted=${h.alarms.counts.notAccepted} lost=${h.alarms.counts.lost}`,
          ),
        ],
        figures: {
          disk: real ? `tmpfs ${SMALL_DISK_BYTES / 1024} KiB` : 'injected ENOSPC',
          recordsRefused: refused,
          samplesNeverAccepted: h.telemetry.counts.notAccepted,
          alarmsDelivered: h.alarms.counts.stored,
        },
        lines: summaries(h),
      };
    }),
};
