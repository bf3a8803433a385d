/**
 * Reading a run back: journals (with a torn last line, as a kill -9 leaves them) and a real
 * hub store, down to the checker's verdicts — so a lost, doubled or made-up sample or alarm in
 * the hub's tables would be caught by the suite.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HubStore } from '../../hub/index.js';
import type { Frame } from '../../src/codec/index.js';
import { percentile, readHistory } from './history.js';
import { readJournal } from './journal.js';

const DEVICE = 'device-h';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function telemetry(seq: number, ids: number[]): Frame {
  return {
    type: 'telemetry',
    telemetry: {
      counters: [{ name: 'id', unit: '', scale: 1 }],
      baseTimeMs: 1_000,
      samples: ids.map((id) => ({ offsetMs: 0, raw: [id] })),
    },
    deviceId: DEVICE,
    seq,
    sentAtMs: 1,
    protocolVersion: 1,
  } as Frame;
}

function alarm(seq: number, observedAtMs: number): Frame {
  return {
    type: 'alarm',
    alarm: {
      code: 1003,
      state: 1,
      severity: 4,
      subsystem: 'x',
      text: 't',
      observedAtMs,
      missedRaises: 0,
    },
    deviceId: DEVICE,
    seq,
    sentAtMs: 1,
    protocolVersion: 1,
  } as Frame;
}

/** A hub database holding `frames` (stored at `storedAtMs`), and the run's journals. */
function run(o: {
  frames: Frame[];
  agent: string;
  hub: string;
  storedAtMs?: number;
}): ReturnType<typeof readHistory> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-history-test-'));
  dirs.push(dir);
  const dbPath = join(dir, 'hub.db');
  const store = new HubStore(dbPath);
  store.openStream(DEVICE, 'stream-1', 'test', 0);
  store.storeBatch(
    o.frames.map((frame) => ({
      deviceId: DEVICE,
      streamId: 'stream-1',
      frame,
      bytes: 10,
      receivedAtMs: o.storedAtMs ?? 5_000,
    })),
    [],
  );
  store.close();
  writeFileSync(join(dir, 'agent.journal'), o.agent);
  writeFileSync(join(dir, 'hub.journal'), o.hub);
  return readHistory({
    agentJournals: [join(dir, 'agent.journal')],
    hubJournal: join(dir, 'hub.journal'),
    dbPath,
    deviceId: DEVICE,
  });
}

describe('delivery history', () => {
  it('a clean run: all accepted samples and alarms stored once, alarm latency measured', () => {
    const h = run({
      frames: [telemetry(1, [11, 12]), alarm(2, 77)],
      agent: 'a 11\na 12\nr 1003/raised/77\nt 1 4000 11,12\nA 2 4200 1003/raised/77\n',
      hub: 'S 1 11,12\n',
      storedAtMs: 5_000,
    });
    expect(h.telemetry.ok).toBe(true);
    expect(h.telemetry.counts).toMatchObject({ accepted: 2, stored: 2 });
    expect(h.alarms.ok).toBe(true);
    expect(h.alarmLatenciesMs).toEqual([800]);
    expect(h.streams).toBe(1);
  });

  it('catches a lost sample, a lost alarm, a doubled sample and a made-up one', () => {
    const h = run({
      // 12 never stored; 11 stored again under seq 3; 99 never offered; alarm 78 never stored.
      frames: [telemetry(1, [11]), telemetry(3, [11, 99])],
      agent: 'a 11\na 12\nt 1 4000 11\nt 2 4000 12\nr 1003/raised/78\nA 4 4000 1003/raised/78\n',
      hub: 'S 1 11\nS 3 11,99\n',
    });
    expect(h.telemetry.lost).toEqual([12]);
    expect(h.telemetry.duplicates).toEqual([{ id: 11, count: 2, seqs: [1, 3] }]);
    expect(h.telemetry.unexpected).toEqual([99]);
    expect(h.alarms.lost).toEqual(['1003/raised/78']);
  });

  it('a sample inside a gap the hub stored is accounted, not lost', () => {
    const gap: Frame = {
      type: 'gap',
      gap: { fromSeq: 2, toSeq: 2, records: 1, reason: 1 },
      deviceId: DEVICE,
      seq: 0,
      sentAtMs: 1,
      protocolVersion: 1,
    } as Frame;
    const h = run({
      frames: [telemetry(1, [11]), gap],
      agent: 't 1 4000 11\nt 2 4000 12\n',
      hub: 'S 1 11\n',
    });
    expect(h.telemetry.lost).toEqual([]);
    expect(h.telemetry.gapAccounted).toEqual([12]);
    expect(h.telemetry.counts).toMatchObject({ gapRecords: 1, gapAccountedSeqs: 1 });
  });

  it('ignores a torn last journal line (a kill -9 mid-write)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-history-test-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'j'), 'a 1\nt 1 5 1\nt 2 5 2,');
    expect(readJournal(join(dir, 'j'))).toEqual([
      ['a', '1'],
      ['t', '1', '5', '1'],
    ]);
    expect(readJournal(join(dir, 'missing'))).toEqual([]);
  });

  it('percentiles by nearest rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([], 50)).toBeNaN();
  });
});
