import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../adapters/errors.js';
import {
  formatTransmitSchedule,
  isTransmitOpen,
  MAX_TRANSMIT_WAIT_MS,
  nextTransmitAt,
  parseTransmitSchedule,
  type TransmitSchedule,
} from './transmit-schedule.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);
const fixed = (minutes: number) => (): number => minutes;
/** An offset that changes once, at `jumpMs` (a DST transition). */
const step = (jumpMs: number, before: number, after: number) => (t: number) =>
  t < jumpMs ? before : after;
const utc = { utcOffsetMinutes: fixed(0) };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('OUTPOST_BAD_CONFIG');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseTransmitSchedule', () => {
  it.each([
    ['every 15m', 15 * MIN],
    ['15 minutes', 15 * MIN],
    ['every 15 minutes', 15 * MIN],
    ['every hour', HOUR],
    ['1.5h', 90 * MIN],
    ['90 s', 90_000],
    [900_000, 15 * MIN],
    [{ every: '2h' }, 2 * HOUR],
    [{ every: 5000 }, 5000],
  ])('reads the interval %j', (input, intervalMs) => {
    expect(parseTransmitSchedule(input)).toEqual({ kind: 'interval', intervalMs });
  });

  it('reads windows: hyphen or en dash, crossing midnight, several, 24:00 as an end', () => {
    expect(
      parseTransmitSchedule({
        windows: ['02:00-04:00', '22:00–02:00', '7:30 - 24:00'],
        timeZone: 'utc',
        sendEvery: '5m',
      }),
    ).toEqual({
      kind: 'windows',
      windows: [
        { startMinute: 120, endMinute: 240 },
        { startMinute: 1320, endMinute: 120 },
        { startMinute: 450, endMinute: 1440 },
      ],
      timeZone: 'utc',
      sendEveryMs: 5 * MIN,
    });
    expect(parseTransmitSchedule('02:00–04:00, 13:00-13:30')).toMatchObject({
      windows: [
        { startMinute: 120, endMinute: 240 },
        { startMinute: 780, endMinute: 810 },
      ],
      timeZone: 'local',
      sendEveryMs: MIN,
    });
  });

  it('tells a technician what is wrong with a window, and where', () => {
    const err = configError(() =>
      parseTransmitSchedule({ windows: ['02:00-03:00', '25:00-03:00'] }),
    );
    expect(err.path).toBe('transmitSchedule.windows[1]');
    expect(err.message).toBe(
      'transmitSchedule.windows[1]: transmit window "25:00-03:00": hour must be 0–23 (24:00 only as an end)',
    );
  });

  it.each([
    [{ windows: ['02:60-03:00'] }, 'transmitSchedule.windows[0]'],
    [{ windows: ['2am-4am'] }, 'transmitSchedule.windows[0]'],
    [{ windows: ['03:00-03:00'] }, 'transmitSchedule.windows[0]'],
    [{ windows: ['24:00-02:00'] }, 'transmitSchedule.windows[0]'],
    [{ windows: [] }, 'transmitSchedule.windows'],
    [{ windows: [7] }, 'transmitSchedule.windows'],
    [{ windows: ['02:00-04:00'], timeZone: 'Europe/Berlin' }, 'transmitSchedule.timeZone'],
    [{ windows: ['02:00-04:00'], sendEvery: '0s' }, 'transmitSchedule.sendEvery'],
    [{ every: 'every 15 parsecs' }, 'transmitSchedule.every'],
    [{ every: '500ms' }, 'transmitSchedule.every'],
    [{ every: '25h' }, 'transmitSchedule.every'],
    [{ every: true }, 'transmitSchedule.every'],
    ['15', 'transmitSchedule'],
    [1.5, 'transmitSchedule'],
    [{}, 'transmitSchedule'],
    [{ every: '1h', windows: ['02:00-04:00'] }, 'transmitSchedule'],
    [null, 'transmitSchedule'],
  ])('rejects %j at %s', (input, path) => {
    expect(configError(() => parseTransmitSchedule(input)).path).toBe(path);
  });
});

describe('nextTransmitAt: intervals', () => {
  const s = parseTransmitSchedule('every 15m');
  const now = at('2024-05-01T12:00:00Z');

  it('sends at once when nothing was sent, then one interval after the last send', () => {
    expect(nextTransmitAt(s, now)).toBe(now);
    expect(nextTransmitAt(s, now, { lastSentAtMs: now - 5 * MIN })).toBe(now + 10 * MIN);
    expect(isTransmitOpen(s, now)).toBe(true);
  });

  it('neither floods nor stalls when the clock jumps ±24 h', () => {
    expect(nextTransmitAt(s, now, { lastSentAtMs: now - DAY })).toBe(now);
    expect(nextTransmitAt(s, now, { lastSentAtMs: now + DAY })).toBe(now + 15 * MIN);
  });
});

describe('nextTransmitAt: windows', () => {
  const night = parseTransmitSchedule({ windows: ['02:00-04:00'], sendEvery: '1m' });

  it('waits for the window, flushes at its start, then sends every minute until it ends', () => {
    expect(nextTransmitAt(night, at('2024-05-01T01:00:00Z'), utc)).toBe(at('2024-05-01T02:00:00Z'));
    const start = at('2024-05-01T02:00:00Z');
    expect(nextTransmitAt(night, start, utc)).toBe(start);
    expect(nextTransmitAt(night, start, { ...utc, lastSentAtMs: start })).toBe(start + MIN);
    const late = at('2024-05-01T03:59:30Z');
    expect(nextTransmitAt(night, late, { ...utc, lastSentAtMs: late - 30_000 })).toBe(
      at('2024-05-02T02:00:00Z'),
    );
    expect(nextTransmitAt(night, at('2024-05-01T04:00:00Z'), utc)).toBe(at('2024-05-02T02:00:00Z'));
  });

  it('flushes at once when started (or woken late) inside a window not yet served', () => {
    const now = at('2024-05-01T03:10:00Z');
    expect(nextTransmitAt(night, now, { ...utc, lastSentAtMs: now - 20 * HOUR })).toBe(now);
    expect(nextTransmitAt(night, now, { ...utc, lastSentAtMs: now - 10 * MIN })).toBe(now);
  });

  it('handles windows across midnight and several windows', () => {
    const s = parseTransmitSchedule({ windows: ['22:00-02:00', '13:00-13:30'], timeZone: 'utc' });
    expect(isTransmitOpen(s, at('2024-05-01T23:00:00Z'))).toBe(true);
    expect(isTransmitOpen(s, at('2024-05-02T01:59:59Z'))).toBe(true);
    expect(isTransmitOpen(s, at('2024-05-02T02:00:00Z'))).toBe(false);
    expect(nextTransmitAt(s, at('2024-05-02T02:00:00Z'))).toBe(at('2024-05-02T13:00:00Z'));
    expect(nextTransmitAt(s, at('2024-05-02T13:30:00Z'))).toBe(at('2024-05-02T22:00:00Z'));
  });

  it('reads windows in local time through the injected offset', () => {
    const cet = { utcOffsetMinutes: fixed(60) };
    expect(nextTransmitAt(night, at('2024-01-10T00:00:00Z'), cet)).toBe(at('2024-01-10T01:00:00Z'));
    const s = parseTransmitSchedule({ windows: ['02:00-04:00'], timeZone: 'utc' });
    expect(nextTransmitAt(s, at('2024-01-10T00:00:00Z'), cet)).toBe(at('2024-01-10T02:00:00Z'));
  });

  // EU 2024: clocks go 02:00 CET → 03:00 CEST at 01:00Z on 31 March, back at 01:00Z on 27 October.
  const spring = { utcOffsetMinutes: step(at('2024-03-31T01:00:00Z'), 60, 120) };
  const autumn = { utcOffsetMinutes: step(at('2024-10-27T01:00:00Z'), 120, 60) };

  it('opens a window the spring-forward jump skips, at the jump, once', () => {
    const s = parseTransmitSchedule({ windows: ['02:00-03:00'] });
    const jump = at('2024-03-31T01:00:00Z');
    expect(nextTransmitAt(s, at('2024-03-31T00:30:00Z'), spring)).toBe(jump);
    expect(isTransmitOpen(s, jump, spring)).toBe(true);
    expect(nextTransmitAt(s, jump, spring)).toBe(jump);
    expect(nextTransmitAt(s, jump, { ...spring, lastSentAtMs: jump })).toBe(
      at('2024-04-01T00:00:00Z'),
    );
    // A window that starts in the gap opens at the jump and ends at its local end.
    const t = parseTransmitSchedule({ windows: ['02:30-04:00'] });
    expect(nextTransmitAt(t, at('2024-03-31T00:00:00Z'), spring)).toBe(jump);
    expect(isTransmitOpen(t, at('2024-03-31T01:59:59Z'), spring)).toBe(true);
    expect(isTransmitOpen(t, at('2024-03-31T02:00:00Z'), spring)).toBe(false);
  });

  it('opens a window at the first of two repeated local times in autumn', () => {
    const s = parseTransmitSchedule({ windows: ['02:30-03:00'] });
    expect(nextTransmitAt(s, at('2024-10-27T00:00:00Z'), autumn)).toBe(at('2024-10-27T00:30:00Z'));
    // 03:00 local first comes at 02:00Z (03:00 CET): the repeated hour stays inside.
    expect(isTransmitOpen(s, at('2024-10-27T01:15:00Z'), autumn)).toBe(true);
    expect(isTransmitOpen(s, at('2024-10-27T02:00:00Z'), autumn)).toBe(false);
  });

  it('never asks for a timer more than 24 h ahead: the 25 h day becomes a re-check', () => {
    const s = parseTransmitSchedule({ windows: ['04:00-04:01'] });
    const now = at('2024-10-26T02:00:30Z'); // 04:00:30 CEST, just served
    const recheck = nextTransmitAt(s, now, { ...autumn, lastSentAtMs: now });
    expect(recheck).toBe(now + MAX_TRANSMIT_WAIT_MS);
    expect(isTransmitOpen(s, recheck, autumn)).toBe(false);
    expect(nextTransmitAt(s, recheck, { ...autumn, lastSentAtMs: now })).toBe(
      at('2024-10-27T03:00:00Z'),
    );
  });
});

// ---- properties ----

const windowArb = fc
  .record({
    startMinute: fc.integer({ min: 0, max: 1439 }),
    endMinute: fc.integer({ min: 1, max: 1440 }),
  })
  .filter((w) => w.startMinute !== w.endMinute % 1440);
const durationArb = fc.oneof(
  fc.integer({ min: 1000, max: DAY }),
  fc.integer({ min: 1, max: 24 }).map((h) => h * HOUR),
  fc.integer({ min: 1, max: 120 }).map((m) => m * MIN),
);
const windowsArb = fc.record({
  kind: fc.constant('windows' as const),
  windows: fc.array(windowArb, { minLength: 1, maxLength: 4 }),
  timeZone: fc.constantFrom('local' as const, 'utc' as const),
  sendEveryMs: durationArb,
});
const scheduleArb: fc.Arbitrary<TransmitSchedule> = fc.oneof(
  fc.record({ kind: fc.constant('interval' as const), intervalMs: durationArb }),
  windowsArb,
);
const nowArb = fc.integer({ min: at('2000-01-01T00:00:00Z'), max: at('2060-01-01T00:00:00Z') });
const offsetMinutesArb = fc.integer({ min: -48, max: 56 }).map((q) => q * 15);
/** A constant offset, or one DST-like change within a day or two of `now`. */
const offsetArb = (now: number) =>
  fc.oneof(
    offsetMinutesArb.map(fixed),
    fc
      .tuple(fc.integer({ min: -2 * DAY, max: 2 * DAY }), offsetMinutesArb, offsetMinutesArb)
      .map(([d, before, after]) => step(now + d, before, after)),
  );

describe('transmit schedule properties', () => {
  it('format then parse gives the same schedule', () => {
    fc.assert(
      fc.property(scheduleArb, (s) => {
        expect(parseTransmitSchedule(formatTransmitSchedule(s))).toEqual(s);
      }),
      { numRuns: 500 },
    );
  });

  it('the next time is never in the past nor over 24 h ahead, and is open unless a re-check', () => {
    const input = nowArb.chain((now) =>
      fc.tuple(
        fc.constant(now),
        scheduleArb,
        offsetArb(now),
        fc.option(fc.integer({ min: now - 3 * DAY, max: now + 3 * DAY }), { nil: undefined }),
      ),
    );
    fc.assert(
      fc.property(input, ([now, s, utcOffsetMinutes, lastSentAtMs]) => {
        const next = nextTransmitAt(s, now, { utcOffsetMinutes, lastSentAtMs });
        expect(next).toBeGreaterThanOrEqual(now);
        expect(next).toBeLessThanOrEqual(now + MAX_TRANSMIT_WAIT_MS);
        if (next !== now + MAX_TRANSMIT_WAIT_MS) {
          expect(isTransmitOpen(s, next, { utcOffsetMinutes })).toBe(true);
        }
        // Having just sent, the agent is never told to send again at the same instant.
        expect(nextTransmitAt(s, now, { utcOffsetMinutes, lastSentAtMs: now })).toBeGreaterThan(
          now,
        );
      }),
      { numRuns: 500 },
    );
  });

  it('an agent that follows it (with late timers) sends only in windows and never skips one', () => {
    const input = fc.tuple(
      nowArb,
      windowsArb.map((w) => ({ ...w, sendEveryMs: Math.max(w.sendEveryMs, 5 * MIN) })),
      offsetMinutesArb,
      fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 20 }),
    );
    fc.assert(
      fc.property(input, ([t0, s, offset, lateness]) => {
        const tz = { utcOffsetMinutes: fixed(offset) };
        const o = s.timeZone === 'utc' ? 0 : offset * MIN;
        const sends: number[] = [];
        let now = t0;
        let last: number | undefined;
        for (let i = 0; now < t0 + 3 * DAY && i < 10_000; i++) {
          const next = nextTransmitAt(s, now, { ...tz, lastSentAtMs: last });
          if (next === now) {
            expect(isTransmitOpen(s, now, tz)).toBe(true);
            sends.push(now);
            last = now;
          } else now = next + (lateness[i % lateness.length] ?? 0);
        }
        // Oracle: every window start in (t0, t0 + 2 days] is served within the lateness.
        const firstDay = Math.floor((t0 + o) / DAY);
        for (let d = firstDay; d <= firstDay + 3; d++) {
          for (const w of s.windows) {
            const start = d * DAY + w.startMinute * MIN - o;
            if (start <= t0 || start > t0 + 2 * DAY) continue;
            expect(sends.some((x) => x >= start && x <= start + 5000)).toBe(true);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
