/**
 * What a run did, read back at its end: the agent's journals (what was offered and accepted,
 * every boot), the hub's journal (stored telemetry seqs) and the hub's SQLite store (what is
 * stored: samples, alarms, gaps) — and the total-queue verdicts over them.
 */
import Database from 'better-sqlite3';
import { checkTotalQueue, type SeqGap, type TotalQueueResult } from '../total-queue.js';
import { readJournal } from './journal.js';
import { alarmKey } from './protocol.js';
import { sampleId } from './synthetic-device.js';

export interface History {
  telemetry: TotalQueueResult;
  alarms: TotalQueueResult;
  /** Agent accept → hub commit of every alarm the agent accepted and the hub stored, ms. */
  alarmLatenciesMs: number[];
  /** Streams the hub saw for the device (more than one would make seqs ambiguous). */
  streams: number;
  gaps: SeqGap[];
  /** Frames the hub received again (resent after a lost ack) and dropped as duplicates. */
  hubDuplicates: number;
}

export function readHistory(o: {
  agentJournals: string[];
  hubJournal: string;
  dbPath: string;
  deviceId: string;
  /** Only alarms accepted at or after this real time count for latency (e.g. the backlog phase). */
  latencyFromMs?: number;
}): History {
  const attemptedSamples: number[] = [];
  const attemptedAlarms: string[] = [];
  const acceptedSamples: Array<{ id: number; seq: number }> = [];
  const acceptedAlarms: Array<{ id: string; seq: number }> = [];
  const alarmAcceptedAt = new Map<string, number>();
  for (const path of o.agentJournals) {
    for (const f of readJournal(path)) {
      switch (f[0]) {
        case 'a':
          attemptedSamples.push(Number(f[1]));
          break;
        case 'r':
          attemptedAlarms.push(f[1]!);
          break;
        case 't': {
          const seq = Number(f[1]);
          for (const id of (f[3] ?? '').split(','))
            if (id !== '') acceptedSamples.push({ id: Number(id), seq });
          break;
        }
        case 'A':
          acceptedAlarms.push({ id: f[3]!, seq: Number(f[1]) });
          if (!alarmAcceptedAt.has(f[3]!)) alarmAcceptedAt.set(f[3]!, Number(f[2]));
          break;
      }
    }
  }
  // The seq each stored telemetry frame had, per sample id, in storing order.
  const hubSeqs = new Map<number, number[]>();
  let hubDuplicates = 0;
  for (const f of readJournal(o.hubJournal)) {
    if (f[0] === 'D') hubDuplicates++;
    if (f[0] !== 'S') continue;
    const seq = Number(f[1]);
    for (const id of (f[2] ?? '').split(',')) {
      if (id === '') continue;
      const list = hubSeqs.get(Number(id));
      if (list) list.push(seq);
      else hubSeqs.set(Number(id), [seq]);
    }
  }

  const db = new Database(o.dbPath, { readonly: true, fileMustExist: true });
  try {
    const storedSamples: Array<{ id: number; seq?: number }> = [];
    const seen = new Map<number, number>();
    const rows = db
      .prepare(`SELECT values_json FROM samples WHERE device_id = ? ORDER BY id`)
      .all(o.deviceId) as Array<{ values_json: string }>;
    for (const r of rows) {
      const id = sampleId(JSON.parse(r.values_json) as Record<string, number | null>);
      if (id === undefined) continue;
      const k = seen.get(id) ?? 0;
      seen.set(id, k + 1);
      const seq = hubSeqs.get(id)?.[k];
      storedSamples.push(seq === undefined ? { id } : { id, seq });
    }
    const alarmRows = db
      .prepare(
        `SELECT seq, code, state, observed_at_ms, stored_at_ms FROM alarms WHERE device_id = ? ORDER BY id`,
      )
      .all(o.deviceId) as Array<{
      seq: number;
      code: number;
      state: string;
      observed_at_ms: number;
      stored_at_ms: number;
    }>;
    const storedAlarms = alarmRows.map((a) => ({
      id: alarmKey(a.code, a.state, a.observed_at_ms),
      seq: a.seq,
      storedAtMs: a.stored_at_ms,
    }));
    const gaps = (
      db
        .prepare(`SELECT from_seq, to_seq, records FROM gaps WHERE device_id = ? ORDER BY id`)
        .all(o.deviceId) as Array<{ from_seq: number; to_seq: number; records: number }>
    ).map((g) => ({ fromSeq: g.from_seq, toSeq: g.to_seq, records: g.records }));
    const streams = (
      db.prepare(`SELECT count(*) AS n FROM streams WHERE device_id = ?`).get(o.deviceId) as {
        n: number;
      }
    ).n;
    const alarmLatenciesMs: number[] = [];
    const counted = new Set<string>();
    for (const a of storedAlarms) {
      const at = alarmAcceptedAt.get(a.id);
      if (at === undefined || counted.has(a.id) || at < (o.latencyFromMs ?? 0)) continue;
      counted.add(a.id);
      alarmLatenciesMs.push(a.storedAtMs - at);
    }
    return {
      telemetry: checkTotalQueue({
        attempted: attemptedSamples,
        accepted: acceptedSamples,
        stored: storedSamples,
        gaps,
      }),
      alarms: checkTotalQueue({
        attempted: attemptedAlarms,
        accepted: acceptedAlarms,
        stored: storedAlarms,
        gaps,
      }),
      alarmLatenciesMs,
      streams,
      gaps,
      hubDuplicates,
    };
  } finally {
    db.close();
  }
}

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
