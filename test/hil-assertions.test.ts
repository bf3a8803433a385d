import { describe, expect, it } from 'vitest';
import type { StoredAlarm } from '../hub/index.js';
import type { AgentStats } from '../src/index.js';
import type { SnapshotRecord } from '../hil/agent-host.js';
import { evaluate, lastFaultEnd } from '../hil/assertions.js';
import type { Observations } from '../hil/observations.js';
import type { AssertionSpec, FaultSpec } from '../hil/scenario.js';

const T0 = 1_000_000;
const COUNTERS = [
  { name: 'exposures_total', type: 'u32', scale: 1 },
  { name: 'tube_mas_total', type: 'u32', scale: 0.1 },
  { name: 'uptime', type: 'u32', scale: 1 },
];
const ALL = COUNTERS.map((c) => c.name);

function stats(samples: number, alarms: number): AgentStats {
  return { samplesAccepted: samples, alarmsAccepted: alarms } as AgentStats;
}

function alarm(
  code: number,
  state: 'raised' | 'cleared',
  storedAtMs: number,
  missedRaises = 0,
): StoredAlarm {
  return {
    deviceId: 'D',
    seq: 0,
    code,
    state,
    severity: 4,
    subsystem: 'x',
    text: '',
    observedAtMs: storedAtMs,
    storedAtMs,
    missedRaises,
  };
}

function observations(over: Partial<Observations> = {}): Observations {
  return {
    rigKind: 'sim',
    t0: T0,
    endMs: T0 + 10_000,
    agentPollMs: 1000,
    counters: COUNTERS,
    simRaises: [],
    power: [],
    faults: [],
    agent: {
      pid: 42,
      aliveAtEnd: true,
      tunnelAtEnd: 'open',
      snapshots: [],
      pollErrors: [],
      uncaught: [],
      stderr: [],
      exit: { code: 0, signal: null, killed: false },
      finalStats: stats(10, 2),
      lastStats: stats(10, 2),
    },
    hub: { counts: { samples: 10, alarms: 2 }, alarms: [], samples: [] },
    simFinal: undefined,
    ...over,
  };
}

const snap = (atMs: number, read = ALL): SnapshotRecord => ({
  t: 'snapshot',
  atMs,
  read,
  missing: ALL.filter((n) => !read.includes(n)),
  codes: [],
});

const check = (spec: AssertionSpec, obs: Observations) => evaluate(spec, obs);

describe('alarmStoredWithin', () => {
  const spec: AssertionSpec = { kind: 'alarmStoredWithin', code: 2002, ms: 2000, which: 'each' };

  it('measures each raise to the first stored raise after it', () => {
    const obs = observations({
      simRaises: [
        { code: 2002, atMs: T0 + 1000, visible: true },
        { code: 2002, atMs: T0 + 5000, visible: true },
      ],
      hub: {
        counts: { samples: 1, alarms: 2 },
        alarms: [alarm(2002, 'raised', T0 + 1400), alarm(2002, 'raised', T0 + 7500)],
        samples: [],
      },
    });
    const r = check(spec, obs);
    expect(r).toMatchObject({ status: 'FAIL', value: 2500 });
    expect(r.measured).toContain('worst 2500 ms');
    expect(check({ ...spec, which: 'first' }, obs)).toMatchObject({ status: 'PASS', value: 400 });
  });

  it('fails when the code was never raised or never stored, and skips on hardware', () => {
    expect(check(spec, observations())).toMatchObject({ status: 'FAIL', value: null });
    const lost = observations({ simRaises: [{ code: 2002, atMs: T0, visible: true }] });
    expect(check(spec, lost).measured).toContain('1 of 1 raises never stored');
    expect(check(spec, observations({ rigKind: 'hardware' })).status).toBe('SKIPPED');
  });
});

describe('everyCounterRead and recoversWithin', () => {
  const reboot: FaultSpec = { fault: 'reboot', downMs: 1500, index: 0, atMs: 3000 };
  const faults = [{ spec: reboot, atMs: T0 + 3000, outcome: { status: 'applied' as const } }];
  const power = [
    { state: 'down' as const, atMs: T0 + 3000 },
    { state: 'up' as const, atMs: T0 + 4600 },
  ];

  it('wants a complete read after the controller is back', () => {
    const base = { faults, power };
    expect(lastFaultEnd(observations(base))).toBe(T0 + 4600);
    const partial = observations({
      ...base,
      agent: {
        ...observations().agent,
        snapshots: [snap(T0 + 1000), snap(T0 + 5000, ['exposures_total'])],
      },
    });
    const r = check({ kind: 'everyCounterRead' }, partial);
    expect(r.status).toBe('FAIL');
    expect(r.measured).toContain('missed tube_mas_total, uptime');
    const whole = observations({
      ...base,
      agent: { ...observations().agent, snapshots: [snap(T0 + 5000, ['uptime']), snap(T0 + 5900)] },
    });
    expect(check({ kind: 'everyCounterRead' }, whole).status).toBe('PASS');
    // Back at +4.6 s; the first complete read at +5.9 s.
    expect(check({ kind: 'recoversWithin', ms: 1500 }, whole)).toMatchObject({
      status: 'PASS',
      value: 1300,
    });
    expect(check({ kind: 'recoversWithin', ms: 1000 }, whole).status).toBe('FAIL');
  });

  it('recoversWithin fails past its limit and is skipped without a reboot', () => {
    const slow = observations({
      faults,
      power,
      agent: { ...observations().agent, snapshots: [snap(T0 + 9000)] },
    });
    expect(check({ kind: 'recoversWithin', ms: 3000 }, slow)).toMatchObject({
      status: 'FAIL',
      value: 4400,
    });
    expect(check({ kind: 'recoversWithin', ms: 3000 }, observations()).status).toBe('SKIPPED');
  });
});

describe('counterWrapped', () => {
  const series = (values: number[]) =>
    values.map((v, i) => ({ deviceId: 'D', tMs: T0 + i * 500, values: { exposures_total: v } }));
  const withSamples = (values: number[], final?: number) =>
    observations({
      hub: { counts: { samples: values.length, alarms: 0 }, alarms: [], samples: series(values) },
      ...(final === undefined
        ? {}
        : { simFinal: { counters: { exposures_total: final }, quiet: true } }),
    });
  const spec: AssertionSpec = { kind: 'counterWrapped', counter: 'exposures_total' };

  it('passes across 2^32 and checks the last value against a quiet controller', () => {
    const r = check(spec, withSamples([2 ** 32 - 2, 2 ** 32 - 1, 1, 2], 2));
    expect(r.status).toBe('PASS');
    expect(r.measured).toContain('4294967295 → 1');
    expect(check(spec, withSamples([2 ** 32 - 2, 1, 2], 3)).status).toBe('FAIL');
  });

  it('fails when it never wraps, jumps back or leaves the range', () => {
    expect(check(spec, withSamples([1, 2, 3])).measured).toContain('never wrapped');
    expect(check(spec, withSamples([2 ** 31 + 5, 10])).measured).toContain('backwards');
    expect(check(spec, withSamples([-1, 3])).measured).toContain('outside');
    expect(check({ ...spec, counter: 'nope' }, withSamples([1, 2])).status).toBe('FAIL');
  });
});

describe('process assertions', () => {
  it('noUnhandledErrors reports the first uncaught error and an unclean exit', () => {
    const r = check(
      { kind: 'noUnhandledErrors' },
      observations({
        agent: {
          ...observations().agent,
          uncaught: [
            { t: 'uncaught', origin: 'unhandledRejection', name: 'TypeError', message: 'boom' },
          ],
          exit: { code: 1, signal: null, killed: false },
          stderr: ['TypeError: boom', '{"level":"error","msg":"x"}'],
        },
      }),
    );
    expect(r).toMatchObject({ status: 'FAIL', value: 1 });
    expect(r.measured).toContain('unhandledRejection TypeError: boom');
    expect(r.measured).toContain('exit code 1');
    expect(r.measured).toContain('1 error-level log lines, 1 other stderr lines');
    const killed = observations({
      agent: { ...observations().agent, exit: { code: null, signal: 'SIGKILL', killed: true } },
    });
    expect(check({ kind: 'noUnhandledErrors' }, killed).status).toBe('FAIL');
  });

  it('agentRunning wants the process alive and still polling', () => {
    const idle = observations();
    expect(check({ kind: 'agentRunning' }, idle)).toMatchObject({ status: 'FAIL', value: false });
    const busy = observations({ agent: { ...observations().agent, snapshots: [snap(T0 + 9500)] } });
    expect(check({ kind: 'agentRunning' }, busy)).toMatchObject({ status: 'PASS', value: true });
    const dead = observations({ agent: { ...busy.agent, aliveAtEnd: false } });
    expect(check({ kind: 'agentRunning' }, dead).status).toBe('FAIL');
  });

  it('telemetryLost compares what the agent accepted with what the hub stored', () => {
    const obs = observations({
      hub: { counts: { samples: 8, alarms: 2 }, alarms: [], samples: [] },
    });
    expect(check({ kind: 'telemetryLost', max: 0 }, obs)).toMatchObject({
      status: 'FAIL',
      value: 2,
    });
    expect(check({ kind: 'telemetryLost', max: 2 }, obs).status).toBe('PASS');
  });

  it('maxAlarmsStored and raisesReported count the hub records and the raises they carry', () => {
    const obs = observations({
      hub: {
        counts: { samples: 0, alarms: 3 },
        alarms: [
          alarm(3003, 'raised', T0, 30),
          alarm(3003, 'cleared', T0 + 1),
          alarm(3003, 'raised', T0 + 2, 9),
        ],
        samples: [],
      },
    });
    expect(check({ kind: 'maxAlarmsStored', code: 3003, max: 2 }, obs)).toMatchObject({
      status: 'FAIL',
      value: 3,
    });
    expect(check({ kind: 'raisesReported', code: 3003, atLeast: 41 }, obs)).toMatchObject({
      status: 'PASS',
      value: 41,
    });
    expect(check({ kind: 'raisesReported', code: 3003, atLeast: 42 }, obs).status).toBe('FAIL');
  });
});
