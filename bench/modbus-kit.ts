/**
 * Shared pieces of the Modbus benches: the 60-register map (the shape poll-overhead uses), its
 * register image, the responder process (bench/modbus-child.ts) and a bare-bones Modbus TCP
 * client that measures the bus alone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseRegisterMap, registerCount, type RegisterMap } from '../src/index.js';
import { mean, quantile, round } from './lib.js';

/** 30 two-register counters (u32/i32, both word orders, assorted scales) + 8 error slots at 100. */
export function sixtyRegisterMap(): RegisterMap {
  const kinds = [
    { type: 'u32', scale: 1, unit: 'count' },
    { type: 'i32', scale: 0.1, unit: 'degC' },
    { type: 'u32', scale: 0.01, unit: 'V' },
  ] as const;
  const counters = Array.from({ length: 30 }, (_, i) => {
    const k = kinds[i % kinds.length]!;
    return {
      name: i === 29 ? 'error_events_total' : `counter_${String(i).padStart(2, '0')}`,
      table: 'holding',
      address: i * 2,
      type: i === 29 ? 'u32' : k.type,
      wordOrder: i % 2 === 0 ? 'big' : 'little',
      scale: i === 29 ? 1 : k.scale,
      offset: 0,
      unit: i === 29 ? 'count' : k.unit,
    };
  });
  return parseRegisterMap({
    unitId: 1,
    counters,
    errors: { table: 'holding', address: 100, slots: 8 },
  });
}

/** Holding registers 0..127: pseudo-random counters, 2 raises, two non-alarm codes active. */
export function holdingImage(map: RegisterMap): number[] {
  const holding = new Array<number>(128).fill(0);
  let x = 0x2545f491;
  for (const c of map.counters) {
    for (let w = 0; w < registerCount(c.type); w++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      holding[c.address + w] = x >>> 16;
    }
  }
  for (let a = 60; a < 100; a++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    holding[a] = x >>> 16;
  }
  holding[58] = 0;
  holding[59] = 2; // error_events_total
  holding[100] = 1010; // GEN_FAN_DEGRADED (not alarm-class)
  holding[101] = 2001; // TUBE_HEAT_WARNING (not alarm-class)
  return holding;
}

const CHILD_PATH = fileURLToPath(new URL('./modbus-child.ts', import.meta.url));

/** The simulator's Modbus faces in a process of their own. */
export class ResponderProcess {
  private constructor(
    private readonly proc: ChildProcess,
    readonly tcpPort: number,
    readonly rtuPath: string | null,
    readonly gapMs: number | null,
  ) {}

  static async start(options: {
    rtu: boolean;
    eagerFraming?: boolean;
    holding: number[];
  }): Promise<ResponderProcess> {
    const proc = fork(CHILD_PATH, [], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const reply = await new Promise<{
      tcpPort?: number;
      rtuPath?: string | null;
      gapMs?: number | null;
      error?: string;
    }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('responder did not start in 20 s')), 20_000);
      proc.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as { tcpPort?: number; rtuPath?: string | null; error?: string });
      });
      proc.once('exit', (code) => reject(new Error(`responder exited (${code})`)));
      proc.send({
        rtu: options.rtu,
        eagerFraming: options.eagerFraming ?? true,
        holding: options.holding,
      });
    });
    if (reply.error !== undefined || reply.tcpPort === undefined) {
      proc.kill('SIGKILL');
      throw new Error(`responder failed: ${reply.error ?? 'no port'}`);
    }
    return new ResponderProcess(proc, reply.tcpPort, reply.rtuPath ?? null, reply.gapMs ?? null);
  }

  /** Asks the child to close its faces and exit; kills it by its pid after 5 s. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.disconnect();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/**
 * The least a Modbus TCP master can do: prebuilt requests, one at a time, a reply counted
 * complete when its MBAP length is in. No parsing, no checks: it times the bus (loopback, the
 * kernel, the responder) and nothing else.
 */
export class RawModbusTcp {
  readonly #socket: net.Socket;
  #buffered = 0;
  #need = 0;
  #done: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffered += chunk.length;
      if (this.#done && this.#buffered >= this.#need) {
        const done = this.#done;
        this.#done = undefined;
        done();
      }
    });
  }

  static async connect(port: number): Promise<RawModbusTcp> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawModbusTcp(socket);
  }

  /** "Read `count` holding registers at `address`" for unit 1, as transaction 1. */
  static request(address: number, count: number): { adu: Buffer; replyBytes: number } {
    const adu = Buffer.from([0, 1, 0, 0, 0, 6, 1, 3, address >> 8, address & 0xff, 0, count]);
    return { adu, replyBytes: 9 + 2 * count };
  }

  transact(r: { adu: Buffer; replyBytes: number }): Promise<void> {
    this.#buffered = 0;
    this.#need = r.replyBytes;
    const done = new Promise<void>((resolve) => (this.#done = resolve));
    this.#socket.write(r.adu);
    return done;
  }

  close(): void {
    this.#socket.destroy();
  }
}

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export function summary(values: ArrayLike<number>, digits: number): Summary {
  const list = Array.from(values);
  return {
    count: list.length,
    mean: round(mean(list), digits),
    p50: round(quantile(list, 0.5), digits),
    p99: round(quantile(list, 0.99), digits),
    max: round(list.length === 0 ? Number.NaN : Math.max(...list), digits),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wire time of one RTU read of `count` registers: request + reply characters and two silences. */
export function rtuWireMs(count: number, baud: number, bitsPerChar: number): number {
  const chars = 8 + 5 + 2 * count;
  const gap = baud > 19200 ? 1.75 : (3.5 * bitsPerChar * 1000) / baud;
  return (chars * bitsPerChar * 1000) / baud + 2 * gap;
}
