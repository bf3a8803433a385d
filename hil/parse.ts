/**
 * Reads and validates a scenario file. Every problem is a {@link HilScenarioError} that names
 * the file and the JSON path (`faults[2].perSecond: must be greater than 0, got -5`); unknown
 * fields are refused, so a typo never silently turns a check off.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { HilScenarioUnreadableError } from './errors.js';
import { faceNames } from './rigs/index.js';
import type {
  AgentSpec,
  AssertionKind,
  AssertionSpec,
  FaultBody,
  FaultKind,
  FaultSpec,
  HardwareRigSpec,
  RigSpec,
  Scenario,
  SimRigSpec,
} from './scenario.js';
import { Checker, join } from './validate.js';

const TOP = ['name', 'description', 'ci', 'rig', 'agent', 'duration', 'faults', 'assertions'];
const MAX_DURATION_MS = 30 * 60_000;
const DAY_MS = 86_400_000;

export const AGENT_DEFAULTS: AgentSpec = {
  pollMs: 1000,
  errorPollMs: 250,
  sendMs: 2000,
  coalesceMs: 5000,
};

export async function loadScenario(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new HilScenarioUnreadableError(`${path}: cannot read the scenario file`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new HilScenarioUnreadableError(`${path}: not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  return parseScenario(value, path);
}

export function parseScenario(value: unknown, source: string): Scenario {
  const c = new Checker(source);
  const o = c.object(value, '');
  c.onlyKeys(o, '', TOP);
  if (o.duration === undefined) c.fail('duration', 'is required (e.g. "10s")');
  const durationMs = c.duration(o.duration, 'duration', { min: 1, max: MAX_DURATION_MS });
  const rig = parseRig(c, o.rig);
  const faults = c
    .array(o.faults ?? [], 'faults')
    .map((f, i) => parseFault(c, f, join('faults', i), i, durationMs));
  if (o.assertions === undefined) c.fail('assertions', 'is required: a scenario checks something');
  const assertions = c
    .array(o.assertions, 'assertions')
    .map((a, i) => parseAssertion(c, a, join('assertions', i)));
  if (assertions.length === 0) c.fail('assertions', 'must list at least one assertion');
  return {
    name: o.name === undefined ? basename(source).replace(/\.json$/, '') : c.string(o.name, 'name'),
    description: o.description === undefined ? '' : c.string(o.description, 'description'),
    ci: o.ci === undefined ? false : c.boolean(o.ci, 'ci'),
    source,
    rig,
    agent: parseAgent(c, o.agent),
    durationMs,
    faults: faults.sort((a, b) => a.atMs - b.atMs || a.index - b.index),
    assertions,
  };
}

function parseRig(c: Checker, value: unknown): RigSpec {
  if (value === undefined)
    c.fail('rig', 'is required ({ "kind": "sim" } or { "kind": "hardware", ... })');
  const o = c.object(value, 'rig');
  const kind = c.oneOf(o.kind, 'rig.kind', ['sim', 'hardware'] as const);
  return kind === 'sim' ? parseSimRig(c, o) : parseHardwareRig(c, o);
}

function parseSimRig(c: Checker, o: Record<string, unknown>): SimRigSpec {
  c.onlyKeys(o, 'rig', ['kind', 'faces', 'seed', 'timeScale', 'workload', 'ambientC']);
  const known = faceNames();
  const faces = c.array(o.faces ?? ['modbus-tcp'], 'rig.faces').map((f, i) => {
    const path = join('rig.faces', i);
    const name = c.string(f, path);
    if (!known.includes(name))
      c.fail(path, `face "${name}" is not available in this build (known: ${known.join(', ')})`);
    return name;
  });
  if (faces.length === 0) c.fail('rig.faces', 'must name at least one face');
  let workload: SimRigSpec['workload'] = { enabled: true };
  if (o.workload !== undefined) {
    if (typeof o.workload === 'boolean') workload = { enabled: o.workload };
    else {
      const w = c.object(o.workload, 'rig.workload');
      c.onlyKeys(w, 'rig.workload', ['enabled', 'exposuresPerMinute']);
      workload = {
        enabled: w.enabled === undefined ? true : c.boolean(w.enabled, 'rig.workload.enabled'),
        ...(w.exposuresPerMinute === undefined
          ? {}
          : {
              exposuresPerMinute: c.number(
                w.exposuresPerMinute,
                'rig.workload.exposuresPerMinute',
                {
                  min: 0,
                  max: 600,
                },
              ),
            }),
      };
    }
  }
  return {
    kind: 'sim',
    faces,
    seed: o.seed === undefined ? 1 : c.number(o.seed, 'rig.seed', { integer: true }),
    timeScale:
      o.timeScale === undefined
        ? 1
        : c.number(o.timeScale, 'rig.timeScale', { above: 0, max: 1000 }),
    workload,
    ...(o.ambientC === undefined
      ? {}
      : { ambientC: c.number(o.ambientC, 'rig.ambientC', { min: -40, max: 60 }) }),
  };
}

/** Which face a link section implies, in order of preference. */
function impliedFace(links: HardwareRigSpec['links']): string | undefined {
  if (links.modbus) return 'rtu' in links.modbus ? 'modbus-rtu' : 'modbus-tcp';
  if (links.serial) return 'serial';
  if (links.sdk) return 'sdk';
  return undefined;
}

function parseHardwareRig(c: Checker, o: Record<string, unknown>): HardwareRigSpec {
  const LINKS = ['modbus', 'serial', 'sdk'];
  c.onlyKeys(o, 'rig', ['kind', 'face', ...LINKS, 'registerMap', 'errorCatalogue']);
  const links: HardwareRigSpec['links'] = {};
  if (o.modbus !== undefined) {
    const m = c.object(o.modbus, 'rig.modbus');
    if ('rtu' in m) {
      c.onlyKeys(m, 'rig.modbus', ['rtu', 'unitId']);
      const rtu = c.object(m.rtu, 'rig.modbus.rtu');
      c.onlyKeys(rtu, 'rig.modbus.rtu', ['path', 'baudRate', 'parity', 'unitId']);
      required(c, rtu, 'rig.modbus.rtu', ['path']);
      links.modbus = {
        rtu: templatedAll(c, rtu, 'rig.modbus.rtu'),
        ...templatedAll(c, omit(m, 'rtu'), 'rig.modbus'),
      };
    } else {
      c.onlyKeys(m, 'rig.modbus', ['host', 'port', 'unitId', 'rtu']);
      required(c, m, 'rig.modbus', ['host']);
      links.modbus = templatedAll(c, m, 'rig.modbus');
    }
  }
  if (o.serial !== undefined) {
    const s = c.object(o.serial, 'rig.serial');
    c.onlyKeys(s, 'rig.serial', ['path', 'baudRate']);
    required(c, s, 'rig.serial', ['path']);
    links.serial = templatedAll(c, s, 'rig.serial');
  }
  if (o.sdk !== undefined) links.sdk = templatedAll(c, c.object(o.sdk, 'rig.sdk'), 'rig.sdk');
  const face = o.face === undefined ? impliedFace(links) : c.string(o.face, 'rig.face');
  if (face === undefined) c.fail('rig', 'a hardware rig needs a link: "modbus", "serial" or "sdk"');
  const known = faceNames();
  if (!known.includes(face))
    c.fail(
      o.face === undefined ? 'rig' : 'rig.face',
      `face "${face}" is not available in this build (known: ${known.join(', ')})`,
    );
  if (o.registerMap === undefined)
    c.fail('rig.registerMap', 'is required on a hardware rig (a path)');
  if (o.errorCatalogue === undefined)
    c.fail('rig.errorCatalogue', 'is required on a hardware rig (a path)');
  return {
    kind: 'hardware',
    face,
    links,
    registerMap: c.templated(o.registerMap, 'rig.registerMap'),
    errorCatalogue: c.templated(o.errorCatalogue, 'rig.errorCatalogue'),
  };
}

function required(c: Checker, o: Record<string, unknown>, path: string, keys: string[]): void {
  for (const k of keys) if (o[k] === undefined) c.fail(join(path, k), 'is required');
}

function omit(o: Record<string, unknown>, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));
}

function templatedAll(
  c: Checker,
  o: Record<string, unknown>,
  path: string,
): Record<string, string | number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, c.templated(v, join(path, k))]));
}

function parseAgent(c: Checker, value: unknown): AgentSpec {
  if (value === undefined) return { ...AGENT_DEFAULTS };
  const o = c.object(value, 'agent');
  c.onlyKeys(o, 'agent', ['pollMs', 'errorPollMs', 'sendMs', 'coalesceMs', 'pollTimeoutMs']);
  const ms = (key: keyof AgentSpec, min: number): number =>
    o[key] === undefined
      ? (AGENT_DEFAULTS[key] as number)
      : c.duration(o[key], `agent.${key}`, { min, max: 3_600_000 });
  return {
    pollMs: ms('pollMs', 10),
    errorPollMs: ms('errorPollMs', 0),
    sendMs: ms('sendMs', 10),
    coalesceMs: ms('coalesceMs', 0),
    ...(o.pollTimeoutMs === undefined ? {} : { pollTimeoutMs: ms('pollTimeoutMs', 10) }),
  };
}

const FAULT_FIELDS: Record<FaultKind, string[]> = {
  inject: ['code', 'holdMs'],
  clear: ['code'],
  storm: ['code', 'perSecond', 'durationMs'],
  wrap: ['counter', 'before'],
  clock: ['jumpMs'],
  reboot: ['downMs', 'holdMs'],
  door: ['closed'],
  expose: ['count', 'everyMs', 'kv', 'ma', 'ms'],
  prompt: ['text'],
};

function parseFault(
  c: Checker,
  value: unknown,
  path: string,
  index: number,
  durationMs: number,
): FaultSpec {
  const o = c.object(value, path);
  const kind = c.oneOf(o.fault, join(path, 'fault'), Object.keys(FAULT_FIELDS) as FaultKind[]);
  c.onlyKeys(o, path, ['at', 'fault', ...FAULT_FIELDS[kind]]);
  if (o.at === undefined) c.fail(join(path, 'at'), 'is required (e.g. "2s")');
  const atMs = c.duration(o.at, join(path, 'at'));
  if (atMs >= durationMs)
    c.fail(join(path, 'at'), `${atMs} ms is not inside the scenario's duration (${durationMs} ms)`);
  const p = (key: string): string => join(path, key);
  const code = (): number => c.number(o.code, p('code'), { integer: true, min: 1, max: 0xffff });
  const hold = (): { holdMs?: number } =>
    o.holdMs === undefined ? {} : { holdMs: c.duration(o.holdMs, p('holdMs'), { min: 1 }) };
  let body: FaultBody;
  switch (kind) {
    case 'inject':
      body = { fault: kind, code: code(), ...hold() };
      break;
    case 'clear':
      body = { fault: kind, code: code() };
      break;
    case 'storm':
      body = {
        fault: kind,
        code: code(),
        perSecond: c.number(o.perSecond, p('perSecond'), { above: 0, max: 10_000 }),
        durationMs: c.duration(o.durationMs, p('durationMs'), { min: 1 }),
      };
      break;
    case 'wrap':
      body = {
        fault: kind,
        counter: c.oneOf(o.counter, p('counter'), ['exposures_total', 'tube_mas_total'] as const),
        before:
          o.before === undefined
            ? 3
            : c.number(o.before, p('before'), { integer: true, min: 1, max: 1_000_000 }),
      };
      break;
    case 'clock':
      body = {
        fault: kind,
        jumpMs: c.duration(o.jumpMs, p('jumpMs'), { signed: true, max: DAY_MS }),
      };
      break;
    case 'reboot':
      body = {
        fault: kind,
        downMs: o.downMs === undefined ? 1500 : c.duration(o.downMs, p('downMs'), { max: 600_000 }),
        ...hold(),
      };
      break;
    case 'door':
      body = { fault: kind, closed: c.boolean(o.closed, p('closed')) };
      break;
    case 'expose':
      body = {
        fault: kind,
        count:
          o.count === undefined
            ? 1
            : c.number(o.count, p('count'), { integer: true, min: 1, max: 1000 }),
        everyMs: o.everyMs === undefined ? 0 : c.duration(o.everyMs, p('everyMs')),
        kv: o.kv === undefined ? 70 : c.number(o.kv, p('kv'), { min: 20, max: 150 }),
        ma: o.ma === undefined ? 100 : c.number(o.ma, p('ma'), { min: 0.1, max: 1000 }),
        ms:
          o.ms === undefined ? 50 : c.number(o.ms, p('ms'), { integer: true, min: 1, max: 10_000 }),
      };
      break;
    case 'prompt':
      body = { fault: kind, text: c.string(o.text, p('text')) };
      break;
  }
  return { ...body, index, atMs };
}

const ASSERTIONS: readonly AssertionKind[] = [
  'alarmStoredWithin',
  'everyCounterRead',
  'agentRunning',
  'noUnhandledErrors',
  'maxAlarmsStored',
  'raisesReported',
  'telemetryLost',
  'samplesAtLeast',
  'counterWrapped',
  'recoversWithin',
];

function parseAssertion(c: Checker, value: unknown, path: string): AssertionSpec {
  const o = c.object(value, path);
  const keys = Object.keys(o);
  if (keys.length !== 1)
    c.fail(path, `must have exactly one key, the assertion (one of ${ASSERTIONS.join(', ')})`);
  const kind = keys[0] as string;
  if (!(ASSERTIONS as readonly string[]).includes(kind))
    c.fail(join(path, kind), `unknown assertion; expected one of ${ASSERTIONS.join(', ')}`);
  const p = join(path, kind);
  const v = o[kind];
  const isTrue = (): void => {
    if (v !== true) c.fail(p, 'must be true (leave the assertion out to not check it)');
  };
  const args = (fields: string[]): Record<string, unknown> => {
    const a = c.object(v, p);
    c.onlyKeys(a, p, fields);
    return a;
  };
  switch (kind as AssertionKind) {
    case 'alarmStoredWithin': {
      const a = args(['code', 'ms', 'which']);
      return {
        kind: 'alarmStoredWithin',
        code: c.number(a.code, join(p, 'code'), { integer: true, min: 1, max: 0xffff }),
        ms: c.duration(a.ms, join(p, 'ms'), { min: 1 }),
        which:
          a.which === undefined
            ? 'each'
            : c.oneOf(a.which, join(p, 'which'), ['each', 'first'] as const),
      };
    }
    case 'maxAlarmsStored': {
      const a = args(['code', 'max']);
      return {
        kind: 'maxAlarmsStored',
        code: c.number(a.code, join(p, 'code'), { integer: true, min: 1, max: 0xffff }),
        max: c.number(a.max, join(p, 'max'), { integer: true, min: 0 }),
      };
    }
    case 'raisesReported': {
      const a = args(['code', 'atLeast']);
      return {
        kind: 'raisesReported',
        code: c.number(a.code, join(p, 'code'), { integer: true, min: 1, max: 0xffff }),
        atLeast: c.number(a.atLeast, join(p, 'atLeast'), { integer: true, min: 1 }),
      };
    }
    case 'counterWrapped': {
      const a = args(['counter']);
      return { kind: 'counterWrapped', counter: c.string(a.counter, join(p, 'counter')) };
    }
    case 'recoversWithin': {
      const a = args(['ms']);
      return { kind: 'recoversWithin', ms: c.duration(a.ms, join(p, 'ms'), { min: 1 }) };
    }
    case 'telemetryLost':
      return { kind: 'telemetryLost', max: c.number(v, p, { integer: true, min: 0 }) };
    case 'samplesAtLeast':
      return { kind: 'samplesAtLeast', min: c.number(v, p, { integer: true, min: 0 }) };
    case 'everyCounterRead':
    case 'agentRunning':
    case 'noUnhandledErrors':
      isTrue();
      return { kind: kind as 'everyCounterRead' | 'agentRunning' | 'noUnhandledErrors' };
  }
}
