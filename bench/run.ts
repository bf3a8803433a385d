/**
 * `npm run bench` runs every benchmark in sequence; `npm run bench -- codec e2e` runs the named
 * ones. Each prints a table and writes bench/results/<name>.json. Loopback only; every loop is
 * bounded in count and time. Figures vary between runs on a shared machine: compare the ratios
 * a single run measured side by side, not absolute figures across runs.
 */
import { agentFootprintBench } from './agent-footprint.js';
import { benchOptions, splitBenchArgs } from './agent-kit.js';
import { alarmLatencyBacklogBench } from './alarm-latency-backlog.js';
import { codecBench } from './codec.js';
import { e2eBench } from './e2e.js';
import { handshakeRateBench } from './handshake-rate.js';
import { handshakeBench } from './handshake.js';
import { idleMemoryBench } from './idle-memory.js';
import { machine, round, writeResult, nowNs, type Bench } from './lib.js';
import { modbusAlarmBench } from './modbus-alarm.js';
import { modbusOverheadBench } from './modbus-overhead.js';
import { modbusThroughputBench } from './modbus-throughput.js';
import { pollOverheadBench } from './poll-overhead.js';
import { reconnectStormBench } from './reconnect-storm.js';
import { serialAlarmBench } from './serial-alarm.js';
import { spoolAppendBench } from './spool-append.js';
import { spoolMemoryBench } from './spool-memory.js';
import { transportVsMqttBench } from './transport-vs-mqtt.js';
import { wireSizeBench } from './wire-size.js';

const BENCHES: readonly Bench[] = [
  codecBench,
  wireSizeBench,
  pollOverheadBench,
  e2eBench,
  handshakeBench,
  handshakeRateBench,
  reconnectStormBench,
  idleMemoryBench,
  serialAlarmBench,
  modbusOverheadBench,
  modbusThroughputBench,
  modbusAlarmBench,
  spoolAppendBench,
  spoolMemoryBench,
  transportVsMqttBench,
  agentFootprintBench,
  alarmLatencyBacklogBench,
];

async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: npm run bench [-- <name>...] [--duration <n>s|m|h] [--soak]\n');
    for (const b of BENCHES) console.log(`  ${b.name.padEnd(18)} ${b.description}`);
    return 0;
  }
  // --duration and --soak apply to agent-footprint and alarm-latency-backlog (bench/agent-kit.ts).
  const { names: argv, options } = splitBenchArgs(args);
  Object.assign(benchOptions, options);
  const unknown = argv.filter((a) => !BENCHES.some((b) => b.name === a));
  if (unknown.length > 0) {
    console.error(
      `unknown bench ${unknown.map((u) => `"${u}"`).join(', ')}; choose from: ${BENCHES.map((b) => b.name).join(', ')}`,
    );
    return 2;
  }
  const selected = argv.length === 0 ? BENCHES : BENCHES.filter((b) => argv.includes(b.name));
  const start = nowNs();
  const m = machine();
  console.log(
    `Outpost benchmarks - ${m.cpus} x ${m.cpuModel}, Node ${m.node}, ${m.platform}/${m.arch}, load ${m.loadAvgAtStart.join(' ')}\n`,
  );
  for (const bench of selected) {
    console.log(`== ${bench.name}: ${bench.description}`);
    const date = new Date().toISOString();
    const machineAtStart = machine();
    const result = await bench.run((line) => console.log(line));
    const path = await writeResult({ ...result, date, machine: machineAtStart });
    console.log(`(${result.wallTimeS} s; written to ${path})\n`);
  }
  console.log(`done in ${round((nowNs() - start) / 1e9, 1)} s`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
