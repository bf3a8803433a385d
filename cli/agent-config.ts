/**
 * The `outpost agent` configuration file: one JSON object, checked field by field before
 * anything starts. Every problem is an {@link AgentConfigError} that names the file, the field
 * and what is wrong, so a technician can fix it without reading code. Relative paths are taken
 * from the configuration file's directory. No secret belongs in this file: the keystore holds
 * the device's keys, sealed with a key that comes from a file (or a systemd credential).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  ConfigError,
  parseTransmitSchedule,
  type LogLevel,
  type ProxyConfig,
  type TransmitScheduleConfig,
} from '../src/index.js';

export type AgentConfigErrorCode = 'AGENT_CONFIG_UNREADABLE' | 'AGENT_CONFIG_INVALID';

/** A configuration file that cannot be used. `field` is a dotted path (`adapter.port`). */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
  constructor(
    readonly code: AgentConfigErrorCode,
    readonly file: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${problem}`);
  }
}

export type AdapterConfig =
  | {
      type: 'modbus-tcp';
      host: string;
      port: number;
      unitId?: number;
      timeoutMs?: number;
      retries?: number;
    }
  | {
      type: 'modbus-rtu';
      path: string;
      baudRate?: number;
      parity?: 'none' | 'even' | 'odd';
      dataBits?: 7 | 8;
      stopBits?: 1 | 2;
      unitId?: number;
      timeoutMs?: number;
      retries?: number;
    }
  | {
      type: 'serial';
      path: string;
      baudRate?: number;
      parity?: 'none' | 'even' | 'odd';
      dataBits?: 7 | 8;
      stopBits?: 1 | 2;
      rtscts?: boolean;
      commandTimeoutMs?: number;
      retries?: number;
    };

/** The checked configuration, every path absolute. */
export interface AgentServiceConfig {
  /** The file it came from (absolute). */
  file: string;
  /** Must match the client certificate's common name; required to enrol. */
  deviceId?: string;
  hub: {
    url: string;
    /** The hub's CA bundle, pinned at enrolment (the keystore keeps its own sealed copy). */
    caFile: string;
    servername?: string;
    terminatedUpstream?: boolean;
  };
  keystore: {
    path: string;
    /**
     * 32 raw bytes, mode 0600. Default: `$CREDENTIALS_DIRECTORY/outpost-sealing-key` (systemd
     * `LoadCredential=`), else an error.
     */
    sealingKeyFile?: string;
  };
  spool: { dir: string; maxBytes?: number };
  adapter: AdapterConfig;
  /** Default: the bundled protocols/register-map.json. */
  registerMapFile?: string;
  /** Default: the bundled protocols/error-codes.json. */
  errorCatalogueFile?: string;
  pollIntervalMs?: number;
  errorPollIntervalMs?: number;
  pollTimeoutMs?: number;
  alarmCoalesceMs?: number;
  telemetry?: { sendIntervalMs?: number; schedule?: TransmitScheduleConfig };
  proxy?: ProxyConfig;
  logLevel: LogLevel;
  /** How long SIGTERM waits for the hub to acknowledge what is pending. Default 5000 ms. */
  stopDrainMs: number;
  /**
   * How often the service runs a full garbage collection when node exposes it (`--expose-gc`);
   * 0 turns it off. Default 600 000 ms (see `startPeriodicFullGc` in cli/agent.ts).
   */
  fullGcIntervalMs: number;
}

/** The service's full GC period when node exposes gc (the shipped unit's settings). */
export const DEFAULT_FULL_GC_INTERVAL_MS = 600_000;

/** The name `LoadCredential=` gives the sealing key in the shipped unit. */
export const SEALING_KEY_CREDENTIAL = 'outpost-sealing-key';

/** Reads and checks a configuration file. */
export async function loadAgentConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentServiceConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentConfigError(
      'AGENT_CONFIG_UNREADABLE',
      file,
      '',
      code === 'ENOENT'
        ? 'the file does not exist'
        : `the file cannot be read (${code ?? String(err)})`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AgentConfigError(
      'AGENT_CONFIG_INVALID',
      file,
      '',
      `not valid JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  return parseAgentConfig(raw, file, env);
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Checks an already parsed configuration object; `file` is for messages and relative paths. */
export function parseAgentConfig(
  raw: unknown,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): AgentServiceConfig {
  const base = dirname(file);
  const fail = (field: string, problem: string): never => {
    throw new AgentConfigError('AGENT_CONFIG_INVALID', file, field, problem);
  };
  const obj = (v: unknown, field: string, known: readonly string[]): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      fail(field || '(top level)', 'must be a JSON object');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!known.includes(k))
        fail(field ? `${field}.${k}` : k, `unknown field (known: ${known.join(', ')})`);
    return o;
  };
  const str = (o: Record<string, unknown>, k: string, field: string, required: boolean) => {
    const v = o[k];
    if (v === undefined) {
      if (required) fail(`${field}${k}`, 'is required');
      return undefined;
    }
    if (typeof v !== 'string' || v.trim() === '')
      fail(`${field}${k}`, `must be a non-empty string (got ${JSON.stringify(v)})`);
    return v as string;
  };
  const int = (
    o: Record<string, unknown>,
    k: string,
    field: string,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      fail(
        `${field}${k}`,
        `must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`} (got ${JSON.stringify(v)})`,
      );
    return v as number;
  };
  const bool = (o: Record<string, unknown>, k: string, field: string): boolean | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean')
      fail(`${field}${k}`, `must be true or false (got ${JSON.stringify(v)})`);
    return v as boolean;
  };
  const oneOf = <T extends string | number>(
    o: Record<string, unknown>,
    k: string,
    field: string,
    allowed: readonly T[],
  ): T | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!allowed.includes(v as T))
      fail(
        `${field}${k}`,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')} (got ${JSON.stringify(v)})`,
      );
    return v as T;
  };
  const path = (o: Record<string, unknown>, k: string, field: string, required: boolean) => {
    const v = str(o, k, field, required);
    return v === undefined ? undefined : isAbsolute(v) ? v : resolve(base, v);
  };
  const defined = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

  const top = obj(raw, '', [
    '$comment',
    'deviceId',
    'hub',
    'keystore',
    'spool',
    'adapter',
    'registerMapFile',
    'errorCatalogueFile',
    'pollIntervalMs',
    'errorPollIntervalMs',
    'pollTimeoutMs',
    'alarmCoalesceMs',
    'telemetry',
    'proxy',
    'logLevel',
    'stopDrainMs',
    'fullGcIntervalMs',
  ]);

  if (top.hub === undefined) fail('hub', 'is required');
  const hubRaw = obj(top.hub, 'hub', ['url', 'caFile', 'servername', 'terminatedUpstream']);
  const url = str(hubRaw, 'url', 'hub.', true)!;
  let parsedUrl: URL | undefined;
  try {
    parsedUrl = new URL(url);
  } catch {
    fail('hub.url', `is not a URL (got ${JSON.stringify(url)})`);
  }
  if (parsedUrl!.protocol !== 'wss:')
    fail('hub.url', `must start with wss:// (got ${parsedUrl!.protocol}//)`);
  const hub: AgentServiceConfig['hub'] = defined({
    url,
    caFile: path(hubRaw, 'caFile', 'hub.', true)!,
    servername: str(hubRaw, 'servername', 'hub.', false),
    terminatedUpstream: bool(hubRaw, 'terminatedUpstream', 'hub.'),
  });

  if (top.keystore === undefined) fail('keystore', 'is required');
  const ksRaw = obj(top.keystore, 'keystore', ['path', 'sealingKeyFile']);
  let sealingKeyFile = path(ksRaw, 'sealingKeyFile', 'keystore.', false);
  if (sealingKeyFile === undefined && env.CREDENTIALS_DIRECTORY)
    sealingKeyFile = resolve(env.CREDENTIALS_DIRECTORY, SEALING_KEY_CREDENTIAL);
  if (sealingKeyFile === undefined)
    fail(
      'keystore.sealingKeyFile',
      `is required unless systemd passes the key as the credential "${SEALING_KEY_CREDENTIAL}" (LoadCredential=, CREDENTIALS_DIRECTORY)`,
    );
  const keystore = { path: path(ksRaw, 'path', 'keystore.', true)!, sealingKeyFile };

  if (top.spool === undefined) fail('spool', 'is required');
  const spRaw = obj(top.spool, 'spool', ['dir', 'maxBytes']);
  const spool = defined({
    dir: path(spRaw, 'dir', 'spool.', true)!,
    maxBytes: int(spRaw, 'maxBytes', 'spool.', 1024 * 1024),
  });

  if (top.adapter === undefined) fail('adapter', 'is required');
  const adapter = parseAdapter(top.adapter);

  const telemetryRaw =
    top.telemetry === undefined
      ? undefined
      : obj(top.telemetry, 'telemetry', ['sendIntervalMs', 'schedule']);
  const telemetry =
    telemetryRaw &&
    defined({
      sendIntervalMs: int(telemetryRaw, 'sendIntervalMs', 'telemetry.', 50),
      schedule: schedule(telemetryRaw.schedule),
    });

  return defined({
    file,
    deviceId: str(top, 'deviceId', '', false),
    hub,
    keystore,
    spool,
    adapter,
    registerMapFile: path(top, 'registerMapFile', '', false),
    errorCatalogueFile: path(top, 'errorCatalogueFile', '', false),
    pollIntervalMs: int(top, 'pollIntervalMs', '', 50),
    errorPollIntervalMs: int(top, 'errorPollIntervalMs', '', 0),
    pollTimeoutMs: int(top, 'pollTimeoutMs', '', 10),
    alarmCoalesceMs: int(top, 'alarmCoalesceMs', '', 0),
    telemetry,
    proxy: top.proxy === undefined ? undefined : parseProxy(top.proxy),
    logLevel: oneOf(top, 'logLevel', '', LOG_LEVELS) ?? 'info',
    stopDrainMs: int(top, 'stopDrainMs', '', 0, 600_000) ?? 5000,
    fullGcIntervalMs: fullGcInterval(top),
  });

  function fullGcInterval(o: Record<string, unknown>): number {
    const v = int(o, 'fullGcIntervalMs', '', 0, 86_400_000) ?? DEFAULT_FULL_GC_INTERVAL_MS;
    if (v !== 0 && v < 10_000)
      fail('fullGcIntervalMs', `must be 0 (off) or at least 10000 ms (got ${v})`);
    return v;
  }

  function parseAdapter(v: unknown): AdapterConfig {
    const probe = obj(v, 'adapter', Object.keys((v ?? {}) as object));
    const type = oneOf(probe, 'type', 'adapter.', ['modbus-tcp', 'modbus-rtu', 'serial'] as const);
    if (type === undefined)
      fail('adapter.type', 'is required ("modbus-tcp", "modbus-rtu" or "serial")');
    const f = 'adapter.';
    if (type === 'modbus-tcp') {
      const o = obj(v, 'adapter', ['type', 'host', 'port', 'unitId', 'timeoutMs', 'retries']);
      return defined({
        type,
        host: str(o, 'host', f, true)!,
        port: int(o, 'port', f, 1, 65535) ?? 502,
        unitId: int(o, 'unitId', f, 0, 255),
        timeoutMs: int(o, 'timeoutMs', f, 10),
        retries: int(o, 'retries', f, 0, 10),
      });
    }
    const lineFields = ['type', 'path', 'baudRate', 'parity', 'dataBits', 'stopBits'];
    const line = (o: Record<string, unknown>) =>
      defined({
        path: str(o, 'path', f, true)!,
        baudRate: int(o, 'baudRate', f, 50, 4_000_000),
        parity: oneOf(o, 'parity', f, ['none', 'even', 'odd'] as const),
        dataBits: oneOf(o, 'dataBits', f, [7, 8] as const),
        stopBits: oneOf(o, 'stopBits', f, [1, 2] as const),
        retries: int(o, 'retries', f, 0, 10),
      });
    if (type === 'modbus-rtu') {
      const o = obj(v, 'adapter', [...lineFields, 'unitId', 'timeoutMs', 'retries']);
      return defined({
        type,
        ...line(o),
        unitId: int(o, 'unitId', f, 1, 247),
        timeoutMs: int(o, 'timeoutMs', f, 10),
      });
    }
    const o = obj(v, 'adapter', [...lineFields, 'rtscts', 'commandTimeoutMs', 'retries']);
    return defined({
      type: 'serial' as const,
      ...line(o),
      rtscts: bool(o, 'rtscts', f),
      commandTimeoutMs: int(o, 'commandTimeoutMs', f, 10),
    });
  }

  function schedule(v: unknown): TransmitScheduleConfig | undefined {
    if (v === undefined) return undefined;
    try {
      parseTransmitSchedule(v, 'telemetry.schedule');
    } catch (err) {
      if (err instanceof ConfigError) fail(err.path, err.message.slice(err.path.length + 2));
      throw err;
    }
    return v as TransmitScheduleConfig;
  }

  function parseProxy(v: unknown): ProxyConfig {
    const probe = obj(v, 'proxy', Object.keys((v ?? {}) as object));
    const mode = oneOf(probe, 'mode', 'proxy.', ['none', 'env', 'url', 'pac'] as const);
    if (mode === undefined) fail('proxy.mode', 'is required ("none", "env", "url" or "pac")');
    if (mode === 'url') {
      const o = obj(v, 'proxy', ['mode', 'url']);
      return { mode, url: str(o, 'url', 'proxy.', true)! };
    }
    if (mode === 'pac') {
      const o = obj(v, 'proxy', ['mode', 'pacUrl']);
      return { mode, pacUrl: str(o, 'pacUrl', 'proxy.', true)! };
    }
    obj(v, 'proxy', ['mode']);
    return { mode: mode! };
  }
}
