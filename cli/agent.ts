/**
 * `outpost agent`: one agent as a long-lived service (systemd, deploy/systemd/), assembled from
 * the public library API only, as an OEM would: the enrolled keystore, the crash-safe spool, an
 * adapter from the configuration file, JSON log lines on stdout (journald). SIGTERM or SIGINT
 * stops it gracefully (pending telemetry flushed to the spool, a short drain, exit 0).
 *
 * `outpost agent enrol`: the one-time enrolment that creates the keystore.
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import {
  ConfigError,
  createAgent,
  credentialsFromKeystore,
  enrolDevice,
  FileKeyProvider,
  FileKeystore,
  jsonLogger,
  modbusRtuAdapter,
  modbusTcpAdapter,
  parseErrorCatalogue,
  parseRegisterMap,
  saveEnrolment,
  serialAdapter,
  serialCountersFromRegisterMap,
  type Agent,
  type DeviceAdapter,
  type ErrorCatalogue,
  type Logger,
  type RegisterMap,
} from '../src/index.js';
import { AgentConfigError, type AgentServiceConfig } from './agent-config.js';

/**
 * Process settings for the long-lived service, applied before the agent starts. The agent owns
 * this process (unlike an OEM application that links the library, see docs/operations.md).
 *
 * - No Buffer pool. Node serves small `Buffer.allocUnsafe`/`Buffer.from` calls (a Modbus request,
 *   a WebSocket frame header, protobuf output) from a shared 8 KiB slab. At one poll a second a
 *   slab lasts minutes, so it is always tenured to V8's old generation, and every slab used up
 *   stays there with its 8 KiB until the next full GC, which an idle agent may not see for a day:
 *   V8's ArrayBuffer memory rose about 150 KiB/h (docs/benchmarks.md, session 10; glibc reuses
 *   free heap space for it at first, so the RSS shows it only hours in). Without the pool each
 *   small buffer has its own store, freed by the young-generation GC that collects it; at these
 *   rates the cost is nil.
 */
export function applyServiceProcessSettings(): void {
  Buffer.poolSize = 0;
}

/** V8's collector as `--expose-gc` puts it on the global object. */
type ExposedGc = () => void;

/**
 * Runs a full garbage collection every `intervalMs` while the service runs, if node was started
 * with `--expose-gc` (the shipped unit is); otherwise does nothing. Returns what stops it.
 *
 * Why: an agent that polls once a minute allocates so little that V8 never reaches the limit
 * that starts its next full GC after start-up (megabytes away, days at this rate), so what the
 * young-generation GCs promote — objects that live across a poll, a heartbeat or a transmit
 * window, then die — piles up in old space, and the RSS rises about 0.1 MiB an hour
 * (docs/benchmarks.md, sessions 8–12). A full GC of this small heap takes a few milliseconds.
 * The unit pairs it with `--no-flush-bytecode`: every full GC ages the bytecode of functions
 * that did not run since the last one, and without it code that runs every 15 minutes or every
 * hour would be thrown away and compiled again, GC after GC.
 */
export function startPeriodicFullGc(
  intervalMs: number,
  log: Logger,
  gc: unknown = (globalThis as { gc?: unknown }).gc,
): () => void {
  if (intervalMs <= 0) return () => undefined;
  if (typeof gc !== 'function') {
    log.debug('periodic full GC off: node was not started with --expose-gc', { intervalMs });
    return () => undefined;
  }
  const collect = gc as ExposedGc;
  const timer = setInterval(() => collect(), intervalMs);
  timer.unref();
  log.info('periodic full GC on', { intervalMs });
  return () => clearInterval(timer);
}

/** Exit status for a configuration the service cannot run with (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** A JSON-lines logger to stdout: journald keeps one entry per line. */
export function serviceLogger(level: AgentServiceConfig['logLevel']): Logger {
  return jsonLogger({ level, name: 'outpost-agent', stream: process.stdout });
}

async function readJson(file: string, field: string, configFile: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? `${file} does not exist`
        : `${file} cannot be read as JSON (${err instanceof Error ? err.message : String(err)})`;
    throw new AgentConfigError('AGENT_CONFIG_INVALID', configFile, field, why);
  }
}

/** The register map and error catalogue: from the files the configuration names, else the bundled ones. */
export async function loadDeviceDefinitions(
  c: AgentServiceConfig,
): Promise<{ registerMap: RegisterMap; catalogue: ErrorCatalogue }> {
  const wrap = <T>(file: string | undefined, field: string, parse: () => T): T => {
    try {
      return parse();
    } catch (err) {
      if (err instanceof ConfigError)
        throw new AgentConfigError(
          'AGENT_CONFIG_INVALID',
          file ?? c.file,
          file ? err.path : field,
          err.message.slice(err.path.length + 2),
        );
      throw err;
    }
  };
  const mapRaw = c.registerMapFile
    ? await readJson(c.registerMapFile, 'registerMapFile', c.file)
    : registerMapJson;
  const catRaw = c.errorCatalogueFile
    ? await readJson(c.errorCatalogueFile, 'errorCatalogueFile', c.file)
    : catalogueJson;
  return {
    registerMap: wrap(c.registerMapFile, 'registerMapFile', () => parseRegisterMap(mapRaw)),
    catalogue: wrap(c.errorCatalogueFile, 'errorCatalogueFile', () => parseErrorCatalogue(catRaw)),
  };
}

/** The adapter the configuration describes. Nothing is opened until the agent starts. */
export function buildAdapter(c: AgentServiceConfig, registerMap: RegisterMap): DeviceAdapter {
  const a = c.adapter;
  if (a.type === 'modbus-tcp') {
    const { type: _type, ...rest } = a;
    return modbusTcpAdapter({ ...rest, registerMap });
  }
  if (a.type === 'modbus-rtu') {
    const { type: _type, ...rest } = a;
    return modbusRtuAdapter({ ...rest, registerMap });
  }
  const { type: _type, ...rest } = a;
  return serialAdapter({ ...rest, counters: serialCountersFromRegisterMap(registerMap) });
}

function sealingKey(c: AgentServiceConfig): FileKeyProvider {
  // parseAgentConfig guarantees a path (the file, or the systemd credential).
  return new FileKeyProvider(c.keystore.sealingKeyFile!);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Opens the enrolled keystore; a missing one is a configuration problem (enrol first). */
async function openKeystore(c: AgentServiceConfig): Promise<FileKeystore> {
  if (!(await exists(c.keystore.path)))
    throw new AgentConfigError(
      'AGENT_CONFIG_INVALID',
      c.file,
      'keystore.path',
      `${c.keystore.path} does not exist: enrol the device first (outpost agent enrol --config ${c.file} --token <token>)`,
    );
  return FileKeystore.open(c.keystore.path, sealingKey(c));
}

/**
 * PAC files are evaluated in a WebAssembly sandbox (pac-resolver); a process started with
 * `--lite-mode` or `--jitless` has no WebAssembly. Said at start, not at the first dial.
 */
export function checkRuntimeSupports(c: AgentServiceConfig): void {
  if (
    c.proxy?.mode === 'pac' &&
    (globalThis as { WebAssembly?: unknown }).WebAssembly === undefined
  )
    throw new AgentConfigError(
      'AGENT_CONFIG_INVALID',
      c.file,
      'proxy.mode',
      'PAC files need WebAssembly, which this process runs without (node --lite-mode or --jitless): remove that flag from ExecStart=, or use proxy mode "url" or "env"',
    );
}

/** Builds the agent from a checked configuration (keystore opened, nothing started). */
export async function assembleAgent(c: AgentServiceConfig, log: Logger): Promise<Agent> {
  checkRuntimeSupports(c);
  const { registerMap, catalogue } = await loadDeviceDefinitions(c);
  const keystore = await openKeystore(c);
  const creds = credentialsFromKeystore(keystore);
  return createAgent({
    identity: creds.identity,
    hub: {
      ...creds.hub,
      url: c.hub.url,
      ...(c.hub.servername === undefined ? {} : { servername: c.hub.servername }),
      ...(c.hub.terminatedUpstream === undefined
        ? {}
        : { terminatedUpstream: c.hub.terminatedUpstream }),
    },
    rotation: creds.rotation,
    adapter: buildAdapter(c, registerMap),
    errorCatalogue: catalogue,
    spool: {
      dir: c.spool.dir,
      ...(c.spool.maxBytes === undefined ? {} : { maxBytes: c.spool.maxBytes }),
    },
    ...(c.deviceId === undefined ? {} : { deviceId: c.deviceId }),
    ...(c.pollIntervalMs === undefined ? {} : { pollIntervalMs: c.pollIntervalMs }),
    ...(c.errorPollIntervalMs === undefined ? {} : { errorPollIntervalMs: c.errorPollIntervalMs }),
    ...(c.pollTimeoutMs === undefined ? {} : { pollTimeoutMs: c.pollTimeoutMs }),
    ...(c.alarmCoalesceMs === undefined ? {} : { alarmCoalesceMs: c.alarmCoalesceMs }),
    ...(c.telemetry === undefined ? {} : { telemetry: c.telemetry }),
    ...(c.proxy === undefined ? {} : { proxy: c.proxy }),
    logger: log,
  });
}

/**
 * Runs the service until `stopRequested` resolves (with the signal's name), then stops the
 * agent gracefully. Resolves with the exit status (0); a failure to start rejects.
 */
export async function runAgentService(
  c: AgentServiceConfig,
  log: Logger,
  stopRequested: Promise<string>,
): Promise<number> {
  applyServiceProcessSettings();
  const agent = await assembleAgent(c, log);
  agent.on('tunnel-state', (state) => log.info('tunnel state', { state }));
  agent.on('gap', (gap) => log.warn('records dropped from the spool', { gap }));
  agent.on('credential-renewed', (cred) =>
    log.info('client certificate renewed', { notAfter: new Date(cred.notAfterMs).toISOString() }),
  );
  await agent.start();
  const stopFullGc = startPeriodicFullGc(c.fullGcIntervalMs, log);
  log.info('agent started', {
    deviceId: agent.deviceId,
    hub: c.hub.url,
    adapter: c.adapter.type,
    spool: c.spool.dir,
    pid: process.pid,
  });
  const signal = await stopRequested;
  log.info('stopping', { signal, drainTimeoutMs: c.stopDrainMs });
  stopFullGc();
  await agent.stop({ drainTimeoutMs: c.stopDrainMs });
  const s = agent.stats();
  log.info('stopped', {
    polls: s.polls,
    recordsAcked: s.recordsAcked,
    recordsInSpool: s.queue.records,
  });
  return 0;
}

/** One-time enrolment: generates the keys on the device, gets a certificate, seals the keystore. */
export async function enrolAgent(c: AgentServiceConfig, token: string, log: Logger): Promise<void> {
  if (c.deviceId === undefined)
    throw new AgentConfigError('AGENT_CONFIG_INVALID', c.file, 'deviceId', 'is required to enrol');
  if (await exists(c.keystore.path))
    throw new AgentConfigError(
      'AGENT_CONFIG_INVALID',
      c.file,
      'keystore.path',
      `${c.keystore.path} already exists: this device is enrolled (move the file away to enrol again)`,
    );
  const keyFile = c.keystore.sealingKeyFile!;
  await mkdir(dirname(c.keystore.path), { recursive: true, mode: 0o700 });
  const provider = (await exists(keyFile))
    ? new FileKeyProvider(keyFile)
    : await FileKeyProvider.create(keyFile);
  let ca: string;
  try {
    ca = await readFile(c.hub.caFile, 'utf8');
  } catch (err) {
    throw new AgentConfigError(
      'AGENT_CONFIG_INVALID',
      c.file,
      'hub.caFile',
      `${c.hub.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  const creds = await enrolDevice({
    hubUrl: c.hub.url,
    ca,
    deviceId: c.deviceId,
    token,
    ...(c.hub.servername === undefined ? {} : { servername: c.hub.servername }),
    ...(c.proxy === undefined ? {} : { proxy: c.proxy }),
  });
  await saveEnrolment(c.keystore.path, provider, creds);
  creds.identity.secretKey.fill(0);
  log.info('enrolled', {
    deviceId: creds.deviceId,
    keystore: c.keystore.path,
    certificateNotAfter: new Date(creds.tls.notAfterMs).toISOString(),
  });
}
