#!/usr/bin/env node
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EXIT_CONFIG, enrolAgent, runAgentService, serviceLogger } from './agent.js';
import { AgentConfigError, loadAgentConfig } from './agent-config.js';
import { jsonLogger } from '../src/index.js';

const HELP = `outpost - remote management agent for medical imaging equipment

Usage:
  outpost demo [options]     simulator + hub + agent on loopback, live view until Ctrl-C
  outpost agent --config <file.json>
                             run one agent as a service (deploy/systemd/); SIGTERM stops it
  outpost agent enrol --config <file.json> [--token <token>]
                             one-time enrolment: keys generated here, keystore sealed
                             (the token may come from OUTPOST_ENROL_TOKEN instead)

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
  if (argv[0] === 'agent') return agentMain(argv.slice(1));
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
  // Loaded only for the demo: it brings the hub (SQLite) and the simulator, which `outpost
  // agent` must not carry in its memory.
  const { runDemo } = await import('./demo.js');
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

/** The underlying system error's code, when there is one (ENOENT, EACCES...). */
function causeOf(err: unknown): { cause?: string } {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (!cause) return {};
  return { cause: String(cause.code ?? cause.message ?? 'unknown') };
}

/** Exit statuses: 0 stopped on a signal; 78 bad configuration or keystore; 1 any other failure. */
async function agentMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const sub = positionals[0];
  if (sub !== undefined && sub !== 'enrol')
    throw new UsageError(`unknown agent command "${sub}" (did you mean "outpost agent enrol"?)`);
  if (values.config === undefined) throw new UsageError('--config <file.json> is required');
  // Until the configuration is read, problems go out as JSON lines at the default level.
  let log = serviceLogger('info');
  try {
    const config = await loadAgentConfig(values.config);
    log = serviceLogger(config.logLevel);
    if (sub === 'enrol') {
      const token = values.token ?? process.env.OUTPOST_ENROL_TOKEN;
      if (!token) throw new UsageError('--token <token> (or OUTPOST_ENROL_TOKEN) is required');
      await enrolAgent(config, token, log);
      return 0;
    }
    // The last line before exiting is written synchronously: a line queued on a pipe would be
    // lost with the process.
    const fatalLog = jsonLogger({
      name: 'outpost-agent',
      write: (line) => {
        try {
          writeSync(1, line + '\n');
        } catch {
          // stdout gone or full: nothing left to tell.
        }
      },
    });
    process.on('uncaughtException', (err) => {
      fatalLog.error('uncaught exception', { error: err.name, message: err.message });
      process.exit(1);
    });
    const stopRequested = new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    return await runAgentService(config, log, stopRequested);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : undefined;
    // A configuration the service cannot run with (systemd: RestartPreventExitStatus=78), and
    // a keystore that does not open with this key, are not cured by restarting.
    const fatalConfig =
      err instanceof AgentConfigError || (code !== undefined && code.startsWith('KEYSTORE_'));
    log.error(sub === 'enrol' ? 'enrolment failed' : 'agent failed', {
      error: String(e.name ?? 'Error'),
      ...(code ? { code } : {}),
      ...(err instanceof AgentConfigError ? { file: err.file, field: err.field } : {}),
      message: String(e.message ?? err),
      ...causeOf(err),
    });
    return fatalConfig ? EXIT_CONFIG : 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`outpost: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
