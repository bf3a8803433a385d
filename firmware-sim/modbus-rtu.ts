/**
 * The controller's Modbus RTU face on a pseudo-terminal pair.
 *
 * `socat` makes two linked PTYs, `<dir>/rtu-sim` and `<dir>/rtu-agent` (what a master opens,
 * as it would open /dev/ttyUSB0); the simulator holds `rtu-sim` with serialport and answers
 * with its own RTU framing (modbus-rtu-frame.ts: CRC-16/MODBUS, frames cut at a silence of
 * `gapMs`, by default 3.5 characters at the configured baud rate) and its own PDU code
 * (modbus-pdu.ts). Frames with a bad CRC and frames for another unit (or broadcast, unit 0:
 * reads are never broadcast) are ignored, as on a multi-drop bus.
 *
 * A PTY moves bytes as fast as the host does: baud rate, parity and stop bits are accepted and
 * ignored, so timings here are not those of a real line.
 *
 * Faults (modbus-faults.ts) apply per request. `disconnect` closes the simulator's end of the
 * line and reopens it after `downMs` (what a master sees is silence: RTU has no carrier), and
 * drops whatever was sent to it meanwhile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { SimListenFailedError } from './errors.js';
import { ModbusFaults, truncatedLength } from './modbus-faults.js';
import { answerPdu, exceptionPdu, type ModbusReader } from './modbus-pdu.js';
import {
  checkRtuFrame,
  encodeRtuFrame,
  RtuFramer,
  silenceGapMs,
  type RtuFramerEvent,
} from './modbus-rtu-frame.js';

export interface ModbusRtuOptions {
  /** The unit id this device answers to (1..247). */
  unitId: number;
  /** Reads registers (bits as 0/1); throws SimModbusExceptionError for an exception reply. */
  read: ModbusReader;
  /** Directory for the two PTY links. Default: a fresh temporary directory, removed on close. */
  dir?: string;
  /** Line settings of the simulator's end (a PTY ignores them). Default 19200 8E1. */
  baudRate?: number;
  parity?: 'none' | 'even' | 'odd';
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
  /** Silence that ends a frame, ms. Default 3.5 characters at `baudRate` (1.75 ms above 19200). */
  gapMs?: number;
  /** Also end a request as soon as its length is in and its CRC checks. Default true. */
  eagerFraming?: boolean;
  /** Extra delay before every reply, ms. Default 0. */
  delayMs?: number;
  /** Armed faults (shared with the TCP face). Default: a private, empty set. */
  faults?: ModbusFaults;
  /** The socat binary. Default `socat` on PATH. */
  socat?: string;
  /** Bound on socat making the PTYs and the port opening, ms. Default 5000. */
  startTimeoutMs?: number;
}

export interface ModbusRtuStats {
  /** Frames answered (or deliberately not, by a fault). */
  requests: number;
  /** Frames for other units (or broadcast), ignored. */
  otherUnits: number;
  /** Frames dropped for a bad CRC or being too short. */
  badFrames: number;
  /** Runs of bytes too long to be a frame, dropped. */
  overruns: number;
  /** Times the line was closed by a `disconnect` fault. */
  disconnects: number;
}

export interface ModbusRtuFace {
  /** What a Modbus master opens: `<dir>/rtu-agent`. */
  readonly path: string;
  /** The simulator's own end: `<dir>/rtu-sim`. */
  readonly simPath: string;
  readonly gapMs: number;
  /** Extra delay before every reply, ms; may be changed while serving. */
  delayMs: number;
  /** While true the device is silent (powered down): requests are read and not answered. */
  paused: boolean;
  readonly stats: Readonly<ModbusRtuStats>;
  /** Closes the simulator's end of the line; reopens it after `downMs`. */
  disconnect(downMs: number): Promise<void>;
  close(): Promise<void>;
}

const LINK_SIM = 'rtu-sim';
const LINK_AGENT = 'rtu-agent';

/** socat processes still running, killed if the process exits without closing the face. */
const liveSocats = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  liveSocats.add(child);
  child.once('exit', () => liveSocats.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of liveSocats) c.kill('SIGTERM');
  });
}

/** Starts socat with two linked PTYs; resolves once both links exist. */
async function startSocat(
  socat: string,
  simPath: string,
  agentPath: string,
  timeoutMs: number,
): Promise<ChildProcess> {
  const child = spawn(
    socat,
    ['-d', '-d', `pty,raw,echo=0,link=${simPath}`, `pty,raw,echo=0,link=${agentPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  killOnExit(child);
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new SimListenFailedError(
          err.code === 'ENOENT'
            ? `Modbus RTU needs socat to make its PTY pair, and "${socat}" was not found (Debian: apt-get install socat)`
            : `Modbus RTU could not start socat: ${err.message}`,
          { cause: err },
        ),
      ),
    );
    child.once('exit', (code, signal) =>
      reject(
        new SimListenFailedError(
          `socat exited (${signal ?? `code ${code}`}) before the PTYs were ready: ${stderr.trim()}`,
        ),
      ),
    );
  });
  failed.catch(() => undefined);
  const deadline = performance.now() + timeoutMs;
  const linked = async (): Promise<void> => {
    for (;;) {
      // socat prints this once both PTYs exist and their links are made.
      if (stderr.includes('starting data transfer loop')) {
        const ok = await Promise.all([lstat(simPath), lstat(agentPath)]).then(
          () => true,
          () => false,
        );
        if (ok) return;
      }
      if (performance.now() > deadline) {
        throw new SimListenFailedError(
          `socat did not make its PTYs within ${timeoutMs} ms: ${stderr.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    await Promise.race([linked(), failed]);
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
  return child;
}

async function openPort(
  path: string,
  options: Required<Pick<ModbusRtuOptions, 'baudRate' | 'parity' | 'dataBits' | 'stopBits'>>,
): Promise<SerialPort> {
  const port = new SerialPort({ path, ...options, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  // Whatever a master sent while the line was down is not a request to us now.
  await new Promise<void>((resolve) => port.flush(() => resolve()));
  return port;
}

export async function startModbusRtu(options: ModbusRtuOptions): Promise<ModbusRtuFace> {
  const line = {
    baudRate: options.baudRate ?? 19200,
    parity: options.parity ?? 'even',
    dataBits: options.dataBits ?? 8,
    stopBits: options.stopBits ?? 1,
  } as const;
  const gapMs = options.gapMs ?? silenceGapMs(line.baudRate);
  const faults = options.faults ?? new ModbusFaults();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'outpost-rtu-')));
  const simPath = join(dir, LINK_SIM);
  const path = join(dir, LINK_AGENT);
  const timeoutMs = options.startTimeoutMs ?? 5000;
  const framer = new RtuFramer({ gapMs, eager: options.eagerFraming ?? true });
  const stats: ModbusRtuStats = {
    requests: 0,
    otherUnits: 0,
    badFrames: 0,
    overruns: 0,
    disconnects: 0,
  };
  const state = { delayMs: options.delayMs ?? 0, closed: false, paused: false };
  const timers = new Set<NodeJS.Timeout>();
  let port: SerialPort | undefined;
  let idleTimer: NodeJS.Timeout | undefined;

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const write = (bytes: Uint8Array): void => {
    if (port?.isOpen === true) port.write(Buffer.from(bytes));
  };

  const handle = (events: RtuFramerEvent[]): void => {
    for (const event of events) {
      if (event.type === 'overrun') {
        stats.overruns += 1;
        continue;
      }
      const frame = checkRtuFrame(event.bytes);
      if (!frame.ok) {
        stats.badFrames += 1;
        continue;
      }
      if (frame.unit !== options.unitId) {
        stats.otherUnits += 1;
        continue;
      }
      if (!state.paused) answer(frame.pdu);
    }
  };

  const answer = (pdu: Uint8Array): void => {
    stats.requests += 1;
    const unit = options.unitId;
    const fault = faults.take('rtu');
    let reply = encodeRtuFrame(unit, answerPdu(pdu, options.read));
    let extraDelay = 0;
    switch (fault?.kind) {
      case 'no-reply':
        return;
      case 'disconnect':
        void disconnect(fault.downMs ?? 200);
        return;
      case 'delay':
        extraDelay = fault.delayMs ?? 0;
        break;
      case 'exception':
        reply = encodeRtuFrame(unit, exceptionPdu(pdu[0] ?? 0, fault.exceptionCode ?? 4));
        break;
      case 'bad-crc':
        reply[reply.length - 2] = reply[reply.length - 2]! ^ 0xff;
        reply[reply.length - 1] = reply[reply.length - 1]! ^ 0xff;
        break;
      case 'truncate':
        reply = reply.subarray(0, truncatedLength(fault, reply.length));
        break;
      case 'garbage':
        reply = faults.garbage(fault.bytes ?? reply.length, unit);
        break;
    }
    const delay = state.delayMs + extraDelay;
    if (delay <= 0) write(reply);
    else later(delay, () => write(reply));
  };

  const armIdle = (): void => {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = undefined;
    const deadline = framer.deadline;
    if (deadline === undefined) return;
    idleTimer = setTimeout(
      () => {
        idleTimer = undefined;
        handle(framer.idle(performance.now()));
        armIdle();
      },
      Math.max(0, deadline - performance.now()),
    );
  };

  const attach = async (): Promise<void> => {
    const p = await openPort(simPath, line);
    p.on('data', (chunk: Buffer) => {
      handle(framer.push(chunk, performance.now()));
      armIdle();
    });
    p.on('error', () => undefined); // a failing port closes; the next disconnect/close copes
    port = p;
  };

  const detach = async (): Promise<void> => {
    const p = port;
    port = undefined;
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = undefined;
    framer.reset();
    if (p?.isOpen === true) await new Promise<void>((resolve) => p.close(() => resolve()));
  };

  /** Resolvers of down-time waits, released early by close(). */
  const waking = new Set<() => void>();
  const disconnect = async (downMs: number): Promise<void> => {
    if (state.closed || port === undefined) return;
    stats.disconnects += 1;
    await detach();
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        waking.delete(wake);
        resolve();
      };
      waking.add(wake);
      later(downMs, wake);
    });
    if (!state.closed) await attach();
  };

  let socat: ChildProcess;
  try {
    socat = await startSocat(options.socat ?? 'socat', simPath, path, timeoutMs);
  } catch (err) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  try {
    await attach();
  } catch (err) {
    socat.kill('SIGTERM');
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw new SimListenFailedError(`Modbus RTU could not open its end of the line ${simPath}`, {
      cause: err,
    });
  }

  let closing: Promise<void> | undefined;
  return {
    path,
    simPath,
    gapMs,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get paused() {
      return state.paused;
    },
    set paused(value: boolean) {
      state.paused = value;
    },
    stats,
    disconnect,
    close: () =>
      (closing ??= (async () => {
        state.closed = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        for (const wake of [...waking]) wake();
        await detach();
        if (socat.exitCode === null && socat.signalCode === null) {
          const exited = new Promise<void>((resolve) => socat.once('exit', () => resolve()));
          socat.kill('SIGTERM');
          const timer = setTimeout(() => socat.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(timer);
        }
        if (ownDir) await rm(dir, { recursive: true, force: true });
      })()),
  };
}
