/**
 * spool-append: durable appends per second of 2 KB records into `FileSpool` (real directory
 * under os.tmpdir(), real fsyncs), against raw node:fs append loops in the same directory and
 * the same run:
 * - raw, fsync per record: write 2 KB at the end of a file, fsync, repeat;
 * - raw, one fsync per 50: 50 such writes, then one fsync;
 * each both through node:fs/promises (a FileHandle, one awaited call at a time: the API the
 * spool uses) and through the synchronous node:fs calls (no thread-pool round trip).
 *
 * The spool cases:
 * - default policy, concurrent: appends issued with up to `OUTSTANDING` promises pending, as
 *   the agent issues them; each counts when its promise resolves (after the fsync covering it);
 * - default policy, one at a time: each append awaited before the next (latency figure: a lone
 *   append waits for its group's 20 ms timer);
 * - `fsyncPerRecord: true`, concurrent: one write and one fsync per record.
 *
 * Rounds interleave every case; figures are medians of the rounds, and the target ratio is the
 * median of per-round ratios (spool and raw measured back to back).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { FileSpool } from '../src/spool/file-spool.js';
import { FILE_SPOOL_DEFAULTS } from '../src/spool/file-spool-options.js';
import { median, nowNs, round, sig, table, type Bench } from './lib.js';

const RECORD_BYTES = 2048;
const GROUP = 50;
const ROUNDS = 5;
/** Per case per round: whichever comes first. */
const SECONDS_PER_CASE = 1.2;
const MAX_RECORDS = 30_000; // 30 000 x ~2.1 KB stays under the spool's 64 MiB default quota
const OUTSTANDING = 1024;
const ONE_AT_A_TIME_MAX = 40;
/** Hard stop for the whole bench. */
const BENCH_BUDGET_S = 55;

type CaseName =
  | 'raw promises, fsync per record'
  | 'raw promises, fsync per 50'
  | 'raw sync, fsync per record'
  | 'raw sync, fsync per 50'
  | 'spool default, concurrent'
  | 'spool default, one at a time'
  | 'spool fsyncPerRecord, concurrent';

interface Sample {
  records: number;
  seconds: number;
  perSecond: number;
  /** Mean ms from issuing an append to its promise resolving (spool cases). */
  meanLatencyMs?: number;
}

const BODY = randomBytes(RECORD_BYTES);

async function rawPromises(dir: string, everyN: number): Promise<Sample> {
  const fh = await open(join(dir, `raw-p-${everyN}`), 'wx', 0o600);
  const budget = SECONDS_PER_CASE * 1e9;
  const start = nowNs();
  let n = 0;
  let position = 0;
  try {
    while (n < MAX_RECORDS) {
      await fh.write(BODY, 0, BODY.length, position);
      position += BODY.length;
      n++;
      if (n % everyN === 0) {
        await fh.sync();
        if (nowNs() - start >= budget) break;
      }
    }
    if (n % everyN !== 0) await fh.sync();
  } finally {
    await fh.close();
  }
  const seconds = (nowNs() - start) / 1e9;
  return { records: n, seconds, perSecond: n / seconds };
}

function rawSync(dir: string, everyN: number): Sample {
  const fd = openSync(join(dir, `raw-s-${everyN}`), 'wx', 0o600);
  const budget = SECONDS_PER_CASE * 1e9;
  const start = nowNs();
  let n = 0;
  let position = 0;
  try {
    while (n < MAX_RECORDS) {
      writeSync(fd, BODY, 0, BODY.length, position);
      position += BODY.length;
      n++;
      if (n % everyN === 0) {
        fsyncSync(fd);
        if (nowNs() - start >= budget) break;
      }
    }
    if (n % everyN !== 0) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const seconds = (nowNs() - start) / 1e9;
  return { records: n, seconds, perSecond: n / seconds };
}

/** Appends to a fresh spool, keeping up to `outstanding` appends pending. */
async function spoolAppends(
  dir: string,
  outstanding: number,
  fsyncPerRecord: boolean,
  maxRecords: number,
): Promise<Sample> {
  const spool = await FileSpool.open({ dir, fsyncPerRecord, streamId: 'bench-spool' });
  const budget = SECONDS_PER_CASE * 1e9;
  let issued = 0;
  let done = 0;
  let latencySum = 0;
  const start = nowNs();
  try {
    await new Promise<void>((resolve, reject) => {
      let stop = false;
      const issue = (): void => {
        while (!stop && issued - done < outstanding && issued < maxRecords) {
          issued++;
          const t = nowNs();
          spool.append({ lane: 'telemetry', type: 'telemetry', body: BODY }).then(() => {
            done++;
            latencySum += nowNs() - t;
            if (nowNs() - start >= budget) stop = true;
            if (done === issued && (stop || issued >= maxRecords)) resolve();
            else issue();
          }, reject);
        }
      };
      issue();
    });
  } finally {
    await spool.close();
  }
  const seconds = (nowNs() - start) / 1e9;
  return {
    records: done,
    seconds,
    perSecond: done / seconds,
    meanLatencyMs: latencySum / done / 1e6,
  };
}

async function runCase(name: CaseName, root: string, tag: string): Promise<Sample> {
  const dir = await mkdtemp(join(root, `${tag}-`));
  try {
    switch (name) {
      case 'raw promises, fsync per record':
        return await rawPromises(dir, 1);
      case 'raw promises, fsync per 50':
        return await rawPromises(dir, GROUP);
      case 'raw sync, fsync per record':
        return rawSync(dir, 1);
      case 'raw sync, fsync per 50':
        return rawSync(dir, GROUP);
      case 'spool default, concurrent':
        return await spoolAppends(dir, OUTSTANDING, false, MAX_RECORDS);
      case 'spool default, one at a time':
        return await spoolAppends(dir, 1, false, ONE_AT_A_TIME_MAX);
      case 'spool fsyncPerRecord, concurrent':
        return await spoolAppends(dir, OUTSTANDING, true, MAX_RECORDS);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const CASES: readonly CaseName[] = [
  'raw promises, fsync per record',
  'spool fsyncPerRecord, concurrent',
  'raw sync, fsync per record',
  'raw promises, fsync per 50',
  'spool default, concurrent',
  'raw sync, fsync per 50',
  'spool default, one at a time',
];

export const spoolAppendBench: Bench = {
  name: 'spool-append',
  description: 'FileSpool durable appends/s of 2 KB records vs raw node:fs fsync loops',
  async run(log) {
    const t0 = nowNs();
    const root = await mkdtemp(join(os.tmpdir(), 'outpost-bench-spool-'));
    const rounds: Array<Partial<Record<CaseName, Sample>>> = [];
    try {
      // Warm-up: every case once, short, unrecorded (JIT, page cache, file-system journal).
      for (const c of CASES) await runCase(c, root, 'warmup');
      for (let r = 0; r < ROUNDS; r++) {
        if ((nowNs() - t0) / 1e9 > BENCH_BUDGET_S - 10) break;
        const round: Partial<Record<CaseName, Sample>> = {};
        // Alternate the order so no case always runs right after the same neighbour.
        const order = r % 2 === 0 ? CASES : [...CASES].reverse();
        for (const c of order) round[c] = await runCase(c, root, `r${r}`);
        rounds.push(round);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }

    const med = (c: CaseName, f: (s: Sample) => number): number =>
      median(
        rounds
          .map((r) => r[c])
          .filter((s): s is Sample => !!s)
          .map(f),
      );
    const ratio = (a: CaseName, b: CaseName): number =>
      median(rounds.filter((r) => r[a] && r[b]).map((r) => r[a]!.perSecond / r[b]!.perSecond));
    const summary = CASES.map((c) => ({
      case: c,
      perSecond: sig(med(c, (s) => s.perSecond)),
      meanLatencyMs: c.startsWith('spool')
        ? round(
            med(c, (s) => s.meanLatencyMs ?? NaN),
            2,
          )
        : null,
      recordsPerRound: med(c, (s) => s.records),
    }));
    const ratios = {
      spoolDefaultVsRawPromises50: round(
        ratio('spool default, concurrent', 'raw promises, fsync per 50'),
        2,
      ),
      spoolDefaultVsRawSync50: round(
        ratio('spool default, concurrent', 'raw sync, fsync per 50'),
        2,
      ),
      spoolPerRecordVsRawPromises1: round(
        ratio('spool fsyncPerRecord, concurrent', 'raw promises, fsync per record'),
        2,
      ),
      spoolPerRecordVsRawSync1: round(
        ratio('spool fsyncPerRecord, concurrent', 'raw sync, fsync per record'),
        2,
      ),
    };
    const target = 0.8;
    const worst = Math.min(ratios.spoolDefaultVsRawPromises50, ratios.spoolDefaultVsRawSync50);
    log(
      table(
        ['case', 'appends/s', 'mean append latency ms', 'records/round'],
        summary.map((s) => [s.case, s.perSecond, s.meanLatencyMs ?? '', s.recordsPerRound]),
      ),
    );
    log('');
    log(
      table(
        ['ratio (median of per-round ratios)', 'value'],
        [
          ['spool default / raw promises fsync-per-50', ratios.spoolDefaultVsRawPromises50],
          ['spool default / raw sync fsync-per-50', ratios.spoolDefaultVsRawSync50],
          [
            'spool fsyncPerRecord / raw promises fsync-per-record',
            ratios.spoolPerRecordVsRawPromises1,
          ],
          ['spool fsyncPerRecord / raw sync fsync-per-record', ratios.spoolPerRecordVsRawSync1],
        ],
      ),
    );
    log(
      `target: spool default >= ${target}x raw group commit: ${worst >= target ? 'met' : 'NOT met'} (lower of the two baselines' ratios: ${worst})`,
    );
    return {
      bench: 'spool-append',
      command: 'npm run bench -- spool-append',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        recordBytes: RECORD_BYTES,
        rawGroup: GROUP,
        rounds: ROUNDS,
        secondsPerCasePerRound: SECONDS_PER_CASE,
        maxRecordsPerCasePerRound: MAX_RECORDS,
        outstandingAppends: OUTSTANDING,
        oneAtATimeMax: ONE_AT_A_TIME_MAX,
        spoolDefaults: FILE_SPOOL_DEFAULTS,
        directory: `a fresh directory per case and round under ${os.tmpdir()} (removed afterwards)`,
        lane: 'telemetry (2 048-byte random body); a fresh spool per case and round',
        target: `spool default, concurrent >= ${target}x raw fsync-per-${GROUP}`,
      },
      results: { summary, ratios, targetMet: worst >= target, rounds },
    };
  },
};
