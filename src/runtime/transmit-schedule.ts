import { ConfigError } from '../adapters/errors.js';
import { MAX_TRANSMIT_WAIT_MS } from './transmit-time.js';

export {
  isTransmitOpen,
  MAX_TRANSMIT_WAIT_MS,
  nextTransmitAt,
  type NextTransmitOptions,
  type ScheduleTimeOptions,
} from './transmit-time.js';

/**
 * When telemetry is sent, as a technician writes it: an interval (`"every 15m"`, `"15 minutes"`,
 * `"1h"`, or ms), or daily transmit windows (`"02:00-04:00"`, `"22:00–02:00"`; several allowed;
 * they may overlap, and telemetry may go while any of them is open). Inside a window pending telemetry is flushed at the window's start and
 * then every `sendEvery` (default 60 s) until it ends; outside, it stays in the spool. Alarm-class
 * codes are sent at once whatever the schedule: that is the agent's business, not this module's.
 */
export type TransmitScheduleConfig =
  | string
  | number
  | { every: string | number }
  | { windows: string | string[]; timeZone?: 'local' | 'utc'; sendEvery?: string | number };

/** A daily window in minutes after local midnight: [start, end); end < start crosses midnight. */
export interface TransmitWindow {
  readonly startMinute: number;
  /** 1–1440 (1440 is "24:00"). */
  readonly endMinute: number;
}

/** A parsed, validated schedule. */
export type TransmitSchedule =
  | { readonly kind: 'interval'; readonly intervalMs: number }
  | {
      readonly kind: 'windows';
      readonly windows: readonly TransmitWindow[];
      readonly timeZone: 'local' | 'utc';
      readonly sendEveryMs: number;
    };

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
/** Default pace of sends inside a window. */
export const DEFAULT_SEND_EVERY_MS = MIN;

// prettier-ignore
const UNITS: Readonly<Record<string, number>> = {
  ms: 1, s: SEC, sec: SEC, secs: SEC, second: SEC, seconds: SEC,
  m: MIN, min: MIN, mins: MIN, minute: MIN, minutes: MIN,
  h: HOUR, hr: HOUR, hrs: HOUR, hour: HOUR, hours: HOUR,
};

/** Parses a duration: `"15m"`, `"every 15 minutes"`, `"every hour"`, `"90 s"`, or a number of ms. */
export function parseDuration(input: unknown, path: string, what = 'interval'): number {
  let ms: number | undefined = typeof input === 'number' ? input : undefined;
  if (typeof input === 'string') {
    const m = /^(?:every\s+)?(\d+(?:\.\d+)?)?\s*([a-z]+)$/i.exec(input.trim());
    const unit = m?.[2] === undefined ? undefined : UNITS[m[2].toLowerCase()];
    const implicitOne = m?.[1] === undefined && /^every\s/i.test(input.trim());
    if (m && unit !== undefined && (m[1] !== undefined || implicitOne)) {
      ms = Math.round(Number(m[1] ?? 1) * unit);
    }
  }
  const shown = typeof input === 'number' ? String(input) : JSON.stringify(input);
  if (ms === undefined || !Number.isFinite(ms)) {
    throw new ConfigError(
      `transmit ${what} ${shown}: expected a duration such as "15m", "every 15 minutes", "1h" or a number of milliseconds`,
      path,
    );
  }
  if (!Number.isInteger(ms) || ms < SEC || ms > MAX_TRANSMIT_WAIT_MS) {
    throw new ConfigError(`transmit ${what} ${shown}: must be between 1 s and 24 h`, path);
  }
  return ms;
}

function parseClock(text: string, shown: string, path: string, isEnd: boolean): number {
  const [h, m] = text.split(':').map(Number) as [number, number];
  if (h === 24 && m === 0 && isEnd) return 1440;
  if (h > 23) {
    throw new ConfigError(
      `transmit window ${shown}: hour must be 0–23 (24:00 only as an end)`,
      path,
    );
  }
  if (m > 59) throw new ConfigError(`transmit window ${shown}: minutes must be 0–59`, path);
  return h * 60 + m;
}

/** Parses one window, `"HH:MM-HH:MM"` (hyphen, en or em dash; spaces allowed). */
export function parseWindow(text: string, path: string): TransmitWindow {
  const shown = JSON.stringify(text);
  const m = /^\s*(\d{1,2}:\d{2})\s*[-\u2013\u2014]\s*(\d{1,2}:\d{2})\s*$/.exec(text);
  if (!m?.[1] || !m[2]) {
    throw new ConfigError(
      `transmit window ${shown}: expected "HH:MM-HH:MM", e.g. "02:00-04:00"`,
      path,
    );
  }
  const startMinute = parseClock(m[1], shown, path, false);
  const endMinute = parseClock(m[2], shown, path, true);
  if (startMinute === endMinute % 1440) {
    throw new ConfigError(
      `transmit window ${shown}: start and end are the same; write "00:00-24:00" to send all day`,
      path,
    );
  }
  return { startMinute, endMinute };
}

/** Validates a schedule from configuration; throws `ConfigError` (code OUTPOST_BAD_CONFIG). */
export function parseTransmitSchedule(input: unknown, path = 'transmitSchedule'): TransmitSchedule {
  if (typeof input === 'string' && /^\s*\d{1,2}:/.test(input)) {
    return parseTransmitSchedule({ windows: input }, path);
  }
  if (typeof input === 'string' || typeof input === 'number') {
    return { kind: 'interval', intervalMs: parseDuration(input, path) };
  }
  const o = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  if ('every' in o === 'windows' in o) {
    throw new ConfigError('must have either "every" (an interval) or "windows"', path);
  }
  if ('every' in o)
    return { kind: 'interval', intervalMs: parseDuration(o.every, `${path}.every`) };
  const list = typeof o.windows === 'string' ? o.windows.split(',') : o.windows;
  if (!Array.isArray(list) || list.length === 0 || list.some((w) => typeof w !== 'string')) {
    throw new ConfigError('must be a list of windows such as ["02:00-04:00"]', `${path}.windows`);
  }
  const windows = (list as string[]).map((w, i) => parseWindow(w, `${path}.windows[${i}]`));
  const timeZone = o.timeZone ?? 'local';
  if (timeZone !== 'local' && timeZone !== 'utc') {
    throw new ConfigError('must be "local" or "utc"', `${path}.timeZone`);
  }
  const every = o.sendEvery ?? DEFAULT_SEND_EVERY_MS;
  const sendEveryMs = parseDuration(every, `${path}.sendEvery`, 'send interval');
  return { kind: 'windows', windows, timeZone, sendEveryMs };
}

function formatDuration(ms: number): string {
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MIN === 0) return `${ms / MIN}m`;
  return ms % SEC === 0 ? `${ms / SEC}s` : `${ms}ms`;
}

const hhmm = (min: number): string =>
  `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;

/** The config form of a schedule; `parseTransmitSchedule(formatTransmitSchedule(s))` equals `s`. */
export function formatTransmitSchedule(s: TransmitSchedule): TransmitScheduleConfig {
  if (s.kind === 'interval') return { every: formatDuration(s.intervalMs) };
  return {
    windows: s.windows.map((w) => `${hhmm(w.startMinute)}-${hhmm(w.endMinute)}`),
    timeZone: s.timeZone,
    sendEvery: formatDuration(s.sendEveryMs),
  };
}
