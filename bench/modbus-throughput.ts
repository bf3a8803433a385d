/**
 * modbus-throughput: reads per second of 100 holding registers (one function-3 request each,
 * one at a time, as the agent makes them) through the agent's Modbus clients:
 * - Modbus TCP on loopback against the simulator's MBAP face (same tick replies);
 * - Modbus RTU over a socat PTY pair against the simulator's RTU face, once with frames ended
 *   as soon as a request is complete (eager) and once by 3.5 characters of silence only.
 * Each responder runs in a child process (bench/modbus-child.ts).
 *
 * A PTY ignores the baud rate: these RTU figures are what the software can do, not a serial
 * line. The line's own ceiling is computed (wire time of request + reply + two silences).
 */
import { spawnSync } from 'node:child_process';
import { ModbusRtuClient, ModbusTcpClient, type ModbusClient } from '../src/index.js';
import { nowNs, round, sig, table, type Bench } from './lib.js';
import {
  holdingImage,
  RawModbusTcp,
  ResponderProcess,
  rtuWireMs,
  sixtyRegisterMap,
  summary,
} from './modbus-kit.js';

const COUNT = 100;
const SECONDS_PER_CASE = 4;
const MAX_READS = 50_000;
const WARMUP_READS = 300;

interface Case {
  name: string;
  reads: number;
  seconds: number;
  readsPerSecond: number;
  latencyMs: ReturnType<typeof summary>;
}

async function measure(name: string, read: () => Promise<unknown>): Promise<Case> {
  for (let i = 0; i < WARMUP_READS; i++) await read();
  const latency: number[] = [];
  const start = nowNs();
  const end = start + SECONDS_PER_CASE * 1e9;
  while (latency.length < MAX_READS && nowNs() < end) {
    const s = nowNs();
    await read();
    latency.push((nowNs() - s) / 1e6);
  }
  const seconds = (nowNs() - start) / 1e9;
  return {
    name,
    reads: latency.length,
    seconds: round(seconds, 2),
    readsPerSecond: sig(latency.length / seconds),
    latencyMs: summary(latency, 3),
  };
}

async function clientCase(name: string, client: ModbusClient): Promise<Case> {
  await client.open();
  try {
    return await measure(name, () => client.read('holding', 0, COUNT));
  } finally {
    await client.close();
  }
}

export const modbusThroughputBench: Bench = {
  name: 'modbus-throughput',
  description:
    'reads/s of 100 registers: Modbus TCP loopback, Modbus RTU over a PTY; line ceilings',
  async run(log) {
    const t0 = nowNs();
    const socat = spawnSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }).status === 0;
    const holding = holdingImage(sixtyRegisterMap());
    const cases: Case[] = [];
    const eager = await ResponderProcess.start({ rtu: socat, eagerFraming: true, holding });
    let gapMs: number | null = null;
    try {
      const raw = await RawModbusTcp.connect(eager.tcpPort);
      const request = RawModbusTcp.request(0, COUNT);
      cases.push(await measure('TCP, bare client (bus only)', () => raw.transact(request)));
      raw.close();
      cases.push(
        await clientCase(
          'TCP, ModbusTcpClient',
          new ModbusTcpClient({ host: '127.0.0.1', port: eager.tcpPort, unitId: 1 }),
        ),
      );
      if (eager.rtuPath !== null) {
        cases.push(
          await clientCase(
            'RTU over PTY, eager framing',
            new ModbusRtuClient({ path: eager.rtuPath, baudRate: 19200, unitId: 1 }),
          ),
        );
      }
    } finally {
      await eager.stop();
    }
    if (socat) {
      const silent = await ResponderProcess.start({ rtu: true, eagerFraming: false, holding });
      gapMs = silent.gapMs;
      try {
        cases.push(
          await clientCase(
            `RTU over PTY, frames end by ${round(silent.gapMs ?? 0, 2)} ms silence`,
            new ModbusRtuClient({ path: silent.rtuPath!, baudRate: 19200, unitId: 1 }),
          ),
        );
      } finally {
        await silent.stop();
      }
    } else {
      log('(socat not found: RTU cases skipped; Debian package "socat")');
    }

    const ceilings = [9600, 19200, 38400, 115200].flatMap((baud) =>
      [10, 11].map((bits) => {
        const ms = rtuWireMs(COUNT, baud, bits);
        return {
          baud,
          framing: bits === 10 ? '8N1 (10 bits/char)' : '8E1 (11 bits/char)',
          wireMsPerRead: round(ms, 1),
          readsPerSecond: round(1000 / ms, 1),
        };
      }),
    );
    log(
      table(
        ['case', 'reads', 'reads/s', 'p50 ms', 'p99 ms', 'max ms'],
        cases.map((c) => [
          c.name,
          c.reads,
          c.readsPerSecond,
          c.latencyMs.p50,
          c.latencyMs.p99,
          c.latencyMs.max,
        ]),
      ),
    );
    log('');
    log(
      table(
        ['real line: baud', 'framing', 'wire ms per read', 'reads/s ceiling'],
        ceilings.map((c) => [c.baud, c.framing, c.wireMsPerRead, c.readsPerSecond]),
      ),
    );
    return {
      bench: 'modbus-throughput',
      command: 'npm run bench -- modbus-throughput',
      wallTimeS: round((nowNs() - t0) / 1e9, 1),
      settings: {
        read: `function 3, ${COUNT} holding registers at 0, one request at a time`,
        secondsPerCase: SECONDS_PER_CASE,
        maxReads: MAX_READS,
        warmupReads: WARMUP_READS,
        responder:
          'firmware-sim startModbusTcp / startModbusRtu in a child process (bench/modbus-child.ts)',
        pty: 'socat -d -d pty,raw,echo=0 pty,raw,echo=0; the PTY ignores baud rate, parity and stop bits',
        rtuClient:
          'ModbusRtuClient (modbus-serial connectRTUBuffered), baudRate 19200 (ignored by the PTY)',
        silenceGapMs: gapMs,
        ceiling:
          'wire time = (8 request + 205 reply characters) x bits per character / baud + 2 x t3.5 silence (3.5 characters, 1.75 ms above 19200 baud); no turnaround or processing time',
      },
      results: { cases, lineCeilings: ceilings },
    };
  },
};
