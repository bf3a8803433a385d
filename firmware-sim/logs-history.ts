/**
 * The log lines of past activity the XR-200 has on disk at boot: days of exams (studies with
 * made-up patients, exposures, image transfers), occasional faults, door openings and restarts.
 * Pure and seeded: the same PRNG state gives the same lines.
 */
import { catalogue } from './catalogue.js';
import {
  BOOT_LINE,
  exposure,
  fakePatient,
  formatLine,
  imageStored,
  levelOf,
  operatorNote,
  studyClosed,
  studyOpened,
  type LogLevel,
} from './logs-lines.js';
import type { Prng } from './prng.js';
import { EXAM_TECHNIQUES } from './workload.js';

export interface HistoryEntry {
  /** Time from the first entry, ms. */
  readonly relMs: number;
  readonly level: LogLevel;
  readonly source: string;
  readonly text: string;
}

/** Entries worth about `bytes` once formatted (none for 0), in time order. */
export function pastActivity(
  prng: Prng,
  bytes: number,
  ids: { accession(): string; sop(): number },
): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  if (bytes <= 0) return entries;
  let size = 0;
  let t = 0;
  let heat = 5;
  let exposures = prng.int(20_000, 80_000);
  const faults = [...catalogue.values()].filter((e) => e.severity !== 'info');
  const add = (level: LogLevel, source: string, text: string): void => {
    entries.push({ relMs: t, level, source, text });
    size += formatLine(0, level, source, text).length; // ASCII: one byte a character
  };
  add('INFO', 'SYS', BOOT_LINE);
  while (size < bytes) {
    t += Math.round(prng.exponential(90_000)) + 5_000;
    const patient = fakePatient(prng);
    const base = prng.pick(EXAM_TECHNIQUES);
    const accession = ids.accession();
    add('INFO', 'WKL', studyOpened(patient, accession, base.exam));
    if (prng.chance(0.15)) add('INFO', 'UI', operatorNote(patient, prng));
    const images = prng.int(1, 4);
    for (let i = 0; i < images; i++) {
      t += prng.int(800, 20_000);
      exposures += 1;
      heat = Math.min(92, heat * 0.97 + (base.kv * base.ma * base.ms * 1.35) / 300_000);
      const technique = {
        kv: Math.round(base.kv * (1 + prng.normal(0, 0.01)) * 10) / 10,
        ma: Math.round(base.ma * (1 + prng.normal(0, 0.015)) * 10) / 10,
        ms: base.ms,
      };
      add('INFO', 'GEN', exposure({ number: exposures, ...technique, heatPct: heat }));
      add('INFO', 'DCM', imageStored(patient, ids.sop(), prng.chance(0.97)));
    }
    add('INFO', 'WKL', studyClosed(patient, accession, images));
    if (prng.chance(0.06)) {
      const fault = prng.pick(faults);
      add(levelOf(fault), 'ERR', `${fault.code} ${fault.name} raised (model): ${fault.text}`);
      t += prng.int(2_000, 120_000);
      add('INFO', 'ERR', `${fault.code} ${fault.name} cleared (condition)`);
    }
    if (prng.chance(0.04)) {
      add('WARN', 'IL', 'door opened');
      t += prng.int(5_000, 60_000);
      add('INFO', 'IL', 'door closed');
    }
    if (prng.chance(0.01)) {
      t += prng.int(3_600_000, 36_000_000);
      add('INFO', 'SYS', BOOT_LINE);
    }
  }
  return entries;
}
