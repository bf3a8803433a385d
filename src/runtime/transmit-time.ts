/** When a parsed transmit schedule opens and when to send next: the time arithmetic. */
import type { TransmitSchedule } from './transmit-schedule.js';

/** How local time is read; tests inject the offset so they never depend on the host's TZ. */
export interface ScheduleTimeOptions {
  /** Local time minus UTC, in minutes, at an instant (+60 for CET). Default: the host's. */
  utcOffsetMinutes?: (atMs: number) => number;
}

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** The longest timer `nextTransmitAt` ever asks for; also the longest interval allowed. */
export const MAX_TRANSMIT_WAIT_MS = DAY;

/** Local time minus UTC at an instant, in ms. */
type Offset = (atMs: number) => number;

function offsetOf(s: TransmitSchedule, o: ScheduleTimeOptions): Offset {
  if (s.kind === 'interval' || s.timeZone === 'utc') return () => 0;
  const f = o.utcOffsetMinutes ?? ((t: number) => -new Date(t).getTimezoneOffset());
  return (t) => f(t) * MIN;
}

/**
 * The first instant whose local time is `local` (the earlier one when a DST fall-back repeats
 * it; the instant of the jump when a spring-forward skips it). Assumes at most one UTC-offset
 * change in any 28 h and offsets within −12 h…+14 h, as in every real time zone.
 */
function toInstant(local: number, off: Offset): number {
  let lo = local - 15 * HOUR;
  let hi = local + 13 * HOUR;
  const before = off(lo);
  if (off(hi) === before) return local - before;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (off(mid) === before) lo = mid;
    else hi = mid;
  }
  const jump = hi; // first instant with the new offset
  if (local - before < jump) return local - before;
  return Math.max(jump, local - off(jump));
}

interface Occurrence {
  start: number;
  end: number;
}

/** Window occurrences (as instants) on the local days around `now`. */
function occurrences(s: TransmitSchedule & { kind: 'windows' }, now: number, off: Offset) {
  const today = Math.floor((now + off(now)) / DAY);
  const out: Occurrence[] = [];
  for (let d = today - 1; d <= today + 2; d++) {
    for (const w of s.windows) {
      const from = d * DAY + w.startMinute * MIN;
      const minutes =
        w.endMinute > w.startMinute
          ? w.endMinute - w.startMinute
          : w.endMinute + 1440 - w.startMinute;
      const start = toInstant(from, off);
      // A window swallowed whole by a spring-forward jump still opens, for a minute.
      out.push({ start, end: Math.max(toInstant(from + minutes * MIN, off), start + MIN) });
    }
  }
  return out;
}

const inside = (occs: readonly Occurrence[], t: number): Occurrence[] =>
  occs.filter((o) => o.start <= t && t < o.end);

/** Whether telemetry may be sent at `nowMs` (always, for an interval schedule). */
export function isTransmitOpen(
  s: TransmitSchedule,
  nowMs: number,
  options: ScheduleTimeOptions = {},
): boolean {
  return (
    s.kind === 'interval' || inside(occurrences(s, nowMs, offsetOf(s, options)), nowMs).length > 0
  );
}

export interface NextTransmitOptions extends ScheduleTimeOptions {
  /** When pending telemetry was last sent on schedule (undefined: never, since start). */
  lastSentAtMs?: number;
}

/**
 * When to send pending telemetry next. A result equal to `nowMs` means "send now"; otherwise set
 * a timer for the result and ask again when it fires (with the new `lastSentAtMs` if you sent).
 * The result is never before `nowMs` and never more than 24 h after it, whatever the wall clock
 * did since the last call: a result may therefore be only a re-check point, never a send outside
 * a window.
 *
 * - interval: at once if nothing was sent yet, else `lastSentAtMs + interval`, clamped to
 *   [now, now + interval] (a clock jump neither floods nor stalls).
 * - windows: at once when a window is open and nothing was sent since it opened (the flush at its
 *   start, also after a late timer or a restart), then every `sendEveryMs` while it stays open;
 *   outside, the next window's start. A window that passes while the agent is down is not made
 *   up; its telemetry goes in the next one.
 */
export function nextTransmitAt(
  s: TransmitSchedule,
  nowMs: number,
  options: NextTransmitOptions = {},
): number {
  const last = options.lastSentAtMs;
  const clamp = (t: number, step: number): number => Math.min(Math.max(t, nowMs), nowMs + step);
  if (s.kind === 'interval')
    return last === undefined ? nowMs : clamp(last + s.intervalMs, s.intervalMs);
  const occs = occurrences(s, nowMs, offsetOf(s, options));
  const nextStart = Math.min(
    nowMs + MAX_TRANSMIT_WAIT_MS,
    ...occs.filter((o) => o.start > nowMs).map((o) => o.start),
  );
  const open = inside(occs, nowMs);
  if (open.length === 0) return nextStart;
  if (last === undefined || last < Math.max(...open.map((o) => o.start))) return nowMs;
  const again = clamp(last + s.sendEveryMs, s.sendEveryMs);
  return inside(occs, again).length > 0 ? Math.min(again, nextStart) : nextStart;
}
