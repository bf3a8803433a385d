import { describe, expect, it } from 'vitest';
import { parseUnitProcessSettings, unitProcessSettings } from './agent-kit.js';

describe('unit process settings (what agent-footprint starts service-unit with)', () => {
  it('reads several assignments on one Environment= line and the node flags before the script', () => {
    const s = parseUnitProcessSettings(
      [
        '[Service]',
        '# Environment=IGNORED=1',
        'Environment=A=1 B_=131072',
        'Environment=C=x',
        'ExecStart=/usr/bin/node --one --two=3 /opt/x.js agent --config /etc/a.json',
      ].join('\n'),
      'test.service',
    );
    expect(s.env).toEqual({ A: '1', B_: '131072', C: 'x' });
    expect(s.nodeFlags).toEqual(['--one', '--two=3']);
  });

  it('refuses a unit without node flags', () => {
    expect(() => parseUnitProcessSettings('ExecStart=/usr/bin/node /opt/x.js', 'u')).toThrow(
      /no ExecStart= with node flags/,
    );
  });

  it('gives the shipped unit its glibc environment and V8 flags', async () => {
    const s = await unitProcessSettings();
    expect(s.env).toMatchObject({
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
      MALLOC_TRIM_THRESHOLD_: '131072',
    });
    expect(s.nodeFlags).toEqual([
      '--single-threaded',
      '--optimize-for-size',
      '--no-sparkplug',
      '--expose-gc',
      '--no-flush-bytecode',
      '--no-lazy',
      '--no-lazy-feedback-allocation',
      '--interrupt-budget=17301504',
    ]);
  });
});
