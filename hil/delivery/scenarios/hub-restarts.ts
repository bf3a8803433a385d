/** Hub restarts: graceful, kill -9, and kill -9 between the durable commit and the ack. */
import { sleep } from '../processes.js';
import { check, commonChecks, rnd, summaries, withRig, type Scenario } from './common.js';

type HubRestart = 'graceful' | 'kill-9' | 'kill-between-commit-and-ack';
const HUB_RESTARTS: HubRestart[] = ['kill-between-commit-and-ack', 'kill-9', 'graceful'];

export const hubRestarts: Scenario = {
  name: 'hub-restarts',
  description:
    'restart the hub under traffic: gracefully, with kill -9 at a random moment, and with kill -9 inside onCommitted (after the durable commit, before the ack)',
  run: (sizes, log) =>
    withRig({}, async (rig) => {
      const agent = await rig.startAgent();
      const done: Record<string, number> = {};
      let commitCrashes = 0;
      let unrecovered = 0;
      for (let i = 0; i < sizes.hubRestarts; i++) {
        const kind = HUB_RESTARTS[i % HUB_RESTARTS.length]!;
        await sleep(rnd(200, 600));
        if (kind === 'graceful') {
          await rig.hub!.stop();
        } else if (kind === 'kill-9') {
          await rig.hub!.kill();
        } else {
          // Restart it armed: it kills itself inside its N-th onCommitted.
          await rig.hub!.stop();
          const opens = agent.tunnelOpens;
          const hub = await rig.startHub({ crashOnCommit: rnd(2, 25) });
          await agent.reopened(opens, 15_000);
          const exit = await Promise.race([hub.exited, sleep(8000).then(() => undefined)]);
          if (exit?.signal === 'SIGKILL') commitCrashes++;
          else await hub.kill();
        }
        done[kind] = (done[kind] ?? 0) + 1;
        await sleep(rnd(100, 500));
        const opens = agent.tunnelOpens;
        await rig.startHub();
        if (!(await agent.reopened(opens, 15_000))) unrecovered++;
      }
      log(`  ${sizes.hubRestarts} hub restarts, ${commitCrashes} between commit and ack`);
      const settled = await rig.settle();
      const h = rig.history();
      const armed = done['kill-between-commit-and-ack'] ?? 0;
      return {
        checks: [
          ...commonChecks(rig, h, settled),
          check(
            'the agent reconnected after every restart',
            unrecovered === 0,
            `${unrecovered} did not`,
          ),
          check(
            'every armed hub died between commit and ack',
            commitCrashes === armed,
            `${commitCrashes}/${armed}`,
          ),
        ],
        figures: {
          ...Object.fromEntries(Object.entries(done).map(([k, v]) => [`restarts.${k}`, v])),
          commitCrashes,
          resendsDeduplicatedByHub: h.hubDuplicates,
          lost: h.telemetry.counts.lost + h.alarms.counts.lost,
          duplicates: h.telemetry.counts.duplicates + h.alarms.counts.duplicates,
        },
        lines: summaries(h),
      };
    }),
};
