import { describe, expect, it } from 'vitest';
import { FailureLog } from './failure-log.js';
import type { Logger } from './logger.js';

interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function setup(everyMs = 60_000): {
  lines: Line[];
  clock: { t: number; now(): number };
  f: FailureLog;
} {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, msg, fields: fields ?? {} });
    };
  const log: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  const clock = {
    t: 1_700_000_000_000,
    now(): number {
      return this.t;
    },
  };
  return { lines, clock, f: new FailureLog({ log, clock, everyMs }) };
}

const timeout = { code: 'ADAPTER_TIMEOUT', error: 'no reply in 1000 ms' };

describe('FailureLog', () => {
  it('logs the first failure, counts the same code for a minute, then logs it with the count', () => {
    const { lines, clock, f } = setup();
    for (let s = 0; s < 150; s++) {
      f.failed('error poll', timeout);
      clock.t += 1000;
    }
    expect(lines.map((l) => [l.msg, l.fields.repeatedSinceLastLine])).toEqual([
      ['poll failed', undefined],
      ['poll failed', 59],
      ['poll failed', 59],
    ]);
    expect(lines[0]).toMatchObject({ level: 'warn', fields: { poller: 'error poll', ...timeout } });
  });

  it('limits each code on its own when codes alternate, whatever their message text', () => {
    const { lines, clock, f } = setup();
    for (let s = 0; s < 300; s++) {
      f.failed('poll', s % 2 ? { code: 'MODBUS_BAD_REPLY', error: `${s} stray bytes` } : timeout);
      clock.t += 1000;
    }
    // Five minutes: each code at most once a minute (5 or 6 lines each), not 300 lines.
    const per = (code: string): number => lines.filter((l) => l.fields.code === code).length;
    expect(per('ADAPTER_TIMEOUT')).toBeLessThanOrEqual(6);
    expect(per('MODBUS_BAD_REPLY')).toBeLessThanOrEqual(6);
    expect(per('ADAPTER_TIMEOUT')).toBeGreaterThanOrEqual(5);
  });

  it('closes a run with one line at the same level, counting every failure in it', () => {
    const { lines, clock, f } = setup();
    for (let s = 0; s < 10; s++) {
      f.failed('poll', s < 5 ? timeout : { code: 'ADAPTER_CONNECT_FAILED', error: 'refused' });
      clock.t += 1000;
    }
    f.worked('poll');
    f.worked('poll'); // nothing open: nothing said
    expect(lines.map((l) => l.msg)).toEqual([
      'poll failed',
      'poll failed',
      'device reads work again',
    ]);
    expect(lines[2]).toMatchObject({
      level: 'warn',
      fields: { poller: 'poll', failedPolls: 10, lastCode: 'ADAPTER_CONNECT_FAILED' },
    });
    // A new run after recovery starts afresh: its first failure is logged at once.
    f.failed('poll', timeout);
    expect(lines).toHaveLength(4);
  });

  it('keeps pollers apart', () => {
    const { lines, f } = setup();
    f.failed('poll', timeout);
    f.failed('error poll', timeout);
    f.worked('error poll');
    f.failed('poll', timeout);
    expect(lines.map((l) => `${l.msg}/${String(l.fields.poller)}`)).toEqual([
      'poll failed/poll',
      'poll failed/error poll',
      'device reads work again/error poll',
    ]);
  });

  it('a clock stepped back logs at once instead of staying silent until it catches up', () => {
    const { lines, clock, f } = setup();
    f.failed('error poll', timeout);
    clock.t -= 3_600_000;
    f.failed('error poll', timeout);
    expect(lines).toHaveLength(2);
    clock.t += 1000;
    f.failed('error poll', timeout);
    expect(lines).toHaveLength(2);
  });

  it('reports the runs still open when closed', () => {
    const { lines, f } = setup();
    f.failed('poll', timeout);
    f.failed('poll', timeout);
    f.close();
    expect(lines.at(-1)).toMatchObject({
      msg: 'poll still failing at stop',
      fields: { poller: 'poll', failedPolls: 2, lastCode: 'ADAPTER_TIMEOUT' },
    });
    f.close();
    expect(lines).toHaveLength(2);
  });
});
