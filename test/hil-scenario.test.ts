import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { expand, missingVariables } from '../hil/env.js';
import { HilScenarioError } from '../hil/errors.js';
import { SCENARIO_DIR } from '../hil/main.js';
import { loadScenario, parseScenario } from '../hil/parse.js';

const minimal = {
  rig: { kind: 'sim' },
  duration: '3s',
  assertions: [{ agentRunning: true }],
};

/** The HilScenarioError `value` fails with (fails the test if it parses). */
function problem(value: unknown): HilScenarioError {
  try {
    parseScenario(value, 'x.json');
  } catch (err) {
    expect(err).toBeInstanceOf(HilScenarioError);
    return err as HilScenarioError;
  }
  throw new Error('expected the scenario to be refused');
}

describe('scenario parsing', () => {
  it('fills defaults and converts durations to ms', () => {
    const s = parseScenario(
      {
        ...minimal,
        faults: [
          { at: '2s', fault: 'storm', code: 3003, perSecond: 300, durationMs: '1.5s' },
          { at: 500, fault: 'inject', code: 2002, holdMs: '3s' },
          { at: '1s', fault: 'clock', jumpMs: '-24h' },
        ],
      },
      'dir/my-scenario.json',
    );
    expect(s).toMatchObject({
      name: 'my-scenario',
      ci: false,
      durationMs: 3000,
      rig: {
        kind: 'sim',
        faces: ['modbus-tcp'],
        seed: 1,
        timeScale: 1,
        workload: { enabled: true },
      },
      agent: { pollMs: 1000, errorPollMs: 250, sendMs: 2000, coalesceMs: 5000 },
    });
    // Sorted by time; the original index kept for the report.
    expect(s.faults.map((f) => [f.atMs, f.fault, f.index])).toEqual([
      [500, 'inject', 1],
      [1000, 'clock', 2],
      [2000, 'storm', 0],
    ]);
    expect(s.faults[0]).toMatchObject({ holdMs: 3000 });
    expect(s.faults[1]).toMatchObject({ jumpMs: -86_400_000 });
    expect(s.faults[2]).toMatchObject({ durationMs: 1500, perSecond: 300 });
  });

  it('names the path of every problem', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ ...minimal, duration: undefined }, 'duration', /required/],
      [{ ...minimal, duration: '3 parsecs' }, 'duration', /duration like/],
      [{ ...minimal, rig: { kind: 'vm' } }, 'rig.kind', /one of sim, hardware/],
      [
        { ...minimal, rig: { kind: 'sim', faces: ['carrier-pigeon'] } },
        'rig.faces[0]',
        /not available/,
      ],
      [{ ...minimal, rig: { kind: 'sim', timeScale: 0 } }, 'rig.timeScale', /greater than 0/],
      [{ ...minimal, agent: { pollMs: '1s', pollMS: 5 } }, 'agent.pollMS', /unknown field/],
      [
        {
          ...minimal,
          faults: [
            { at: '1s', fault: 'inject', code: 2002 },
            { at: '1s', fault: 'storm', code: 3003, perSecond: -5, durationMs: 100 },
          ],
        },
        'faults[1].perSecond',
        /greater than 0/,
      ],
      [
        { ...minimal, faults: [{ at: '1s', fault: 'inject', code: 2002, hold: 5 }] },
        'faults[0].hold',
        /unknown field/,
      ],
      [
        { ...minimal, faults: [{ at: '5s', fault: 'inject', code: 2002 }] },
        'faults[0].at',
        /not inside/,
      ],
      [{ ...minimal, faults: [{ fault: 'reboot' }] }, 'faults[0].at', /required/],
      [{ ...minimal, faults: [{ at: 0, fault: 'meltdown' }] }, 'faults[0].fault', /one of inject/],
      [
        { ...minimal, faults: [{ at: 0, fault: 'clock', jumpMs: '25h' }] },
        'faults[0].jumpMs',
        /at most/,
      ],
      [{ ...minimal, assertions: [] }, 'assertions', /at least one/],
      [
        { ...minimal, assertions: [{ agentRunning: true }, { alarmStoredWithin: { code: 2002 } }] },
        'assertions[1].alarmStoredWithin.ms',
        /duration/,
      ],
      [
        { ...minimal, assertions: [{ everyCounterRead: false }] },
        'assertions[0].everyCounterRead',
        /must be true/,
      ],
      [
        { ...minimal, assertions: [{ agentRuning: true }] },
        'assertions[0].agentRuning',
        /unknown assertion/,
      ],
      [
        { ...minimal, assertions: [{ agentRunning: true, samplesAtLeast: 3 }] },
        'assertions[0]',
        /exactly one key/,
      ],
      [
        { ...minimal, rig: { kind: 'hardware', registerMap: 'm.json', errorCatalogue: 'c.json' } },
        'rig',
        /needs a link/,
      ],
      [
        {
          ...minimal,
          rig: { kind: 'hardware', modbus: { port: 502 }, registerMap: 'm', errorCatalogue: 'c' },
        },
        'rig.modbus.host',
        /required/,
      ],
      [
        {
          ...minimal,
          rig: {
            kind: 'hardware',
            modbus: { host: '${OUTPOST_HIL_HOST' },
            registerMap: 'm',
            errorCatalogue: 'c',
          },
        },
        'rig.modbus.host',
        /malformed/,
      ],
      [
        {
          ...minimal,
          rig: {
            kind: 'hardware',
            modbus: { rtu: { baudRate: 19200 } },
            registerMap: 'm',
            errorCatalogue: 'c',
          },
        },
        'rig.modbus.rtu.path',
        /required/,
      ],
      [
        {
          ...minimal,
          rig: {
            kind: 'hardware',
            face: 'telepathy',
            modbus: { host: 'h' },
            registerMap: 'm',
            errorCatalogue: 'c',
          },
        },
        'rig.face',
        /not available/,
      ],
      [
        { ...minimal, rig: { kind: 'hardware', modbus: { host: 'h' }, errorCatalogue: 'c' } },
        'rig.registerMap',
        /required/,
      ],
      [{ ...minimal, surprise: 1 }, 'surprise', /unknown field/],
      [[], '', /must be an object/],
    ];
    for (const [value, path, message] of cases) {
      const err = problem(value);
      expect(err.path, JSON.stringify(value)).toBe(path);
      expect(err.code).toBe('HIL_SCENARIO_INVALID');
      expect(err.problem).toMatch(message);
      expect(err.message).toContain(`x.json: ${path === '' ? '(top level)' : path}:`);
    }
  });

  it("derives a hardware rig's face from its link section", () => {
    const rig = (links: Record<string, unknown>) =>
      parseScenario(
        { ...minimal, rig: { kind: 'hardware', ...links, registerMap: 'm', errorCatalogue: 'c' } },
        'x.json',
      ).rig;
    expect(rig({ modbus: { host: '${H}', port: '${P:-502}' } })).toMatchObject({
      face: 'modbus-tcp',
      links: { modbus: { host: '${H}', port: '${P:-502}' } },
    });
    expect(rig({ modbus: { rtu: { path: '/dev/ttyUSB0', baudRate: 19200 } } })).toMatchObject({
      face: 'modbus-rtu',
    });
    expect(rig({ serial: { path: '${OUTPOST_HIL_SERIAL}' } })).toMatchObject({ face: 'serial' });
    expect(rig({ sdk: { path: '/run/vendor.sock' } })).toMatchObject({ face: 'sdk' });
    expect(rig({ face: 'serial', modbus: { host: 'h' }, serial: { path: 'p' } })).toMatchObject({
      face: 'serial',
    });
  });

  it('loads every shipped scenario', async () => {
    const files = (await readdir(SCENARIO_DIR)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    const scenarios = await Promise.all(files.map((f) => loadScenario(SCENARIO_DIR + f)));
    expect(scenarios.filter((s) => s.ci).map((s) => s.rig.kind)).toContain('hardware');
  });
});

describe('environment references', () => {
  it('expands ${VAR} and ${VAR:-default}, and reports only variables without a default', () => {
    const value = {
      host: '${HIL_HOST}',
      port: '${HIL_PORT:-502}',
      path: 'maps/${HIL_MAP:-x}.json',
    };
    expect(missingVariables(value, {})).toEqual(['HIL_HOST']);
    expect(missingVariables(value, { HIL_HOST: '' })).toEqual(['HIL_HOST']);
    expect(missingVariables(value, { HIL_HOST: '10.0.0.5' })).toEqual([]);
    expect(expand(value, { HIL_HOST: '10.0.0.5', HIL_MAP: 'xr200' })).toEqual({
      host: '10.0.0.5',
      port: '502',
      path: 'maps/xr200.json',
    });
  });
});
