/**
 * Faults together, as they come in a hospital: the agent is killed (a power cut, a watchdog
 * reset) while the network is misbehaving, and now and then the hub goes down in the same
 * moment. Each round applies one network fault through the proxy, lets traffic run into it,
 * then kills the agent with kill -9, sometimes the hub too, and restarts them, with the fault
 * healed only half of the time. The checker then judges the whole history at once.
 */
import { sleep } from '../processes.js';
import {
  applyNetFault,
  check,
  commonChecks,
  rnd,
  summaries,
  withRig,
  type NetKind,
  type Scenario,
} from './common.js';

const FAULTS: readonly NetKind[] = [
  'drop',
  'half-open',
  'reset',
  'slicing',
  'timeout',
  'latency',
  'bandwidth',
];

/** Every fourth round the hub dies too (kill -9 or kill between its commit and its ack). */
const HUB_EVERY = 4;

export const combinedFaults: Scenario = {
  name: 'kills-under-network-faults',
  description:
    'kill -9 the agent while a network fault is active (drops, half-open, resets, slicing, connect timeouts, latency, bandwidth), every fourth round the hub too; restart with the fault still active half of the time',
  run: (sizes, log) =>
    withRig({}, async (rig) => {
      const p = rig.proxy;
      const byFault: Record<string, number> = {};
      let hubKills = 0;
      let commitCrashes = 0;
      let armedHubs = 0;
      let unrecovered = 0;
      await rig.startAgent({}, true);
      for (let i = 0; i < sizes.combinedRounds; i++) {
        const fault = FAULTS[i % FAULTS.length]!;
        applyNetFault(p, fault, i, { resetPerChunk: 0.05, resetNow: false });
        byFault[fault] = (byFault[fault] ?? 0) + 1;
        await sleep(rnd(200, 900));
        await rig.killAgent();
        const hubToo = i % HUB_EVERY === HUB_EVERY - 1;
        if (hubToo) {
          hubKills++;
          await rig.hub!.kill();
        }
        // Every other hub restart (the first, third, …) is armed to die inside its commit,
        // before its ack; it needs a healed network to get traffic to commit.
        const armed = hubToo && hubKills % 2 === 1;
        // Otherwise, half of the time the agent boots into the same broken network.
        const healFirst = armed || Math.random() < 0.5;
        if (healFirst) p.heal();
        if (hubToo) {
          if (armed) armedHubs++;
          const hub = await rig.startHub(armed ? { crashOnCommit: rnd(2, 15) } : {});
          if (armed) {
            // An agent to feed it; it is killed with the hub's death, as the round goes on.
            await rig.startAgent({}, true);
            const exit = await Promise.race([hub.exited, sleep(6000).then(() => undefined)]);
            if (exit?.signal === 'SIGKILL') commitCrashes++;
            else await hub.kill();
            await rig.killAgent();
            await rig.startHub();
          }
        }
        const agent = await rig.startAgent({}, true);
        if (!healFirst) {
          await sleep(rnd(200, 600));
          p.heal();
        }
        if (!(await agent.reopened(0, 15_000))) unrecovered++;
        if ((i + 1) % 10 === 0) log(`  ${i + 1}/${sizes.combinedRounds} rounds`);
      }
      const settled = await rig.settle();
      const h = rig.history();
      return {
        checks: [
          ...commonChecks(rig, h, settled, { agentKilled: true }),
          check(
            'the agent reached the hub after every round',
            unrecovered === 0,
            `${unrecovered} did not`,
          ),
          check(
            'every armed hub died between commit and ack',
            commitCrashes === armedHubs,
            `${commitCrashes}/${armedHubs}`,
          ),
        ],
        figures: {
          rounds: sizes.combinedRounds,
          ...Object.fromEntries(Object.entries(byFault).map(([k, v]) => [`faults.${k}`, v])),
          hubKills,
          armedHubs,
          commitCrashes,
          boots: rig.boots,
          resendsDeduplicatedByHub: h.hubDuplicates,
          lost: h.telemetry.counts.lost + h.alarms.counts.lost,
          duplicates: h.telemetry.counts.duplicates + h.alarms.counts.duplicates,
        },
        lines: summaries(h),
      };
    }),
};
