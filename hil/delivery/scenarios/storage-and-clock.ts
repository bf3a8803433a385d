/** fsync EIO injected into the agent's spool, and jumps of the agent's clock. */
import { sleep } from '../processes.js';
import { check, commonChecks, rnd, summaries, withRig, type Scenario } from './common.js';

export const fsyncEio: Scenario = {
  name: 'fsync-eio',
  description:
    'fsync fails with EIO (3 in a row, several times) under traffic: the agent keeps running and nothing it did not accept reaches the hub',
  run: (sizes) =>
    withRig({}, async (rig) => {
      const agent = await rig.startAgent();
      for (let i = 0; i < sizes.eioEpisodes; i++) {
        await sleep(rnd(400, 900));
        agent.send({ t: 'fs', failSyncs: 3 });
      }
      // The last episode's refused alarms are held for retry while the agent is asked to stop.
      await sleep(300);
      const failures = agent.stats?.syncFailures ?? 0;
      const refused = agent.stats?.refused ?? 0;
      const alive = agent.alive;
      const settled = await rig.settle();
      const h = rig.history();
      return {
        checks: [
          ...commonChecks(rig, h, settled),
          check('fsync failures were injected', failures >= sizes.eioEpisodes * 3, failures),
          check('the agent kept running', alive, alive ? 'alive' : 'dead'),
          check(
            'nothing not accepted reached the hub',
            h.telemetry.counts.recovered === 0 && h.alarms.counts.recovered === 0,
            `stored but never accepted: ${h.telemetry.counts.recovered} samples, ${h.alarms.counts.recovered} alarms`,
          ),
          check(
            'every alarm raised was delivered',
            h.alarms.counts.notAccepted === 0,
            h.alarms.counts.notAccepted,
          ),
        ],
        figures: {
          fsyncFailures: failures,
          recordsRefused: refused,
          samplesNeverAccepted: h.telemetry.counts.notAccepted,
        },
        lines: summaries(h),
      };
    }),
};

export const clockJumps: Scenario = {
  name: 'clock-jumps',
  description: "the agent's clock jumps ±24 h under traffic (and back): nothing lost, no crash",
  run: (sizes) =>
    withRig({}, async (rig) => {
      const agent = await rig.startAgent();
      const DAY = 24 * 3600 * 1000;
      const offsets: number[] = [];
      for (let i = 0; i < sizes.clockJumps; i++) {
        const offset = [DAY, 0, -DAY, DAY, -DAY, 0][i % 6]!;
        agent.send({ t: 'clock', offsetMs: offset });
        offsets.push(offset / 3600_000);
        await sleep(rnd(500, 900));
      }
      agent.send({ t: 'clock', offsetMs: 0 });
      await sleep(500);
      const alive = agent.alive;
      const settled = await rig.settle();
      const h = rig.history();
      return {
        checks: [
          ...commonChecks(rig, h, settled),
          check('the agent kept running', alive, alive ? 'alive' : 'dead'),
        ],
        figures: {
          jumps: sizes.clockJumps,
          offsetsHours: offsets.join(' '),
          tunnelOpens: agent.tunnelOpens,
        },
        lines: summaries(h),
      };
    }),
};
