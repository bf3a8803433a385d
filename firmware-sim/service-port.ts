/**
 * The XR-200 service port: the controller's serial text interface, on a PTY pair (see
 * service-port-pty.ts) that the controller opens with `serialport`, like its UART driver.
 *
 * - Requests and replies: service-port-protocol.ts (framing: service-port-frame.ts). A request
 *   with a wrong or missing checksum gets `ERR CHK`. Replies leave in request order.
 * - Unsolicited lines, sent the moment the model raises or clears a code:
 *   `!EVT ERR <code> RAISED|CLEARED <unix-ms>`, and `!EVT BOOT <unix-ms>` after a reboot.
 *   They do not wait behind a delayed reply.
 * - Faults (service-port-faults.ts), scriptable at run time from code and the control channel.
 * - Power: while the controller is down (a model-level reboot, model-faults.ts) the port reads
 *   nothing and sends nothing; when it is back it sends `!EVT BOOT <unix-ms>`, then a RAISED
 *   line for every code active at boot.
 *
 * Times on the wire (`!EVT`, STATUS `time=`) are the controller's real-time clock, which a
 * clock-jump fault moves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { SimClosedError, SimListenFailedError } from './errors.js';
import type { ControllerLogs } from './logs.js';
import type { ControllerErrorEvent, ControllerModel } from './model.js';
import { Prng } from './prng.js';
import type { RegisterMap } from './registers.js';
import { frameLine, RequestSplitter, type RequestLine } from './service-port-frame.js';
import {
  checkFault,
  isReplyFault,
  ReplyFaults,
  type ReplyFault,
  type ServicePortFault,
} from './service-port-faults.js';
import { openPtyPair, type PtyPair } from './service-port-pty.js';
import { serviceDevice } from './service-port-device.js';
import { answer, type ServiceDevice } from './service-port-protocol.js';

export interface ServicePortOptions {
  /** Directory for the `sim` and `agent` links. Default: a fresh temporary one, removed on close. */
  dir?: string;
  /** Baud rate the controller sets (a PTY ignores it). Default 115 200. */
  baudRate?: number;
  /** socat binary. Default `socat` on the PATH. */
  socat?: string;
  /** Seed of the fault PRNG (garbage bytes). Default 1. */
  seed?: number;
}

export interface ServicePortDeps {
  model: ControllerModel;
  logs: ControllerLogs;
  registerMap: RegisterMap;
  /** The controller going down and coming back (a reboot). Default: always up. */
  power?: { onPower(listener: (state: 'up' | 'down') => void): () => void };
  /** The controller's real-time clock, Unix ms. Default Date.now. */
  clock?: () => number;
}

export type ServicePortState = 'up' | 'rebooting' | 'down' | 'closed';

export interface ServicePortStats {
  requests: number;
  replies: number;
  /** Requests answered ERR CHK, TOOLONG or ASCII. */
  badRequests: number;
  eventsSent: number;
  /** Events that happened while the line was down or the controller rebooting. */
  eventsDropped: number;
  faultsApplied: number;
  disconnects: number;
  reboots: number;
  /** Why the line did not come back after a disconnect, if it did not. */
  lastError?: string;
}

export interface ServicePort {
  /** The agent's end of the line (`<dir>/agent`): open this with a serial port or a terminal. */
  readonly agentPath: string;
  /** The controller's end (`<dir>/sim`). */
  readonly simPath: string;
  readonly state: ServicePortState;
  stats(): ServicePortStats;
  /** Reply faults still queued. */
  pendingFaults(): ReplyFault[];
  /** Injects a fault. Reply faults are queued and resolve at once; `disconnect` resolves when the line is back. */
  fault(fault: ServicePortFault): Promise<void>;
  /** Writes raw bytes to the agent's end, as they are (for tests of the master's parser). */
  sendRaw(bytes: Uint8Array | string): void;
  /** Closes the port and socat, removes the links (and the directory if it made it). Idempotent. */
  close(): Promise<void>;
}

/** Creates the PTY pair and opens the controller's end. */
export async function startServicePort(
  deps: ServicePortDeps,
  options: ServicePortOptions = {},
): Promise<ServicePort> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'outpost-sim-serial-')));
  const port = new RunningServicePort(deps, options, dir, ownDir);
  try {
    await port.open();
  } catch (err) {
    await port.close();
    throw err;
  }
  return port;
}

class RunningServicePort implements ServicePort {
  readonly simPath: string;
  readonly agentPath: string;
  readonly #deps: ServicePortDeps;
  readonly #options: ServicePortOptions;
  readonly #dir: string;
  readonly #ownDir: boolean;
  readonly #faults: ReplyFaults;
  readonly #device: ServiceDevice;
  readonly #sleeps = new Map<NodeJS.Timeout, () => void>();
  readonly #unsubscribe: () => void;
  readonly #clock: () => number;
  #state: ServicePortState = 'down';
  #pty: PtyPair | null = null;
  #port: SerialPort | null = null;
  #splitter = new RequestSplitter();
  /** Replies leave in order: each waits for the one before. */
  #tx: Promise<void> = Promise.resolve();
  /** Bumped when the line drops or the controller reboots: replies in flight are lost. */
  #generation = 0;
  #closing: Promise<void> | null = null;
  readonly #stats: ServicePortStats = {
    requests: 0,
    replies: 0,
    badRequests: 0,
    eventsSent: 0,
    eventsDropped: 0,
    faultsApplied: 0,
    disconnects: 0,
    reboots: 0,
  };

  constructor(deps: ServicePortDeps, options: ServicePortOptions, dir: string, ownDir: boolean) {
    this.#deps = deps;
    this.#options = options;
    this.#dir = dir;
    this.#ownDir = ownDir;
    this.simPath = join(dir, 'sim');
    this.agentPath = join(dir, 'agent');
    this.#faults = new ReplyFaults(new Prng((options.seed ?? 1) ^ 0x5e41a1));
    this.#clock = deps.clock ?? Date.now;
    this.#device = serviceDevice(deps, this.#clock);
    const offError = deps.model.onError((e) => this.#onModelEvent(e));
    const offPower = deps.power?.onPower((state) => this.#onPower(state));
    this.#unsubscribe = () => {
      offError();
      offPower?.();
    };
  }

  get state(): ServicePortState {
    return this.#state;
  }

  stats(): ServicePortStats {
    return { ...this.#stats };
  }

  pendingFaults(): ReplyFault[] {
    return this.#faults.pending;
  }

  async open(): Promise<void> {
    const pty = await openPtyPair(this.#dir, { socat: this.#options.socat });
    this.#pty = pty;
    const port = new SerialPort({
      path: pty.simPath,
      baudRate: this.#options.baudRate ?? 115_200,
      autoOpen: false,
    });
    await new Promise<void>((resolve, reject) =>
      port.open((err) =>
        err
          ? reject(
              new SimListenFailedError(
                `service port: cannot open ${this.simPath}: ${err.message}`,
                {
                  cause: err,
                },
              ),
            )
          : resolve(),
      ),
    );
    this.#port = port;
    if (this.#closing) {
      // close() ran while the line was coming up: it may have missed these.
      await this.#closeLine();
      return;
    }
    this.#splitter = new RequestSplitter();
    port.on('data', (chunk: Buffer) => this.#onData(chunk));
    port.on('error', () => undefined); // a write after a hang-up; nothing to do on this side
    this.#state = 'up';
  }

  async fault(fault: ServicePortFault): Promise<void> {
    if (this.#state === 'closed') throw new SimClosedError();
    const f = checkFault(fault);
    if (isReplyFault(f)) {
      this.#faults.add(f);
      return;
    }
    switch (f.kind) {
      case 'clear':
        this.#faults.clear();
        return;
      case 'disconnect':
        return this.#disconnect(f.downMs ?? 500);
    }
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.#write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closed';
      this.#generation++;
      this.#unsubscribe();
      for (const [t, resolve] of this.#sleeps) {
        clearTimeout(t);
        resolve();
      }
      this.#sleeps.clear();
      await this.#closeLine();
      if (this.#ownDir) await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#closing;
  }

  #onData(chunk: Buffer): void {
    if (this.#state !== 'up') return; // rebooting: nobody is listening
    for (const line of this.#splitter.push(chunk)) {
      this.#stats.requests++;
      const reply = this.#reply(line);
      const generation = this.#generation;
      this.#tx = this.#tx.then(() => this.#send(frameLine(reply), generation));
    }
  }

  #reply(line: RequestLine): string {
    if (line.kind === 'request') return answer(line.payload, this.#device);
    this.#stats.badRequests++;
    switch (line.kind) {
      case 'no-checksum':
        return 'ERR CHK missing checksum: end the line with *hh, the XOR of its bytes in hex';
      case 'bad-checksum':
        return `ERR CHK checksum ${line.got} is wrong, expected ${line.expected}`;
      case 'too-long':
        return 'ERR TOOLONG line longer than 256 bytes';
      case 'not-ascii':
        return 'ERR ASCII only printable ASCII is accepted';
    }
  }

  async #send(line: string, generation: number): Promise<void> {
    const plan = this.#faults.plan(line);
    if (plan.fault) this.#stats.faultsApplied++;
    if (plan.delayMs > 0) await this.#sleep(plan.delayMs);
    if (generation !== this.#generation || plan.bytes === null) return;
    this.#stats.replies++;
    this.#write(plan.bytes);
  }

  #onModelEvent(e: ControllerErrorEvent): void {
    if (this.#state !== 'up') {
      if (this.#state !== 'closed') this.#stats.eventsDropped++;
      return;
    }
    this.#stats.eventsSent++;
    const state = e.state === 'raised' ? 'RAISED' : 'CLEARED';
    this.#write(
      Buffer.from(frameLine(`!EVT ERR ${e.code} ${state} ${Math.round(e.wallTimeMs)}`), 'latin1'),
    );
  }

  #write(bytes: Buffer): void {
    const port = this.#port;
    if (this.#state === 'closed' || port === null || !port.isOpen) return;
    port.write(bytes);
  }

  async #disconnect(downMs: number): Promise<void> {
    if (this.#state !== 'up') return;
    this.#stats.disconnects++;
    this.#state = 'down';
    this.#generation++;
    await this.#closeLine();
    await this.#sleep(downMs);
    if (this.#closing) return;
    try {
      await this.open();
    } catch (err) {
      this.#stats.lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  /** A reboot: silent while down (what was half-received is lost), `!EVT BOOT` when back. */
  #onPower(state: 'up' | 'down'): void {
    if (state === 'down') {
      if (this.#state !== 'up') return;
      this.#stats.reboots++;
      this.#state = 'rebooting';
      this.#generation++;
      return;
    }
    if (this.#state !== 'rebooting') return;
    this.#splitter = new RequestSplitter();
    this.#state = 'up';
    const at = Math.round(this.#clock());
    this.#write(Buffer.from(frameLine(`!EVT BOOT ${at}`), 'latin1'));
    // What came up with the controller (the watchdog code) was raised before it could speak.
    for (const code of this.#deps.model.activeCodes()) {
      this.#stats.eventsSent++;
      this.#write(Buffer.from(frameLine(`!EVT ERR ${code} RAISED ${at}`), 'latin1'));
    }
  }

  async #closeLine(): Promise<void> {
    const port = this.#port;
    this.#port = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    const pty = this.#pty;
    this.#pty = null;
    await pty?.close();
  }

  /** A timer that close() cuts short (it resolves then, so nothing waits forever). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#sleeps.delete(t);
        resolve();
      }, ms);
      this.#sleeps.set(t, resolve);
    });
  }
}
