/** Every fault kind of the proxy in turn, while the agent sends. */
import { percentile } from '../history.js';
import { sleep } from '../processes.js';
import {
  applyNetFault,
  check,
  commonChecks,
  NET_KINDS,
  rnd,
  summaries,
  withRig,
  type Scenario,
} from './common.js';

/** Records left in the spool that count as "delivery caught up" after a fault. */
const RESUMED_RECORDS = 40;

export const networkFaults: Scenario = {
  name: 'network-faults',
  description:
    'each fault kind of the proxy in turn (latency+jitter, bandwidth, slicing, drops, resets, half-open, connect timeouts) while the agent sends; after each, the tunnel must come back',
  run: (sizes, log) =>
    withRig({}, async (rig) => {
      const agent = await rig.startAgent();
      const p = rig.proxy;
      const applied: Record<string, number> = {};
      const recoveryMs: number[] = [];
      let unrecovered = 0;
      /** Faults after which delivery did not resume (the spool did not drain back). */
      const stalls: string[] = [];
      // OUTPOST_DELIVERY_NET_KINDS=drop,reset narrows a run to some kinds (for diagnosis).
      const only = process.env.OUTPOST_DELIVERY_NET_KINDS?.split(',');
      faults: for (const kind of NET_KINDS.filter((k) => !only || only.includes(k))) {
        for (let i = 0; i < sizes.faultsPerKind; i++) {
          const opensBefore = agent.tunnelOpens;
          const breaks = ['drop', 'reset', 'half-open', 'timeout'].includes(kind);
          applyNetFault(p, kind, i, { resetPerChunk: 0.02, resetNow: true });
          applied[kind] = (applied[kind] ?? 0) + 1;
          await sleep(kind === 'timeout' ? 1800 : breaks ? rnd(500, 900) : rnd(400, 700));
          // A drop that never hit (no chunk drew it) still has to end as a loss.
          if (kind === 'drop' && agent.tunnelOpens === opensBefore) p.blackhole();
          const healedAt = Date.now();
          p.heal();
          if (breaks) {
            if (await agent.reopened(opensBefore, 15_000)) recoveryMs.push(Date.now() - healedAt);
            else unrecovered++;
          }
          // Delivery must resume, not just the connection: the spool drains back to a few
          // records. After a stall there is no point going on (the settle shows what is stuck).
          if (!(await agent.queueAtMost(RESUMED_RECORDS, 10_000))) {
            stalls.push(`${kind} #${i + 1} (queued ${agent.stats?.queued})`);
            log(`  delivery did not resume after ${kind} #${i + 1}`);
            break faults;
          }
        }
        log(`  ${kind}: ${applied[kind]}`);
      }
      const alive = agent.alive;
      const settled = await rig.settle();
      const h = rig.history();
      return {
        checks: [
          ...commonChecks(rig, h, settled),
          check(
            'the tunnel came back after every breaking fault',
            unrecovered === 0,
            `${unrecovered} did not`,
          ),
          check(
            `delivery resumed after every fault (spool back to ≤ ${RESUMED_RECORDS} records within 10 s)`,
            stalls.length === 0,
            stalls.length === 0 ? 'yes' : `stalled after ${stalls.join(', ')}`,
          ),
          check('the agent survived every fault', alive, alive ? 'alive' : 'dead'),
        ],
        figures: {
          ...Object.fromEntries(Object.entries(applied).map(([k, v]) => [`faults.${k}`, v])),
          proxyResets: p.stats.resets,
          proxyDrops: p.stats.drops,
          proxyStalled: p.stats.stalled,
          tunnelOpens: agent.tunnelOpens,
          resendsDeduplicatedByHub: h.hubDuplicates,
          'recoveryMs.p50': percentile(recoveryMs, 50),
          'recoveryMs.max': percentile(recoveryMs, 100),
          lost: h.telemetry.counts.lost + h.alarms.counts.lost,
          duplicates: h.telemetry.counts.duplicates + h.alarms.counts.duplicates,
        },
        lines: summaries(h),
      };
    }),
};
