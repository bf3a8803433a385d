import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfigError, loadAgentConfig, parseAgentConfig } from './agent-config.js';

const FILE = '/etc/outpost/agent.json';

const valid = (): Record<string, unknown> => ({
  deviceId: 'XR200-0001',
  hub: { url: 'wss://hub.example.org/v1/tunnel', caFile: 'hub-ca.pem' },
  keystore: { path: '/var/lib/outpost/keystore', sealingKeyFile: '/etc/outpost/sealing.key' },
  spool: { dir: '/var/lib/outpost/spool' },
  adapter: { type: 'modbus-tcp', host: '192.168.10.20' },
});

/** The error parseAgentConfig throws for `raw`. */
function problem(raw: unknown, env: NodeJS.ProcessEnv = {}): AgentConfigError {
  try {
    parseAgentConfig(raw, FILE, env);
  } catch (err) {
    if (err instanceof AgentConfigError) return err;
    throw err;
  }
  throw new Error('the configuration was accepted');
}

function withField(path: string, value: unknown): Record<string, unknown> {
  const c = valid();
  const keys = path.split('.');
  let o = c;
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
  if (value === undefined) delete o[keys.at(-1)!];
  else o[keys.at(-1)!] = value;
  return c;
}

describe('outpost agent configuration', () => {
  it('accepts a minimal file: defaults filled in, relative paths from the file’s directory', () => {
    const c = parseAgentConfig(valid(), FILE, {});
    expect(c.hub.caFile).toBe('/etc/outpost/hub-ca.pem');
    expect(c.adapter).toEqual({ type: 'modbus-tcp', host: '192.168.10.20', port: 502 });
    expect(c.logLevel).toBe('info');
    expect(c.stopDrainMs).toBe(5000);
    expect(c.fullGcIntervalMs).toBe(600_000);
    expect(c.pollIntervalMs).toBeUndefined(); // the library's default (60 s) applies
  });

  it('takes a full-GC period of 0 (off) or of 10 s and more, and says why it rejects another', () => {
    expect(parseAgentConfig(withField('fullGcIntervalMs', 0), FILE, {}).fullGcIntervalMs).toBe(0);
    expect(
      parseAgentConfig(withField('fullGcIntervalMs', 300_000), FILE, {}).fullGcIntervalMs,
    ).toBe(300_000);
    const e = problem(withField('fullGcIntervalMs', 500));
    expect(e.code).toBe('AGENT_CONFIG_INVALID');
    expect(e.message).toContain('fullGcIntervalMs');
    expect(e.message).toContain('at least 10000 ms');
    expect(problem(withField('fullGcIntervalMs', -1)).message).toContain('fullGcIntervalMs');
  });

  it.each([
    ['hub.url', 'https://hub.example.org/v1/tunnel', /wss:\/\//],
    ['hub.url', 'not a url', /not a URL/],
    ['hub.caFile', undefined, /is required/],
    ['adapter.port', 70000, /from 1 to 65535/],
    ['adapter.type', 'canbus', /one of "modbus-tcp", "modbus-rtu", "serial"/],
    ['adapter.host', '', /non-empty string/],
    ['adapter.baud', 9600, /unknown field/],
    ['spool.maxBytes', 1000, /≥ 1048576/],
    ['pollIntervalMs', '60s', /whole number/],
    ['logLevel', 'verbose', /one of/],
    ['proxy', { mode: 'url' }, /is required/],
    ['telemetry', { schedule: '25:00-26:00' }, /./],
    ['spool', undefined, /is required/],
    ['hubb', {}, /unknown field/],
  ])('refuses %s = %j with an error naming the field', (field, value, why) => {
    const e = problem(withField(field, value));
    expect(e.code).toBe('AGENT_CONFIG_INVALID');
    expect(e.file).toBe(FILE);
    expect(e.field.startsWith(field.split('.')[0]!)).toBe(true);
    if (field !== 'proxy' && field !== 'telemetry') expect(e.field).toBe(field);
    expect(e.problem).toMatch(why);
    expect(e.message).toContain(`${FILE}: ${e.field}: `);
  });

  it('takes the sealing key from the systemd credential when the file names none', () => {
    const raw = withField('keystore.sealingKeyFile', undefined);
    expect(problem(raw).field).toBe('keystore.sealingKeyFile');
    const c = parseAgentConfig(raw, FILE, { CREDENTIALS_DIRECTORY: '/run/credentials/x' });
    expect(c.keystore.sealingKeyFile).toBe('/run/credentials/x/outpost-sealing-key');
  });

  it('reads the three adapter kinds', () => {
    const rtu = parseAgentConfig(
      withField('adapter', { type: 'modbus-rtu', path: '/dev/ttyUSB0', unitId: 3, parity: 'none' }),
      FILE,
      {},
    );
    expect(rtu.adapter).toEqual({
      type: 'modbus-rtu',
      path: '/dev/ttyUSB0',
      unitId: 3,
      parity: 'none',
    });
    const serial = parseAgentConfig(
      withField('adapter', { type: 'serial', path: '/dev/ttyS1', baudRate: 115200 }),
      FILE,
      {},
    );
    expect(serial.adapter).toEqual({ type: 'serial', path: '/dev/ttyS1', baudRate: 115200 });
    expect(
      problem(withField('adapter', { type: 'modbus-rtu', path: '/dev/x', unitId: 0 })).field,
    ).toBe('adapter.unitId');
  });

  describe('files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'outpost-agent-config-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('says when the file is missing or not JSON', async () => {
      const missing = join(dir, 'nope.json');
      await expect(loadAgentConfig(missing, {})).rejects.toMatchObject({
        code: 'AGENT_CONFIG_UNREADABLE',
        file: missing,
        problem: 'the file does not exist',
      });
      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{ "hub": ');
      await expect(loadAgentConfig(broken, {})).rejects.toMatchObject({
        code: 'AGENT_CONFIG_INVALID',
        problem: expect.stringMatching(/not valid JSON/) as unknown,
      });
    });

    it('accepts the shipped example (deploy/systemd/agent.example.json) under systemd', async () => {
      const c = await loadAgentConfig('deploy/systemd/agent.example.json', {
        CREDENTIALS_DIRECTORY: '/run/credentials/outpost-agent.service',
      });
      expect(c.keystore.sealingKeyFile).toBe(
        '/run/credentials/outpost-agent.service/outpost-sealing-key',
      );
      expect(c.pollIntervalMs).toBe(60_000);
    });
  });
});
