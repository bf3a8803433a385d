/** A 7-day telemetry backlog draining over a slow uplink while new alarms arrive. */
import { join } from 'node:path';
import { bodyBudget } from '../../../src/codec/index.js';
import { TelemetryBatcher, type BatchHealth } from '../../../src/runtime/telemetry-batcher.js';
import { FileSpool } from '../../../src/spool/index.js';
import { percentile } from '../history.js';
import { openJournal } from '../journal.js';
import { sleep } from '../processes.js';
import type { Rig } from '../rig.js';
import { IDS_PER_BOOT, sampleCounters, sampleIdsOfRecord } from '../synthetic-device.js';
import { check, commonChecks, summaries, withRig, type Scenario } from './common.js';

/** Bytes per second of the simulated uplink while the backlog drains (1 Mbit/s). */
const UPLINK_BYTES_PER_S = 125_000;

export const backlogDrain: Scenario = {
  name: 'backlog-alarm-latency',
  description: `a spool holding 7 days of telemetry at a 60 s poll drains over a 1 Mbit/s uplink while new alarms arrive every 100 ms: alarms reach the hub within 2 s (p99, agent accept to hub commit)`,
  run: (sizes, log) =>
    withRig({ alarmEveryMs: 0 }, async (rig) => {
      const backlog = await prefillBacklog(rig, sizes.backlogDays);
      log(
        `  backlog: ${backlog.samples} samples in ${backlog.records} records (${Math.round(backlog.bytes / 1024)} KiB)`,
      );
      rig.proxy.set({ up: { bytesPerSecond: UPLINK_BYTES_PER_S } });
      const startedAt = Date.now();
      const agent = await rig.startAgent({ alarmEveryMs: 100 });
      // Until the backlog is gone (bounded), alarms keep coming.
      const deadline = Date.now() + 60_000;
      await sleep(500);
      while (Date.now() < deadline && (agent.stats?.queued ?? Infinity) > 20) await sleep(100);
      const drainMs = Date.now() - startedAt;
      agent.send({ t: 'alarms', everyMs: 0 });
      await sleep(2500); // the last alarms' latency counts too
      const settled = await rig.settle();
      const h = rig.history(startedAt);
      const p50 = percentile(h.alarmLatenciesMs, 50);
      const p99 = percentile(h.alarmLatenciesMs, 99);
      return {
        checks: [
          ...commonChecks(rig, h, settled),
          check('the backlog drained within 60 s', drainMs < 60_000, `${drainMs} ms`),
          check('alarms measured', h.alarmLatenciesMs.length >= 10, h.alarmLatenciesMs.length),
          check(
            'new alarms reach the hub within 2 s (p99)',
            p99 < 2000,
            `p50 ${p50} ms, p99 ${p99} ms`,
          ),
        ],
        figures: {
          backlogSamples: backlog.samples,
          backlogRecords: backlog.records,
          backlogKiB: Math.round(backlog.bytes / 1024),
          uplinkBytesPerS: UPLINK_BYTES_PER_S,
          drainMs,
          alarms: h.alarmLatenciesMs.length,
          'alarmLatencyMs.p50': p50,
          'alarmLatencyMs.p99': p99,
          'alarmLatencyMs.max': percentile(h.alarmLatenciesMs, 100),
        },
        lines: summaries(h),
      };
    }),
};

/**
 * Fills the rig's spool with `days` of telemetry at a 60 s poll, batched exactly as the agent
 * batches it, as boot 1 of the device (journalled as offered and accepted).
 */
async function prefillBacklog(
  rig: Rig,
  days: number,
): Promise<{ samples: number; records: number; bytes: number }> {
  rig.boots++;
  const boot = rig.boots;
  const path = join(rig.dir, `agent-${boot}.journal`);
  rig.agentJournals.push(path);
  const journal = openJournal(path);
  const spool = await FileSpool.open({ dir: rig.spoolDir, groupCommitMs: 5 });
  const batcher = new TelemetryBatcher({ maxBodyBytes: bodyBudget(rig.deviceId) });
  const health: BatchHealth = {
    readsOk: 0,
    readsFailed: 0,
    timeouts: 0,
    missedErrorRaises: 0,
    connected: true,
  };
  const samples = Math.min(IDS_PER_BOOT, days * 24 * 60);
  const startMs = Date.now() - days * 24 * 3600 * 1000;
  let records = 0;
  let bytes = 0;
  const appends: Array<Promise<void>> = [];
  const append = (parts: ReturnType<TelemetryBatcher['flush']>): void => {
    for (const part of parts) {
      appends.push(
        spool
          .append({ lane: 'telemetry', type: 'telemetry', body: part.body, samples: part.samples })
          .then((r) => {
            records++;
            bytes += part.body.length;
            const ids = sampleIdsOfRecord('telemetry', part.body);
            journal.write(`t ${r.seq} ${Date.now()} ${ids.join(',')}`);
          }),
      );
    }
  };
  try {
    for (let n = 0; n < samples; n++) {
      journal.write(`a ${boot * IDS_PER_BOOT + n}`);
      append(
        batcher.add(
          { atMs: startMs + n * 60_000, counters: sampleCounters(boot, n), missing: [], codes: [] },
          health,
        ),
      );
    }
    append(batcher.flush(health));
    await Promise.all(appends);
  } finally {
    await spool.close();
    journal.close();
  }
  return { samples, records, bytes };
}
