import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Agent as HttpAgent } from 'node:http';
import { AdapterError, ConfigError } from '../adapters/errors.js';
import type { DeviceAdapter, DeviceSnapshot } from '../adapters/types.js';
import { bodyBudget, encodeAlarmBody, encodeBody, type PackedTelemetry } from '../codec/index.js';
import { MemoryQueue } from '../spool/memory-queue.js';
import type { OutboundQueue, QueueStats, QueuedRecord } from '../spool/queue.js';
import type { BackoffPolicy } from '../tunnel/backoff.js';
import { TunnelClient, type TunnelState, type TunnelTlsOptions } from '../tunnel/client.js';
import type { TunnelError } from '../tunnel/errors.js';
import { ed25519Identity, type DeviceIdentity } from '../tunnel/identity.js';
import { createProxyAgent, type ProxyConfig } from '../tunnel/proxy.js';
import type { ErrorCatalogue, Severity } from './catalogue.js';
import { systemClock, type Clock } from './clock.js';
import { ErrorTracker, type ErrorTransition } from './error-tracker.js';
import { AlarmCoalescer } from './alarm-coalescer.js';
import { CredentialRotator, type RotationOptions } from './credential-rotator.js';
import { silentLogger, type Logger } from './logger.js';
import { Poller } from './poller.js';
import { TelemetryBatcher, type BatchHealth } from './telemetry-batcher.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentConfig {
  /** The device controller, already constructed (see `modbusTcpAdapter`). */
  adapter: DeviceAdapter;
  /** Which codes are alarm-class, their severity and text (see `parseErrorCatalogue`). */
  errorCatalogue: ErrorCatalogue;
  hub: TunnelTlsOptions & {
    /** `wss://hub.example.org/v1/tunnel` (port 443 unless given). */
    url: string;
    /** The hub's Ed25519 public key (32 bytes), pinned: the hub must sign the handshake with it. */
    identityKey: Uint8Array;
    /**
     * Set when a load balancer terminates TLS in front of the hub (docs/security.md): the
     * handshake is then bound to a fixed marker instead of the TLS session.
     */
    terminatedUpstream?: boolean;
  };
  /**
   * The device's Ed25519 identity for the inner handshake: a signer (TPM, HSM, keystore) or a
   * tweetnacl secret key (64 bytes). Its public key is registered at the hub at enrolment.
   */
  identity: DeviceIdentity | { secretKey: Uint8Array };
  /**
   * Handlers for hub commands, by name. A command with no handler is answered REFUSED. Every
   * command reaching a handler has passed the device-id, expiry and replay checks.
   */
  commands?: Record<string, CommandHandler>;
  /** Defaults to the common name of the client certificate; must match it when given. */
  deviceId?: string;
  /** Management interval: full read of every counter. Default 60 000 ms. */
  pollIntervalMs?: number;
  /**
   * Fast cadence for the active error codes alone, when the adapter can read them cheaply.
   * Default 1000 ms; 0 disables (errors are then seen at the management interval).
   */
  errorPollIntervalMs?: number;
  /**
   * Error-storm guard: after an alarm for a code, further changes of that code within this
   * window are held and sent as one alarm (with the count) when it ends. Default 5000 ms.
   */
  alarmCoalesceMs?: number;
  /** A poll that does not finish in time is aborted. Default min(interval, 30 s). */
  pollTimeoutMs?: number;
  telemetry?: {
    /** Send pending telemetry at least this often (a full batch goes at once). Default 15 min. */
    sendIntervalMs?: number;
  };
  /** Where accepted records wait for the hub's ack. Default: a {@link MemoryQueue} (not crash-safe). */
  queue?: OutboundQueue;
  tunnel?: {
    window?: number;
    heartbeatMs?: number;
    handshakeTimeoutMs?: number;
    backoff?: BackoffPolicy;
    /** HTTP agent for an outbound proxy. */
    agent?: HttpAgent;
  };
  /**
   * Certificate rotation over the live tunnel (default: on, at half the lifetime plus up to
   * 10 % jitter). `persist` stores the new credential (e.g. in the keystore) before it is used.
   * `false` disables it.
   */
  rotation?: RotationOptions | false;
  /**
   * How to reach the hub through a corporate proxy: `{ mode: 'env' }` (HTTPS_PROXY/NO_PROXY),
   * `{ mode: 'url', url }`, `{ mode: 'pac', pacUrl }`. Default: direct.
   */
  proxy?: ProxyConfig;
  clock?: Clock;
  logger?: Logger;
}

/** Runs one hub command; resolves with its output, or throws to report a failure. */
export type CommandHandler = (
  args: Record<string, string>,
  signal: AbortSignal,
) => Promise<Uint8Array | string>;

export interface AgentStats {
  polls: number;
  pollErrors: number;
  errorPolls: number;
  samplesAccepted: number;
  telemetryRecords: number;
  alarmsAccepted: number;
  /** Alarm-class changes held back by the error-storm guard (counted into later alarms). */
  alarmsCoalesced: number;
  framesSent: number;
  bytesSent: number;
  recordsAcked: number;
  /** Connections opened to the hub so far (1 = the tunnel never dropped). */
  tunnelConnects: number;
  queue: QueueStats;
  tunnel: TunnelState;
}

export interface AgentEvents {
  snapshot: [snapshot: DeviceSnapshot];
  /** An alarm-class code changed state and its alarm record was accepted. */
  alarm: [transition: ErrorTransition, record: QueuedRecord];
  /** Any error code changed state (alarm-class or not). */
  'error-code': [transition: ErrorTransition];
  'poll-error': [error: unknown];
  'tunnel-state': [state: TunnelState];
  'tunnel-down': [error: TunnelError];
  sent: [record: QueuedRecord, frameBytes: number];
  acked: [records: QueuedRecord[]];
  /** A new client certificate was issued, checked and persisted; the next connection uses it. */
  'credential-renewed': [credential: { notAfterMs: number }];
}

const SEVERITY_WIRE: Record<Severity, number> = { info: 1, warning: 2, error: 3, critical: 4 };

/** The agent: polls the device, turns readings into telemetry and alarms, ships them. */
export interface Agent extends EventEmitter<AgentEvents> {
  readonly deviceId: string;
  start(): Promise<void>;
  /** Sends pending telemetry now instead of waiting for the schedule. */
  flush(): Promise<void>;
  /** Resolves once every accepted record is acknowledged, or false after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Flushes, drains for up to `drainTimeoutMs` (default 5 s), then closes everything. */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
  stats(): AgentStats;
}

/** Creates an agent. Nothing runs until `start()`. */
export function createAgent(config: AgentConfig): Agent {
  return new OutpostAgent(config);
}

class OutpostAgent extends EventEmitter<AgentEvents> implements Agent {
  readonly deviceId: string;
  readonly #adapter: DeviceAdapter;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: OutboundQueue;
  readonly #tracker: ErrorTracker;
  readonly #batcher: TelemetryBatcher;
  readonly #tunnel: TunnelClient;
  readonly #maxBody: number;
  readonly #pollers: Poller[] = [];
  readonly #sendIntervalMs: number;
  readonly #commands: Record<string, CommandHandler>;
  readonly #rotator: CredentialRotator | undefined;
  readonly #coalescer: AlarmCoalescer;
  #unsubscribe: (() => void) | undefined;
  #sendTimer: ReturnType<Clock['setTimeout']> | undefined;
  #missedRaises = 0;
  #appends: Promise<unknown> = Promise.resolve();
  #started = false;
  #stats = {
    polls: 0,
    pollErrors: 0,
    errorPolls: 0,
    samplesAccepted: 0,
    telemetryRecords: 0,
    alarmsAccepted: 0,
  };

  constructor(config: AgentConfig) {
    super();
    this.#adapter = config.adapter;
    this.#clock = config.clock ?? systemClock;
    this.#log = config.logger ?? silentLogger;
    this.#queue = config.queue ?? new MemoryQueue({ now: () => this.#clock.now() });
    this.deviceId = resolveDeviceId(config);
    this.#maxBody = bodyBudget(this.deviceId);
    this.#tracker = new ErrorTracker(config.errorCatalogue);
    this.#coalescer = new AlarmCoalescer({
      clock: this.#clock,
      windowMs: config.alarmCoalesceMs ?? 5000,
      emit: (t) => this.#enqueueAlarm(t),
    });
    this.#batcher = new TelemetryBatcher({ maxBodyBytes: this.#maxBody });
    this.#sendIntervalMs = positive(
      config.telemetry?.sendIntervalMs ?? 900_000,
      'telemetry.sendIntervalMs',
    );
    const pollIntervalMs = positive(config.pollIntervalMs ?? 60_000, 'pollIntervalMs');
    const errorPollIntervalMs = config.errorPollIntervalMs ?? 1000;
    this.#pollers.push(
      new Poller({
        name: 'poll',
        intervalMs: pollIntervalMs,
        timeoutMs: config.pollTimeoutMs,
        clock: this.#clock,
        run: (signal) => this.#poll(signal),
        onError: (err) => this.#pollFailed(err),
      }),
    );
    const readErrors = this.#adapter.readActiveErrors?.bind(this.#adapter);
    if (readErrors && errorPollIntervalMs > 0 && errorPollIntervalMs < pollIntervalMs) {
      this.#pollers.push(
        new Poller({
          name: 'error poll',
          intervalMs: errorPollIntervalMs,
          clock: this.#clock,
          run: async (signal) => {
            const active = await readErrors(signal);
            this.#stats.errorPolls++;
            this.#trackErrors(active.codes, this.#clock.now(), active.raisesTotal);
          },
          onError: (err) => this.#pollFailed(err),
        }),
      );
    }
    const { hub } = config;
    if (!(hub.identityKey instanceof Uint8Array) || hub.identityKey.length !== 32) {
      throw new ConfigError("must be the hub's 32-byte Ed25519 public key", 'hub.identityKey');
    }
    this.#commands = config.commands ?? {};
    this.#tunnel = new TunnelClient({
      ...config.tunnel,
      url: hub.url,
      tls: {
        ca: hub.ca,
        cert: hub.cert,
        key: hub.key,
        servername: hub.servername,
        allowTls12: hub.allowTls12,
        spkiPins: hub.spkiPins,
      },
      deviceId: this.deviceId,
      agentVersion: AGENT_VERSION,
      identity: toIdentity(config.identity),
      hubIdentityKey: hub.identityKey,
      terminatedUpstream: hub.terminatedUpstream ?? false,
      agent:
        config.tunnel?.agent ??
        (config.proxy ? createProxyAgent(config.proxy, hub.url) : undefined),
      queue: this.#queue,
      clock: this.#clock,
      logger: this.#log,
    });
    if (config.rotation !== false) {
      this.#rotator = new CredentialRotator({
        tunnel: this.#tunnel,
        clock: this.#clock,
        logger: this.#log,
        deviceId: this.deviceId,
        certPem: hub.cert,
        options: config.rotation ?? {},
        onRenewed: (c) => {
          this.#tunnel.updateCredential(c.certPem, c.keyPem);
          this.emit('credential-renewed', { notAfterMs: c.notAfterMs });
        },
      });
    }
    this.#tunnel.on('state', (s) => this.emit('tunnel-state', s));
    this.#tunnel.on('down', (e) => this.emit('tunnel-down', e));
    this.#tunnel.on('sent', (r, n) => this.emit('sent', r, n));
    this.#tunnel.on('acked', (r) => this.emit('acked', r));
    this.#tunnel.on('command', (c) => void this.#runCommand(c));
    this.#tunnel.on('command-refused', (c, reason) =>
      this.#commandResult(
        c.commandId ?? '',
        reason === 'expired' ? 4 : 3,
        new Uint8Array(),
        `OUTPOST_COMMAND_${reason.toUpperCase().replace('-', '_')}`,
        `command refused: ${reason}`,
      ),
    );
  }

  async #runCommand(c: {
    commandId?: string | null;
    name?: string | null;
    args?: Record<string, string> | null;
    expiresAtMs?: number | null;
  }): Promise<void> {
    const id = c.commandId ?? '';
    const handler = this.#commands[c.name ?? ''];
    if (!handler) {
      this.#commandResult(
        id,
        3,
        new Uint8Array(),
        'OUTPOST_COMMAND_UNKNOWN',
        `no handler for command "${c.name ?? ''}" on this device`,
      );
      return;
    }
    const ctl = new AbortController();
    const left = Math.max(0, (c.expiresAtMs ?? 0) - this.#clock.now());
    const timer = this.#clock.setTimeout(() => ctl.abort(), left);
    try {
      const out = await handler({ ...(c.args ?? {}) }, ctl.signal);
      this.#commandResult(id, 1, typeof out === 'string' ? Buffer.from(out, 'utf8') : out, '', '');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.#commandResult(
        id,
        ctl.signal.aborted ? 4 : 2,
        new Uint8Array(),
        typeof code === 'string' ? code : 'OUTPOST_COMMAND_FAILED',
        err instanceof Error ? err.message : String(err),
      );
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  #commandResult(
    commandId: string,
    status: number,
    output: Uint8Array,
    errorCode: string,
    errorMessage: string,
  ): void {
    const body = encodeBody({
      type: 'commandResult',
      commandResult: { commandId, status, output, errorCode, errorMessage },
    });
    this.#append({ lane: 'alarm', type: 'commandResult', body }, () => undefined);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#unsubscribe = this.#adapter.onEvent?.((e) => {
      if (e.type !== 'error') return;
      const t = this.#tracker.event(e.code, e.state, e.atMs);
      if (t) this.#transition(t);
    });
    this.#log.info('agent starting', { deviceId: this.deviceId, adapter: this.#adapter.kind });
    try {
      await this.#adapter.connect();
    } catch (err) {
      // A controller that is down at start is not fatal: every poll retries the link.
      this.#log.warn('device not reachable at start; will retry on each poll', errorFields(err));
    }
    this.#tunnel.start();
    this.#rotator?.start();
    for (const p of this.#pollers) p.start();
    this.#scheduleSend();
  }

  async flush(): Promise<void> {
    await this.#enqueueTelemetry(this.#batcher.flush(this.#health()));
    await this.#appends;
  }

  async drain(timeoutMs: number): Promise<boolean> {
    await this.#appends;
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.stats().records > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.#tunnel.off('acked', done);
          resolve();
        };
        const t = setTimeout(done, 20);
        this.#tunnel.on('acked', done);
      });
    }
    return true;
  }

  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    if (this.#sendTimer !== undefined) this.#clock.clearTimeout(this.#sendTimer);
    this.#rotator?.stop();
    this.#unsubscribe?.();
    this.#coalescer.flush();
    await Promise.all(this.#pollers.map((p) => p.stop()));
    await this.flush();
    const drained = await this.drain(options.drainTimeoutMs ?? 5000);
    if (!drained) {
      this.#log.warn('stopping with unacknowledged records', {
        records: this.#queue.stats().records,
      });
    }
    await this.#tunnel.close();
    await this.#adapter.close();
    await this.#queue.close();
    this.#log.info('agent stopped', { deviceId: this.deviceId });
  }

  stats(): AgentStats {
    const t = this.#tunnel.stats();
    return {
      ...this.#stats,
      framesSent: t.framesSent,
      bytesSent: t.bytesSent,
      recordsAcked: t.acked,
      tunnelConnects: t.connects,
      alarmsCoalesced: this.#coalescer.suppressed,
      queue: this.#queue.stats(),
      tunnel: this.#tunnel.state,
    };
  }

  async #poll(signal: AbortSignal): Promise<void> {
    const snapshot = await this.#adapter.readSnapshot(signal);
    this.#stats.polls++;
    this.emit('snapshot', snapshot);
    this.#trackErrors(snapshot.codes, snapshot.atMs, snapshot.raisesTotal);
    const full = this.#batcher.add(snapshot, this.#health());
    this.#stats.samplesAccepted++;
    await this.#enqueueTelemetry(full);
  }

  #pollFailed(err: unknown): void {
    this.#stats.pollErrors++;
    this.emit('poll-error', err);
    this.#log.warn('poll failed', errorFields(err));
  }

  #trackErrors(codes: number[], atMs: number, raisesTotal: number | undefined): void {
    const { transitions, missed } = this.#tracker.update(codes, atMs, raisesTotal);
    this.#missedRaises += missed;
    for (const t of transitions) this.#transition(t);
  }

  #transition(t: ErrorTransition): void {
    this.emit('error-code', t);
    if (t.info.immediate) this.#coalescer.push(t);
    else this.#batcher.addEvent(t);
  }

  #enqueueAlarm(t: ErrorTransition): void {
    const body = encodeAlarmBody(
      {
        code: t.info.code,
        state: t.state === 'raised' ? 1 : 2,
        severity: SEVERITY_WIRE[t.info.severity],
        subsystem: t.info.subsystem,
        observedAtMs: t.atMs,
        missedRaises: t.missedRaises,
        text: t.info.text,
      },
      this.#maxBody,
    );
    this.#append({ lane: 'alarm', type: 'alarm', body }, (record) => {
      this.#stats.alarmsAccepted++;
      this.emit('alarm', t, record);
    });
  }

  async #enqueueTelemetry(parts: PackedTelemetry[]): Promise<void> {
    for (const part of parts) {
      this.#append(
        { lane: 'telemetry', type: 'telemetry', body: part.body, samples: part.samples },
        () => {
          this.#stats.telemetryRecords++;
        },
      );
    }
    await this.#appends;
  }

  /** Appends in order; the tunnel is told as soon as each record is accepted. */
  #append(
    input: Parameters<OutboundQueue['append']>[0],
    onAccepted: (r: QueuedRecord) => void,
  ): void {
    this.#appends = this.#appends
      .then(() => this.#queue.append(input))
      .then((record) => {
        onAccepted(record);
        this.#tunnel.notify();
      })
      .catch((err: unknown) =>
        this.#log.error('could not accept a record into the queue', errorFields(err)),
      );
  }

  #scheduleSend(): void {
    this.#sendTimer = this.#clock.setTimeout(() => {
      if (!this.#started) return;
      void this.flush().finally(() => {
        if (this.#started) this.#scheduleSend();
      });
    }, this.#sendIntervalMs);
  }

  #health(): BatchHealth {
    const h = this.#adapter.health();
    return { ...h, missedErrorRaises: this.#missedRaises };
  }
}

function resolveDeviceId(config: AgentConfig): string {
  let fromCert: string | undefined;
  try {
    const subject = new X509Certificate(config.hub.cert).subject;
    fromCert = /^CN=(.+)$/m.exec(subject)?.[1];
  } catch (cause) {
    throw new ConfigError(
      `is not a readable PEM certificate (${(cause as Error).message})`,
      'hub.cert',
    );
  }
  if (config.deviceId !== undefined && fromCert !== undefined && config.deviceId !== fromCert) {
    throw new ConfigError(
      `"${config.deviceId}" does not match the client certificate's common name "${fromCert}"`,
      'deviceId',
    );
  }
  const id = config.deviceId ?? fromCert;
  if (!id)
    throw new ConfigError(
      'no device id given and the client certificate has no common name',
      'deviceId',
    );
  return id;
}

function toIdentity(identity: AgentConfig['identity'] | undefined): DeviceIdentity {
  if (identity && 'sign' in identity) return identity;
  if (identity && identity.secretKey instanceof Uint8Array && identity.secretKey.length === 64) {
    return ed25519Identity(identity.secretKey);
  }
  throw new ConfigError('must be a signer or a 64-byte Ed25519 secret key', 'identity');
}

function positive(v: number, path: string): number {
  if (!Number.isFinite(v) || v <= 0)
    throw new ConfigError('must be a positive number of milliseconds', path);
  return v;
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof AdapterError) return { code: err.code, error: err.message };
  if (err instanceof Error) return { code: (err as { code?: unknown }).code, error: err.message };
  return { error: String(err) };
}
