/**
 * What the XR-200 writes into its log files: exposures with their technique, worklist studies,
 * image transfers to PACS, interlock changes, warnings and errors, periodic health lines.
 *
 * Like real modality controllers, it logs patient identifiers it should not: the study line
 * carries DICOM-style attributes — `(0010,0010) PN [DOE^JANE]` (patient name),
 * `(0010,0020) LO [PID-123456]` (patient ID), `(0010,0030) DA [19650412]` (birth date),
 * `(0010,0040) CS [F]` (sex) — image transfers repeat the patient ID, and now and then an
 * operator's free-text note names the patient and the birth date. Every identifier is made up
 * from the seeded PRNG (all names are well-known placeholder names); they exist so that the
 * agent's redaction has something real to catch.
 */
import type { CatalogueEntry } from './catalogue.js';
import type { Prng } from './prng.js';

export type LogLevel = 'INFO' | 'WARN' | 'ERROR';

export const BOOT_LINE = 'XR-200 controller boot fw=2.4.1 serial=XR200-SIM-0001 log=on';

/** The level an error raise is logged at: warnings (and infos) WARN, the rest ERROR. */
export function levelOf(entry: CatalogueEntry | undefined): LogLevel {
  if (!entry) return 'ERROR';
  return entry.severity === 'warning' || entry.severity === 'info' ? 'WARN' : 'ERROR';
}

/** One made-up patient. */
export interface FakePatient {
  /** DICOM PN form, `FAMILY^GIVEN`. */
  readonly name: string;
  readonly family: string;
  readonly given: string;
  /** `PID-` and six digits. */
  readonly id: string;
  /** YYYYMMDD. */
  readonly birthDate: string;
  readonly sex: 'F' | 'M';
}

/** Placeholder family names used in documentation around the world. */
const FAMILIES = [
  'DOE',
  'ROE',
  'MUSTERMANN',
  'DUPONT',
  'ROSSI',
  'NORDMANN',
  'SVENSSON',
  'JANSEN',
  'KOWALSKI',
  'MEIKALAINEN',
  'FULANO',
  'BLOGGS',
] as const;
const GIVEN_F = ['JANE', 'ERIKA', 'MARIE', 'ANNA', 'KARI', 'MAJA', 'LUCIA', 'JOAN'] as const;
const GIVEN_M = ['JOHN', 'RICHARD', 'MAX', 'MARIO', 'OLA', 'SVEN', 'JAN', 'FRED'] as const;

export function fakePatient(prng: Prng): FakePatient {
  const sex = prng.chance(0.5) ? 'F' : 'M';
  const family = prng.pick(FAMILIES);
  const given = prng.pick(sex === 'F' ? GIVEN_F : GIVEN_M);
  const year = prng.int(1935, 2015);
  const month = prng.int(1, 12);
  const day = prng.int(1, 28);
  return {
    name: `${family}^${given}`,
    family,
    given,
    id: `PID-${String(prng.int(0, 999_999)).padStart(6, '0')}`,
    birthDate: `${year}${pad2(month)}${pad2(day)}`,
    sex,
  };
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `2026-01-05T07:00:12.345Z I GEN  text` — fixed-width level and source columns. */
export function formatLine(atMs: number, level: LogLevel, source: string, text: string): string {
  return `${new Date(atMs).toISOString()} ${level.padEnd(5)} ${source.padEnd(4)} ${text}\n`;
}

export function studyOpened(patient: FakePatient, accession: string, exam: string): string {
  return (
    `STUDY OPEN acc=${accession} exam="${exam}" (0010,0010) PN [${patient.name}] ` +
    `(0010,0020) LO [${patient.id}] (0010,0030) DA [${patient.birthDate}] (0010,0040) CS [${patient.sex}]`
  );
}

export function studyClosed(patient: FakePatient, accession: string, images: number): string {
  return `STUDY CLOSE acc=${accession} images=${images} patient=${patient.id}`;
}

export interface ExposureFacts {
  readonly number: number;
  readonly kv: number;
  readonly ma: number;
  readonly ms: number;
  readonly heatPct: number;
}

export function exposure(e: ExposureFacts): string {
  const mas = (e.ma * e.ms) / 1000;
  return (
    `EXPOSURE n=${e.number} kV=${e.kv.toFixed(1)} mA=${e.ma.toFixed(1)} ms=${e.ms} ` +
    `mAs=${mas.toFixed(2)} heat=${e.heatPct.toFixed(1)}%`
  );
}

export function imageStored(patient: FakePatient, sopSuffix: number, ok: boolean): string {
  return (
    `C-STORE PACS01 ${ok ? 'ok' : 'FAILED status=A700 retry'} ` +
    `sop=1.2.826.0.1.3680043.10.543.${sopSuffix} (0010,0020) LO [${patient.id}]`
  );
}

/** A technician's free-text note: names the patient the way people write, not as DICOM. */
export function operatorNote(patient: FakePatient, prng: Prng): string {
  const given = titleCase(patient.given);
  const family = titleCase(patient.family);
  const dob = `${patient.birthDate.slice(6, 8)}.${patient.birthDate.slice(4, 6)}.${patient.birthDate.slice(0, 4)}`;
  const notes = [
    `operator note: "${given} ${family} (DOB ${dob}) in wheelchair, assisted transfer"`,
    `operator note: "repeat view, patient ${family} moved"`,
    `operator note: "pt ${given} ${family} ${patient.id} pregnancy excluded per form"`,
  ];
  return prng.pick(notes);
}

function titleCase(s: string): string {
  return s.charAt(0) + s.slice(1).toLowerCase();
}
