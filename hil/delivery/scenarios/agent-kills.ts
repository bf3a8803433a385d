/** kill -9 of the agent under traffic, at random moments, restarted on the same spool. */
import { sleep } from '../processes.js';
import type { AgentChildConfig } from '../protocol.js';
import { commonChecks, rnd, summaries, withRig, type Scenario } from './common.js';

type KillMode = 'random' | 'in-fsync' | 'after-fsync' | 'mid-write' | 'after-send' | 'after-ack';
const KILL_MODES: KillMode[] = [
  'random',
  'in-fsync',
  'mid-write',
  'after-send',
  'after-fsync',
  'random',
  'after-ack',
];

function armKill(mode: KillMode): Partial<AgentChildConfig> {
  switch (mode) {
    case 'in-fsync':
      return { fsFaults: { killInSync: rnd(2, 60) } };
    case 'after-fsync':
      return { fsFaults: { killAfterSync: rnd(2, 60) } };
    case 'mid-write':
      return { fsFaults: { killMidWrite: rnd(2, 60) } };
    case 'after-send':
      return { killAfterSent: rnd(1, 40) };
    case 'after-ack':
      return { killAfterAcked: rnd(1, 20) };
    case 'random':
      return {};
  }
}

export const agentKills: Scenario = {
  name: 'agent-kill-9',
  description:
    'kill -9 the agent under traffic at random moments (inside an fsync, right after one, mid-write, after a send, after an ack, at a random time), restart it on the same spool each time',
  run: (sizes, log) =>
    withRig({}, async (rig) => {
      const byMode: Record<string, number> = {};
      let fallback = 0;
      for (let i = 0; i < sizes.kills; i++) {
        const mode = KILL_MODES[i % KILL_MODES.length]!;
        const agent = await rig.startAgent(armKill(mode), true);
        if (mode === 'random') {
          await sleep(rnd(100, 900));
          await rig.killAgent();
        } else {
          // Armed inside the agent: it kills itself; if the moment never comes, we do.
          const died = await Promise.race([
            agent.exited.then(() => true),
            sleep(3000).then(() => false),
          ]);
          if (!died) {
            fallback++;
            await rig.killAgent();
          }
        }
        byMode[mode] = (byMode[mode] ?? 0) + 1;
        if ((i + 1) % 10 === 0) log(`  ${i + 1}/${sizes.kills} kills`);
      }
      const settled = await rig.settle();
      const h = rig.history();
      return {
        checks: commonChecks(rig, h, settled, { agentKilled: true }),
        figures: {
          kills: sizes.kills,
          resendsDeduplicatedByHub: h.hubDuplicates,
          ...Object.fromEntries(Object.entries(byMode).map(([k, v]) => [`kills.${k}`, v])),
          'kills.armed-but-killed-by-runner': fallback,
          boots: rig.boots,
          samplesAccepted: h.telemetry.counts.accepted,
          samplesRecovered: h.telemetry.counts.recovered,
          lost: h.telemetry.counts.lost + h.alarms.counts.lost,
          duplicates: h.telemetry.counts.duplicates + h.alarms.counts.duplicates,
        },
        lines: summaries(h),
      };
    }),
};
