#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runDemo } from './demo.js';

const HELP = `outpost - remote management agent for medical imaging equipment

Usage:
  outpost demo [options]     simulator + hub + agent on loopback, live view until Ctrl-C

Demo options:
  --duration <s>        stop after this many seconds and print a summary
  --json                print only the summary, as one JSON object on the last stdout line
  --poll-ms <ms>        management interval (full counter read), default 1000
  --error-poll-ms <ms>  fast error-code poll, default 250
  --send-ms <ms>        telemetry transmit interval, default 5000
  --alarm-every-ms <ms> inject an alarm-class error this often, default 3000
  --seed <n>            simulator seed, default 42
  --time-scale <x>      simulator model speed-up, default 1
  -h, --help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      duration: { type: 'string' },
      json: { type: 'boolean', default: false },
      'poll-ms': { type: 'string', default: '1000' },
      'error-poll-ms': { type: 'string', default: '250' },
      'send-ms': { type: 'string', default: '5000' },
      'alarm-every-ms': { type: 'string', default: '3000' },
      seed: { type: 'string', default: '42' },
      'time-scale': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0] ?? 'demo';
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (command !== 'demo') {
    process.stderr.write(`unknown command "${command}"\n\n${HELP}`);
    return 2;
  }
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new UsageError(`--${name} must be a number ≥ ${min} (got "${v}")`);
    return n;
  };
  const result = await runDemo({
    durationS: values.duration === undefined ? undefined : num('duration', values.duration, 1),
    json: values.json,
    pollMs: num('poll-ms', values['poll-ms'], 50),
    errorPollMs: num('error-poll-ms', values['error-poll-ms'], 0),
    sendMs: num('send-ms', values['send-ms'], 50),
    alarmEveryMs: num('alarm-every-ms', values['alarm-every-ms'], 100),
    seed: num('seed', values.seed, 0),
    timeScale: num('time-scale', values['time-scale'], 0.001),
    out: (line) => process.stdout.write(line + '\n'),
  });
  if (!values.json) {
    process.stdout.write(
      `\nSummary: ${result.telemetryStored}/${result.telemetrySent} samples stored, ${result.alarmsStored}/${result.alarmsRaised} alarms stored, ` +
        `${result.lost} lost, ${result.duplicatesDropped} duplicates dropped; frames ${result.messageBytes.min}-${result.messageBytes.max} bytes ` +
        `(p50 ${result.messageBytes.p50}); alarm latency p50 ${result.alarmLatencyMs.p50} ms, p99 ${result.alarmLatencyMs.p99} ms\n`,
    );
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  return result.lost === 0 ? 0 : 1;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`outpost: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
