import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Agent as HttpAgent } from 'node:http';
import { AdapterError, ConfigError } from '../adapters/errors.js';
import type { DeviceAdapter, DeviceSnapshot } from '../adapters/types.js';
import {
  bodyBudget,
  encodeAlarmBody,
  encodeBody,
  packTelemetryBody,
  type PackedTelemetry,
} from '../codec/index.js';
import { FileSpool } from '../spool/file-spool.js';
import type { FileSpoolOptions } from '../spool/file-spool-options.js';
import { MemoryQueue } from '../spool/memory-queue.js';
import type {
  OutboundQueue,
  QueueGap,
  QueueStats,
  QueuedRecord,
  RecordInput,
} from '../spool/queue.js';
import type { BackoffPolicy } from '../tunnel/backoff.js';
import {
  checkTunnelConfig,
  TunnelClient,
  type TunnelState,
  type TunnelTlsOptions,
} from '../tunnel/client.js';
import type { TunnelError } from '../tunnel/errors.js';
import { ed25519Identity, type DeviceIdentity } from '../tunnel/identity.js';
import { createProxyAgent, type ProxyConfig } from '../tunnel/proxy.js';
import type { ErrorCatalogue, Severity } from './catalogue.js';
import { systemClock, type Clock } from './clock.js';
import { ErrorTracker, type ErrorTransition } from './error-tracker.js';
import { AlarmCoalescer } from './alarm-coalescer.js';
import { CredentialRotator, type RotationOptions } from './credential-rotator.js';
import { FailureLog } from './failure-log.js';
import { silentLogger, type Logger } from './logger.js';
import { Poller } from './poller.js';
import { TelemetryBatcher, type BatchHealth } from './telemetry-batcher.js';
import {
  isTransmitOpen,
  nextTransmitAt,
  parseTransmitSchedule,
  type TransmitSchedule,
  type TransmitScheduleConfig,
} from './transmit-schedule.js';

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
    /**
     * When telemetry goes out, instead of `sendIntervalMs`: an interval (`"every 15m"`) or
     * daily transmit windows (`"02:00-04:00"`, or `{ windows: ["22:00-02:00"], timeZone:
     * "utc", sendEvery: "5m" }`). Outside a window telemetry waits in the spool; alarm-class
     * codes and command results go at once whatever the schedule. See transmit-schedule.ts.
     */
    schedule?: TransmitScheduleConfig;
  };
  /**
   * The crash-safe spool: where accepted records wait for the hub's ack, on disk
   * (src/spool/README.md, docs/delivery.md). `dir` is required; the rest are tuning knobs.
   * Production agents set this.
   */
  spool?: AgentSpoolOptions;
  /**
   * A queue of your own instead of `spool` (tests, or an OEM's storage). With neither, records
   * wait in memory and a restart loses what the hub has not acknowledged (a warning is logged).
   */
  queue?: OutboundQueue;
  tunnel?: {
    /** Records in flight without an ack. Default 64. */
    window?: number;
    /**
     * Most records sent in one frame when several are ready at once (if the hub offers batches;
     * the smaller of the two applies). Default 64; 1: one record per frame.
     */
    maxBatchRecords?: number;
    /** Most bytes of records in one such frame (latency on a slow uplink). Default 16 KiB. */
    maxBatchBytes?: number;
    heartbeatMs?: number;
    handshakeTimeoutMs?: number;
    backoff?: BackoffPolicy;
    /** HTTP agent for an outbound proxy. */
    agent?: HttpAgent;
    /** Bandwidth cap for bulk transfers (logs, files), bytes per second. Default: none. */
    bulkBytesPerSecond?: number;
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

/** The agent's spool: {@link FileSpoolOptions} without what the agent wires itself. */
export type AgentSpoolOptions = Omit<FileSpoolOptions, 'clock' | 'onReadable'>;

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
  /** Records the queue refused (disk full, I/O error, quota): never accepted, never promised. */
  recordsRefused: number;
  /** Records the queue accepted and later dropped, reported to the hub as gaps. */
  recordsInGaps: number;
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
  /** A record was accepted into the queue (for a spool: it is on disk and synced). */
  accepted: [record: QueuedRecord];
  sent: [record: QueuedRecord, frameBytes: number];
  acked: [records: QueuedRecord[]];
  /** Accepted records were dropped (quota, corruption) and reported to the hub as a gap. */
  gap: [gap: QueueGap];
  /** A new client certificate was issued, checked and persisted; the next connection uses it. */
  'credential-renewed': [credential: { notAfterMs: number }];
}

/** How often a window schedule re-checks whether a window opened or closed. */
const WINDOW_RECHECK_MS = 60_000;

/** Refused alarms held in memory for retry while the spool cannot write. */
const MAX_HELD_ALARMS = 1000;
/** A repeated poll failure is logged at most once a minute per error code (failure-log.ts). */
const POLL_FAILURE_LOG_EVERY_MS = 60_000;

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
  /** Runs of failed polls, logged a line a minute (POLL_FAILURE_LOG_EVERY_MS). */
  readonly #failures: FailureLog;
  readonly #config: AgentConfig;
  readonly #httpAgent: HttpAgent | undefined;
  /** Set by `start()` (a spool opens asynchronously); until then nothing is queued or sent. */
  #queue: OutboundQueue | undefined;
  #tunnel: TunnelClient | undefined;
  readonly #tracker: ErrorTracker;
  readonly #batcher: TelemetryBatcher;
  readonly #maxBody: number;
  readonly #pollers: Poller[] = [];
  readonly #schedule: TransmitSchedule;
  #lastSentAtMs: number | undefined;
  readonly #commands: Record<string, CommandHandler>;
  #rotator: CredentialRotator | undefined;
  readonly #coalescer: AlarmCoalescer;
  #unsubscribe: (() => void) | undefined;
  #sendTimer: ReturnType<Clock['setTimeout']> | undefined;
  #missedRaises = 0;
  /** Appends not yet settled; `flush()` waits for them. */
  readonly #appending = new Set<Promise<void>>();
  /** Alarm-lane records the queue refused (disk full, I/O error), retried until accepted. */
  #retry: Array<{ input: RecordInput; onAccepted: (r: QueuedRecord) => void }> = [];
  #retryTimer: ReturnType<Clock['setTimeout']> | undefined;
  #started = false;
  #stats = {
    recordsRefused: 0,
    recordsInGaps: 0,
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
    this.#failures = new FailureLog({
      log: this.#log,
      clock: this.#clock,
      everyMs: POLL_FAILURE_LOG_EVERY_MS,
    });
    this.#config = config;
    if (config.queue && config.spool) {
      throw new ConfigError('give either a spool or a queue, not both', 'spool');
    }
    if (config.spool && (typeof config.spool.dir !== 'string' || config.spool.dir === '')) {
      throw new ConfigError('must name the directory of the spool', 'spool.dir');
    }
    this.deviceId = resolveDeviceId(config);
    this.#maxBody = bodyBudget(this.deviceId);
    this.#tracker = new ErrorTracker(config.errorCatalogue);
    this.#coalescer = new AlarmCoalescer({
      clock: this.#clock,
      windowMs: config.alarmCoalesceMs ?? 5000,
      emit: (t) => this.#enqueueAlarm(t),
    });
    this.#batcher = new TelemetryBatcher({ maxBodyBytes: this.#maxBody });
    this.#schedule =
      config.telemetry?.schedule !== undefined
        ? parseTransmitSchedule(config.telemetry.schedule, 'telemetry.schedule')
        : {
            kind: 'interval',
            intervalMs: positive(
              config.telemetry?.sendIntervalMs ?? 900_000,
              'telemetry.sendIntervalMs',
            ),
          };
    const pollIntervalMs = positive(config.pollIntervalMs ?? 60_000, 'pollIntervalMs');
    const errorPollIntervalMs = config.errorPollIntervalMs ?? 1000;
    this.#pollers.push(
      new Poller({
        name: 'poll',
        intervalMs: pollIntervalMs,
        timeoutMs: config.pollTimeoutMs,
        clock: this.#clock,
        run: (signal) => this.#poll(signal),
        onError: (err) => this.#pollFailed('poll', err),
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
            this.#failures.worked('error poll');
          },
          onError: (err) => this.#pollFailed('error poll', err),
        }),
      );
    }
    const { hub } = config;
    if (!(hub.identityKey instanceof Uint8Array) || hub.identityKey.length !== 32) {
      throw new ConfigError("must be the hub's 32-byte Ed25519 public key", 'hub.identityKey');
    }
    this.#commands = config.commands ?? {};
    checkTunnelConfig(hub.url, hub);
    this.#httpAgent =
      config.tunnel?.agent ?? (config.proxy ? createProxyAgent(config.proxy, hub.url) : undefined);
  }

  /** Builds the tunnel (and the rotator) over the queue opened by `start()`. */
  #openTunnel(queue: OutboundQueue): TunnelClient {
    const config = this.#config;
    const { hub } = config;
    const tunnel = new TunnelClient({
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
      agent: this.#httpAgent,
      queue,
      clock: this.#clock,
      logger: this.#log,
    });
    if (config.rotation !== false) {
      this.#rotator = new CredentialRotator({
        tunnel,
        clock: this.#clock,
        logger: this.#log,
        deviceId: this.deviceId,
        certPem: hub.cert,
        options: config.rotation ?? {},
        onRenewed: (c) => {
          tunnel.updateCredential(c.certPem, c.keyPem);
          this.emit('credential-renewed', { notAfterMs: c.notAfterMs });
        },
      });
    }
    tunnel.on('state', (s) => this.emit('tunnel-state', s));
    tunnel.on('down', (e) => this.emit('tunnel-down', e));
    tunnel.on('sent', (r, n) => this.emit('sent', r, n));
    tunnel.on('acked', (r) => this.emit('acked', r));
    tunnel.on('gap', (g) => {
      // A hub that lost its state is told what it lacks; that is no loss of the device's.
      if (g.reason !== 'hub-state-behind') this.#stats.recordsInGaps += g.records;
      this.emit('gap', g);
    });
    tunnel.on('command', (c) => void this.#runCommand(c));
    tunnel.on('command-refused', (c, reason) =>
      this.#commandResult(
        c.commandId ?? '',
        reason === 'expired' ? 4 : 3,
        new Uint8Array(),
        `OUTPOST_COMMAND_${reason.toUpperCase().replace('-', '_')}`,
        `command refused: ${reason}`,
      ),
    );
    return tunnel;
  }

  /** The configured queue: the spool (opened and recovered here), the caller's, or memory. */
  async #openQueue(): Promise<OutboundQueue> {
    const { spool, queue } = this.#config;
    if (queue) return queue;
    if (spool) {
      const opened = await FileSpool.open({
        ...spool,
        clock: this.#clock,
        onReadable: () => this.#tunnel?.notify(),
      });
      const st = opened.stats();
      this.#log.info('spool opened', {
        dir: spool.dir,
        records: st.records,
        ackedSeq: st.ackedSeq,
        quarantined: st.quarantined,
        pendingGaps: st.pendingGaps,
      });
      return opened;
    }
    this.#log.warn(
      'no spool configured: records wait in memory and a restart loses what the hub has not acknowledged',
    );
    return new MemoryQueue({ now: () => this.#clock.now() });
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
    if (!this.#queue) {
      try {
        this.#queue = await this.#openQueue();
      } catch (err) {
        this.#started = false;
        throw err;
      }
      this.#tunnel = this.#openTunnel(this.#queue);
    }
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
    this.#tunnel?.start();
    this.#rotator?.start();
    for (const p of this.#pollers) p.start();
    // An interval schedule first sends one interval after start; a window schedule at once if
    // a window is open.
    if (this.#schedule.kind === 'interval') this.#lastSentAtMs = this.#clock.now();
    this.#scheduleSend();
  }

  async flush(): Promise<void> {
    await this.#enqueueTelemetry(this.#batcher.flush(this.#health()));
  }

  async drain(timeoutMs: number): Promise<boolean> {
    await this.#settled();
    const deadline = Date.now() + timeoutMs;
    const queue = this.#queue;
    const tunnel = this.#tunnel;
    if (!queue || !tunnel) return true;
    while (queue.stats().records > 0 || this.#retry.length > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          tunnel.off('acked', done);
          resolve();
        };
        const t = setTimeout(done, 20);
        tunnel.on('acked', done);
      });
    }
    return true;
  }

  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    if (this.#sendTimer !== undefined) this.#clock.clearTimeout(this.#sendTimer);
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    // Alarms the spool refused and that wait for a retry get one last try (then the flush).
    const held = this.#retry;
    this.#retry = [];
    for (const r of held) this.#append(r.input, r.onAccepted);
    this.#rotator?.stop();
    this.#unsubscribe?.();
    this.#coalescer.flush();
    await Promise.all(this.#pollers.map((p) => p.stop()));
    this.#failures.close();
    await this.flush();
    const drained = await this.drain(options.drainTimeoutMs ?? 5000);
    if (!drained) {
      this.#log.warn('stopping with unacknowledged records', {
        records: this.#queue?.stats().records,
        refusedAlarmsHeld: this.#retry.length,
      });
    }
    await this.#tunnel?.close();
    await this.#adapter.close();
    await this.#queue?.close();
    this.#log.info('agent stopped', { deviceId: this.deviceId });
  }

  stats(): AgentStats {
    const t = this.#tunnel?.stats() ?? {
      framesSent: 0,
      bytesSent: 0,
      acked: 0,
      connects: 0,
    };
    return {
      ...this.#stats,
      framesSent: t.framesSent,
      bytesSent: t.bytesSent,
      recordsAcked: t.acked,
      tunnelConnects: t.connects,
      alarmsCoalesced: this.#coalescer.suppressed,
      queue: this.#queue?.stats() ?? {
        records: 0,
        bytes: 0,
        byLane: { alarm: 0, telemetry: 0, bulk: 0 },
        lastSeq: 0,
      },
      tunnel: this.#tunnel?.state ?? 'idle',
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
    this.#failures.worked('poll');
  }

  #pollFailed(poller: string, err: unknown): void {
    this.#stats.pollErrors++;
    this.emit('poll-error', err);
    this.#failures.failed(poller, errorFields(err));
  }

  #trackErrors(codes: number[], atMs: number, raisesTotal: number | undefined): void {
    const { transitions, missed } = this.#tracker.update(codes, atMs, raisesTotal);
    this.#missedRaises += missed;
    for (const t of transitions) this.#transition(t);
  }

  #transition(t: ErrorTransition): void {
    this.emit('error-code', t);
    if (t.info.immediate) this.#coalescer.push(t);
    // A code that flaps while full polls fail fills a batch with events alone: it goes to the
    // spool once full rather than growing in memory until the next send.
    else this.#appendTelemetry(this.#batcher.addEvent(t, this.#health()));
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
    this.#appendTelemetry(parts);
    await this.#settled();
  }

  #appendTelemetry(parts: PackedTelemetry[]): void {
    for (const part of parts) {
      const packed = packTelemetryBody(part.body); // compressed where it pays
      this.#append(
        { lane: 'telemetry', type: packed.type, body: packed.body, samples: part.samples },
        () => {
          this.#stats.telemetryRecords++;
        },
      );
    }
  }

  /** Resolves once every append issued so far has settled (accepted or refused). */
  async #settled(): Promise<void> {
    while (this.#appending.size > 0) await Promise.all([...this.#appending]);
  }

  /**
   * Appends without waiting for earlier appends: the spool commits them as a group (one fsync)
   * and assigns seqs in call order, so order within a lane is kept. The tunnel is told as soon
   * as each record is accepted. A refused alarm-lane record (disk full, I/O error) is kept and
   * retried every second; a refused telemetry record is counted and dropped: it was never
   * accepted, so nothing was promised.
   */
  #append(input: RecordInput, onAccepted: (r: QueuedRecord) => void): void {
    const queue = this.#queue;
    if (!queue) {
      this.#log.warn('record dropped: the agent is not started', { lane: input.lane });
      this.#stats.recordsRefused++;
      return;
    }
    const p: Promise<void> = queue
      .append(input)
      .then(
        (record) => {
          onAccepted(record);
          this.emit('accepted', record);
          this.#tunnel?.notify();
        },
        (err: unknown) => this.#refused(input, onAccepted, err),
      )
      .finally(() => this.#appending.delete(p));
    this.#appending.add(p);
  }

  #refused(input: RecordInput, onAccepted: (r: QueuedRecord) => void, err: unknown): void {
    this.#stats.recordsRefused++;
    if (input.lane !== 'alarm' || !this.#started) {
      this.#log.error('the queue refused a record; it is dropped', {
        lane: input.lane,
        ...errorFields(err),
      });
      return;
    }
    if (this.#retry.length >= MAX_HELD_ALARMS) {
      this.#log.error('the queue keeps refusing alarms and too many are held; dropping one', {
        held: this.#retry.length,
        ...errorFields(err),
      });
      return;
    }
    this.#log.error('the queue refused an alarm; holding it and retrying every second', {
      held: this.#retry.length + 1,
      ...errorFields(err),
    });
    this.#retry.push({ input, onAccepted });
    this.#retryTimer ??= this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      const held = this.#retry;
      this.#retry = [];
      for (const r of held) this.#append(r.input, r.onAccepted);
    }, 1000);
  }

  /**
   * The telemetry schedule: sends (flushes the batcher) when it says so and, for transmit
   * windows, holds the telemetry lane back while no window is open. Re-evaluated on every timer,
   * so a wall-clock jump is followed within a minute.
   */
  #scheduleSend(): void {
    const s = this.#schedule;
    const now = this.#clock.now();
    if (s.kind === 'windows') this.#tunnel?.holdLane('telemetry', !isTransmitOpen(s, now));
    let next = nextTransmitAt(s, now, { lastSentAtMs: this.#lastSentAtMs });
    if (next <= now) {
      this.#lastSentAtMs = now;
      void this.flush();
      next = nextTransmitAt(s, now, { lastSentAtMs: now });
    }
    let delay = Math.max(0, next - now);
    if (s.kind === 'windows') delay = Math.min(delay, WINDOW_RECHECK_MS); // to close on time
    this.#sendTimer = this.#clock.setTimeout(() => {
      if (this.#started) this.#scheduleSend();
    }, delay);
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
