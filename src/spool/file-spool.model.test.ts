/**
 * Model-based test of FileSpool: random command sequences (appends in all lanes, deliveries
 * with cumulative acks, timer ticks, crashes with torn unsynced tails, crashes in the middle
 * of a call, I/O errors, a full disk, media corruption of closed segments) against a model of
 * what was accepted and what the hub stored.
 *
 * Invariants, checked during and after every run:
 * - every ACCEPTED record (its append resolved) is, by the end, delivered (handed out by
 *   next() and removed by the hub's ack) or covered by a gap — never silently missing, never
 *   both, and never delivered twice;
 * - no two accepted records share a seq; a seq never carries two different records;
 * - alarms are never in a quota gap; gaps never cover a record that is still live;
 * - a rejected append is never handed out by the same spool instance (after a restart it may
 *   reappear, intact: "accepted means resolved");
 * - next() is in lane order (alarm, telemetry, bulk), ascending seq within a lane; bodies are
 *   intact; open/next/ack/takeGaps never throw;
 * - seqs are dense: the hub's contiguous ack over stored records and gaps reaches lastSeq.
 *
 * Runs: OUTPOST_SOAK=1 for a long soak.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileSpool } from './file-spool.js';
import type { FileSpoolOptions } from './file-spool-options.js';
import type { SpoolGap } from './gaps.js';
import {
  MemorySpoolFs,
  type SpoolFsCall,
  type SpoolFsFault,
  type SpoolFsOp,
} from './memory-spool-fs.js';
import { LANES, type Lane, type QueuedRecord } from './queue.js';
import { scanSegment } from './segment-format.js';
import { DIR, ManualClock, bodyId, makeBody, openSpool, typeOf } from './spool-test-fixtures.js';

const SOAK = process.env.OUTPOST_SOAK === '1';
/** A counterexample to replay with a trace: OUTPOST_SPOOL_REPLAY='[[...cmds], restartFirst]'. */
const REPLAY = process.env.OUTPOST_SPOOL_REPLAY;
const trace = (...args: unknown[]): void => {
  if (REPLAY) console.log(...args);
};
const RUNS = SOAK ? 50_000 : 3_000;

type Cmd =
  | { t: 'append'; lane: Lane; size: number; n: number }
  | { t: 'flush' }
  | { t: 'tick'; ms: number }
  | { t: 'deliver'; k: number }
  | { t: 'settle' }
  | { t: 'crash'; keep: 'none' | 'all' | number; garbage: boolean; turns: number }
  | { t: 'fault'; op: SpoolFsOp; nth: number; times: number; code: 'EIO' | 'ENOSPC'; tear: number }
  | { t: 'powerCut'; op: SpoolFsOp; nth: number; tear: number }
  | { t: 'diskFull'; room: number }
  | { t: 'clearFaults' }
  | { t: 'corrupt'; pick: number; at: number; bit: number; restart: boolean };

const laneArb = fc.constantFrom<Lane>('alarm', 'telemetry', 'telemetry', 'bulk');
const opArb = fc.constantFrom<SpoolFsOp>(
  'write',
  'write',
  'sync',
  'sync',
  'syncDir',
  'open',
  'rename',
  'truncate',
  'unlink',
  'read',
  'readFile',
  'close',
);

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      t: fc.constant('append' as const),
      lane: laneArb,
      size: fc.integer({ min: 8, max: 180 }),
      n: fc.integer({ min: 1, max: 8 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ t: 'flush' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 60 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('deliver' as const), k: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'settle' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('crash' as const),
      keep: fc.oneof(
        fc.constant('none' as const),
        fc.constant('all' as const),
        fc.double({ min: 0, max: 1, noNaN: true }),
      ),
      garbage: fc.boolean(),
      turns: fc.integer({ min: 0, max: 12 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('fault' as const),
      op: opArb,
      nth: fc.integer({ min: 1, max: 6 }),
      times: fc.integer({ min: 1, max: 4 }),
      code: fc.constantFrom('EIO' as const, 'ENOSPC' as const),
      tear: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('powerCut' as const),
      op: opArb,
      nth: fc.integer({ min: 1, max: 8 }),
      tear: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('diskFull' as const),
      room: fc.integer({ min: 0, max: 400 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'clearFaults' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('corrupt' as const),
      pick: fc.nat(),
      at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      bit: fc.integer({ min: 0, max: 7 }),
      restart: fc.boolean(),
    }),
  },
);

const OPTIONS: Partial<FileSpoolOptions> = {
  segmentBytes: 400,
  maxBytes: 3500,
  memoryBytes: 600,
  groupCommitRecords: 3,
  groupCommitMs: 5,
  persistDelayMs: 3,
  retryDelayMs: 20,
};

/** What the runs exercised, so a test that silently stopped reaching a path fails. */
const coverage = {
  accepted: 0,
  rejected: 0,
  delivered: 0,
  restarts: 0,
  quotaGaps: 0,
  corruptGaps: 0,
  quarantined: 0,
  writeFailures: 0,
  lazyLoads: 0,
  rejectedReappeared: 0,
  corruptions: 0,
};

interface Appended {
  lane: Lane;
  state: 'pending' | 'accepted' | 'rejected';
  seq?: number;
  /** Spool instance that rejected it (it must never hand it out). */
  rejectedBy?: number;
}

class World {
  fs = new MemorySpoolFs();
  clock = new ManualClock();
  spool!: FileSpool;
  instance = 0;
  step = 0;
  nextId = 1;
  readonly appends = new Map<number, Appended>();
  readonly acceptedBySeq = new Map<number, number>();
  /** The hub: seq -> id and when it was first stored. */
  readonly hub = new Map<number, { id: number; at: number }>();
  readonly gaps: SpoolGap[] = [];
  readonly gapSeqs = new Map<number, SpoolGap['reason']>();
  hubAcked = 0;
  /** Seqs the spool removed on an ack (delivered), with the step of the first removal. */
  readonly removed = new Map<number, number>();
  /** Seqs handed out by next() in this instance; a removal of one counts as a delivery. */
  handedOut = new Set<number>();
  readonly deliveries = new Map<number, number>();
  readonly corrupted = new Set<string>();

  /** Violations seen in promise callbacks; raised by the next {@link check}. */
  readonly violations: string[] = [];

  fail(msg: string): never {
    throw new Error(`step ${this.step}: ${msg}`);
  }

  /** Records a violation from a callback (throwing there would be an unhandled rejection). */
  note(msg: string): void {
    this.violations.push(`step ${this.step}: ${msg}`);
  }

  check(): void {
    if (this.violations.length > 0) throw new Error(this.violations.join('\n'));
  }

  async open(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.clock = new ManualClock();
      try {
        this.spool = await openSpool(this.fs, this.clock, OPTIONS);
        break;
      } catch (err) {
        // Only an injected fault or power cut may stop open; the bytes never do.
        if (attempt > 5) throw err;
        if (this.fs.dead) this.fs = this.fs.reboot();
        this.fs.setFault(undefined);
        this.fs.setCapacity(undefined);
      }
    }
    this.instance++;
    coverage.restarts++;
    trace(`  opened instance ${this.instance}: ${this.fs.list(DIR).join(' ')}`);
    this.handedOut = new Set();
    // Reconnect: the hub tells the agent what it has (HubAuth.acked_seq).
    this.checkRemoved(this.spool.ack(this.hubAcked));
  }

  tally(): void {
    const st = this.spool.stats();
    coverage.quarantined += st.quarantined;
    coverage.writeFailures += st.writeFailures;
    coverage.lazyLoads += st.bodiesRead;
  }

  async restart(keep: Cmd & { t: 'crash' }): Promise<void> {
    this.tally();
    const keepUnsynced =
      keep.keep === 'none'
        ? undefined
        : (_: string, n: number): number =>
            keep.keep === 'all' ? n : Math.floor(n * (keep.keep as number));
    this.fs = this.fs.dead
      ? this.fs.reboot({ keepUnsynced, garbage: keep.garbage ? 0 : undefined })
      : this.fs.crash({ keepUnsynced, garbage: keep.garbage ? 0 : undefined });
    await this.open();
  }

  append(lane: Lane, size: number): void {
    const id = this.nextId++;
    const a: Appended = { lane, state: 'pending' };
    this.appends.set(id, a);
    const instance = this.instance;
    this.spool.append({ lane, type: typeOf(lane), body: makeBody(id, size) }).then(
      (r) => {
        trace(`  accepted id ${id} as seq ${r.seq} (instance ${instance})`);
        a.state = 'accepted';
        a.seq = r.seq;
        const other = this.acceptedBySeq.get(r.seq);
        if (other !== undefined && other !== id)
          this.note(`seq ${r.seq} accepted twice (ids ${other}, ${id})`);
        this.acceptedBySeq.set(r.seq, id);
        const stored = this.hub.get(r.seq);
        if (stored && stored.id !== id)
          this.note(`seq ${r.seq} accepted for ${id} but the hub has ${stored.id}`);
      },
      (err: unknown) => {
        trace(`  rejected id ${id} (instance ${instance}): ${String(err)}`);
        a.state = 'rejected';
        a.rejectedBy = instance;
        const code = (err as { code?: string }).code;
        if (
          !['SPOOL_WRITE_FAILED', 'SPOOL_DISK_FULL', 'SPOOL_QUOTA', 'SPOOL_CLOSED'].includes(
            code ?? '',
          )
        ) {
          this.note(`append rejected with ${String(code)}: ${String(err)}`);
        }
      },
    );
  }

  takeGaps(): void {
    for (const g of this.spool.takeGaps()) {
      if (g.fromSeq > g.toSeq || g.records < 1 || g.records > g.toSeq - g.fromSeq + 1) {
        this.fail(`malformed gap ${JSON.stringify(g)}`);
      }
      this.gaps.push(g);
      coverage[g.reason === 'quota' ? 'quotaGaps' : 'corruptGaps']++;
      for (let s = g.fromSeq; s <= g.toSeq; s++) {
        if (!this.gapSeqs.has(s)) this.gapSeqs.set(s, g.reason);
        const id = this.acceptedBySeq.get(s);
        if (g.reason === 'quota' && id !== undefined && this.appends.get(id)?.lane === 'alarm') {
          this.fail(`alarm seq ${s} evicted for quota`);
        }
      }
    }
  }

  deliver(k: number): void {
    this.takeGaps();
    const batch = this.spool.next(k);
    if (batch.length > k) this.fail('next returned more than asked');
    this.checkOrder(batch);
    for (const r of batch) this.store(r);
    this.ackContiguous();
  }

  checkOrder(batch: QueuedRecord[]): void {
    for (let i = 1; i < batch.length; i++) {
      const a = batch[i - 1]!;
      const b = batch[i]!;
      const ra = LANES.indexOf(a.lane);
      const rb = LANES.indexOf(b.lane);
      if (ra > rb || (ra === rb && a.seq >= b.seq))
        this.fail(`next out of order: ${a.lane}/${a.seq} then ${b.lane}/${b.seq}`);
    }
  }

  store(r: QueuedRecord): void {
    const id = bodyId(r.body);
    if (id === undefined) this.fail(`seq ${r.seq}: body damaged`);
    const a = this.appends.get(id);
    if (!a) this.fail(`seq ${r.seq}: record ${id} was never appended`);
    if (a.lane !== r.lane || r.type !== typeOf(a.lane))
      this.fail(`seq ${r.seq}: lane/type changed`);
    if (a.state === 'accepted' && a.seq !== r.seq)
      this.fail(`record ${id} accepted as ${a.seq}, delivered as ${r.seq}`);
    if (a.state === 'rejected' && a.rejectedBy === this.instance) {
      this.fail(`record ${id} was rejected by this instance but handed out`);
    }
    const prev = this.hub.get(r.seq);
    if (prev && prev.id !== id) this.fail(`seq ${r.seq} carries ${prev.id} and ${id}`);
    const owner = this.acceptedBySeq.get(r.seq);
    if (owner !== undefined && owner !== id)
      this.fail(`seq ${r.seq} belongs to ${owner}, delivered ${id}`);
    if (this.gapSeqs.has(r.seq)) this.fail(`seq ${r.seq} handed out after it was reported lost`);
    if (!prev) this.hub.set(r.seq, { id, at: this.step });
    if (a.state === 'rejected') coverage.rejectedReappeared++;
    this.handedOut.add(r.seq);
  }

  /** The hub acks the longest prefix it holds (stored, or reported lost by a gap). */
  ackContiguous(): void {
    let upTo = this.hubAcked;
    while (this.hub.has(upTo + 1) || this.gapSeqs.has(upTo + 1)) upTo++;
    if (upTo === this.hubAcked) return;
    this.hubAcked = upTo;
    this.checkRemoved(this.spool.ack(upTo));
  }

  checkRemoved(removed: QueuedRecord[]): void {
    for (const r of removed) {
      if (r.seq > this.hubAcked) this.fail(`ack removed ${r.seq} above ${this.hubAcked}`);
      if (!this.hub.has(r.seq))
        this.fail(
          `ack removed live seq ${r.seq} that the hub never got (gap covers a live record?)`,
        );
      if (!this.removed.has(r.seq)) this.removed.set(r.seq, this.step);
      if (this.handedOut.delete(r.seq)) {
        const n = (this.deliveries.get(r.seq) ?? 0) + 1;
        if (n > 1) this.fail(`seq ${r.seq} delivered (handed out and acked) twice`);
        coverage.delivered++;
        this.deliveries.set(r.seq, n);
      }
    }
  }

  async corrupt(c: Cmd & { t: 'corrupt' }): Promise<void> {
    if (this.fs.dead) return;
    const segs = this.fs.list(DIR).filter((n) => n.endsWith('.seg'));
    const durable = this.fs.listDurable(DIR).filter((n) => n.endsWith('.seg'));
    // Closed segments only: never the newest (it may be the one being written), neither now
    // nor in what a power cut would leave (a newer segment whose entry is not synced yet goes
    // with the crash). Recovery must treat a bad tail of the newest segment as a torn write.
    const closed = segs
      .slice(0, -1)
      .filter((n) => durable.includes(n) && n !== durable.at(-1) && !this.corrupted.has(n));
    if (closed.length === 0) return;
    const name = closed[c.pick % closed.length]!;
    const bytes = this.fs.contents(`${DIR}/${name}`)!;
    if (bytes.length === 0) return;
    // Half the time aim at a record the hub does not have yet (the interesting case).
    const targets = scanSegment(bytes).filter(
      (i) => i.kind === 'record' && i.record.seq > this.hubAcked,
    );
    const target = c.bit % 2 === 0 ? targets[c.pick % Math.max(1, targets.length)] : undefined;
    const offset = target
      ? target.offset + Math.floor(c.at * target.size)
      : Math.floor(c.at * bytes.length);
    this.fs.corrupt(`${DIR}/${name}`, offset, 1 << c.bit);
    this.corrupted.add(name);
    coverage.corruptions++;
  }

  async exec(c: Cmd): Promise<void> {
    if (this.fs.dead) await this.restart({ t: 'crash', keep: 'all', garbage: false, turns: 0 });
    switch (c.t) {
      case 'append':
        for (let i = 0; i < c.n; i++) this.append(c.lane, c.size);
        return;
      case 'flush':
        await this.spool.flush();
        return;
      case 'tick':
        this.clock.advance(c.ms);
        for (let i = 0; i < 20; i++) await Promise.resolve();
        return;
      case 'deliver':
        this.deliver(c.k);
        return;
      case 'settle':
        await this.spool.settle();
        return;
      case 'crash':
        this.clock.advance(1);
        for (let i = 0; i < c.turns; i++) await Promise.resolve();
        await this.restart(c);
        return;
      case 'fault': {
        let seen = 0;
        this.fs.setFault((call: SpoolFsCall): SpoolFsFault | undefined => {
          if (call.op !== c.op) return undefined;
          seen++;
          if (seen < c.nth || seen >= c.nth + c.times) return undefined;
          if (call.op === 'write')
            return { tear: Math.floor((call.length ?? 0) * c.tear), error: c.code };
          return { error: c.code };
        });
        return;
      }
      case 'powerCut': {
        let seen = 0;
        this.fs.setFault((call: SpoolFsCall): SpoolFsFault | undefined => {
          if (call.op !== c.op || ++seen !== c.nth) return undefined;
          return { crash: true, tear: Math.floor((call.length ?? 0) * c.tear) };
        });
        return;
      }
      case 'diskFull':
        this.fs.setCapacity(this.fs.usedBytes() + c.room);
        return;
      case 'clearFaults':
        this.fs.setFault(undefined);
        this.fs.setCapacity(undefined);
        return;
      case 'corrupt':
        await this.corrupt(c);
        if (c.restart) await this.restart({ t: 'crash', keep: 'all', garbage: false, turns: 0 });
        return;
    }
  }

  /** Ends the run: faults off, everything committed, then drain to empty and check. */
  async finish(restartFirst: boolean): Promise<void> {
    this.fs.setFault(undefined);
    this.fs.setCapacity(undefined);
    await this.spool.settle(); // a fault armed earlier may still fire in calls already under way
    if (this.fs.dead || restartFirst)
      await this.restart({ t: 'crash', keep: 'none', garbage: false, turns: 0 });
    for (let round = 0; round < 500; round++) {
      this.step++;
      await this.spool.settle();
      this.deliver(1000);
      await this.spool.settle();
      this.takeGaps();
      this.ackContiguous();
      if (this.spool.stats().records === 0 && this.spool.stats().pendingGaps === 0) break;
    }
    const st = this.spool.stats();
    if (st.records !== 0)
      this.fail(
        `drain stuck: ${st.records} records left, hub acked ${this.hubAcked}, lastSeq ${st.lastSeq}`,
      );
    if (this.hubAcked < st.lastSeq)
      this.fail(`seq hole: hub acked ${this.hubAcked} of ${st.lastSeq}`);

    for (const [id, a] of this.appends) {
      if (a.state !== 'accepted') continue;
      const s = a.seq!;
      const stored = this.hub.get(s);
      const removedAt = this.removed.get(s);
      const gap = this.gapSeqs.get(s);
      if (stored && stored.id !== id)
        this.fail(`record ${id} (seq ${s}): the hub has ${stored.id}`);
      if (removedAt === undefined && gap === undefined) {
        this.fail(`accepted record ${id} (seq ${s}, ${a.lane}) silently lost`);
      }
      if (removedAt !== undefined && gap !== undefined) {
        this.fail(`record ${id} (seq ${s}) delivered and reported in a ${gap} gap`);
      }
      if (gap === 'quota' && a.lane === 'alarm') this.fail(`alarm ${id} evicted`);
    }
    for (const a of this.appends.values())
      coverage[a.state === 'accepted' ? 'accepted' : 'rejected']++;
    this.tally();
    await this.spool.close();
  }
}

async function runWorld(cmds: Cmd[], restartFirst: boolean): Promise<void> {
  const w = new World();
  await w.open();
  for (const c of cmds) {
    w.step++;
    trace(`step ${w.step}: ${JSON.stringify(c)}`);
    await w.exec(c);
    trace(
      `  stats ${JSON.stringify({ ...w.spool.stats(), lastError: w.spool.stats().lastError?.message })}`,
    );
    w.check();
  }
  await w.finish(restartFirst);
  w.check();
}

describe('FileSpool model', () => {
  it.runIf(REPLAY !== undefined)('replays OUTPOST_SPOOL_REPLAY', async () => {
    const [cmds, restartFirst] = JSON.parse(REPLAY ?? '[]') as [Cmd[], boolean];
    await runWorld(cmds, restartFirst);
  });

  // CI seed 2046281374: a bulk record handed out, then evicted for quota while in flight; the
  // hub acked past it before its gap was reported, so the gap was dropped and the ack did not
  // report the record removed either: it was neither delivered nor in a gap.
  it('regression: a record evicted in flight and acked before its gap is reported is delivered', async () => {
    const cmds: Cmd[] = [
      { t: 'append', lane: 'bulk', size: 8, n: 5 },
      { t: 'append', lane: 'alarm', size: 69, n: 3 },
      { t: 'tick', ms: 1 },
      { t: 'append', lane: 'alarm', size: 158, n: 2 },
      { t: 'append', lane: 'alarm', size: 87, n: 3 },
      { t: 'append', lane: 'telemetry', size: 85, n: 7 },
      { t: 'deliver', k: 2 },
      { t: 'settle' },
      { t: 'append', lane: 'alarm', size: 101, n: 8 },
      { t: 'deliver', k: 1 },
      { t: 'diskFull', room: 0 },
    ];
    await runWorld(cmds, false);
  });

  it(`keeps every accepted record exactly once or in a gap (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 80 }), fc.boolean(), runWorld),
      {
        numRuns: RUNS,
        // OUTPOST_FC_SEED=<seed from a failure report> replays a failing CI run.
        ...(process.env.OUTPOST_FC_SEED ? { seed: Number(process.env.OUTPOST_FC_SEED) } : {}),
      },
    );
    if (SOAK) console.log('model coverage', coverage);
    for (const [what, n] of Object.entries(coverage)) expect(n, what).toBeGreaterThan(0);
  }, 600_000);
});
