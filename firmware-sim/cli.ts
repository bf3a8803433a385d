#!/usr/bin/env node
/**
 * Runs the simulated XR-200 controller on its own:
 *
 *   tsx firmware-sim/cli.ts --seed 42 --modbus-port 1502 --control-port 1503 --time-scale 10
 *
 * Prints one JSON line when ready ({"ready":true,"modbusPort":…,"controlPort":…}), then answers
 * control commands given on stdin, one JSON object a line, with one JSON reply line each on
 * stdout. SIGINT or SIGTERM closes it cleanly (exit 0). Bad arguments: exit 2; start failure:
 * a {"ready":false,"error":{…}} line and exit 1.
 */
import { parseArgs } from 'node:util';
import { lineResponder } from './control.js';
import { SimError } from './errors.js';
import { startSimulator, type SimulatorOptions } from './simulator.js';

const HELP = `outpost-sim: a simulated XR-200 X-ray modality controller (Modbus TCP + JSON control)

Usage: tsx firmware-sim/cli.ts [options]

  --seed N                  workload PRNG seed (default 1)
  --host ADDR               interface to listen on (default 127.0.0.1)
  --modbus-port N           Modbus TCP port (default: any free port)
  --control-port N|none     JSON control channel TCP port (default: any free port)
  --time-scale X            model ms per wall ms (default 1; 10 = ten times faster)
  --tick-ms N               wall ms between model steps (default 100)
  --modbus-delay-ms N       extra delay before every Modbus response (default 0)
  --exposures-per-minute X  mean workload rate (default 4)
  --no-workload             no exposures unless commanded
  --ambient C               room temperature at boot, °C (default 22)
  --events                  also print every error raise/clear as {"event":{…}} on stdout
  --sdk-socket PATH|auto    also serve the vendor-SDK endpoint on this Unix socket (auto: a
                            fresh temp directory); its path is in the ready line as sdkPath
  --modbus-rtu DIR|auto     also serve Modbus RTU on a socat PTY pair with links in DIR (auto:
                            a fresh temp directory); the master's end is in the ready line as
                            modbusRtuPath
  --service-port DIR|auto   also serve the serial service port (text protocol) on a socat PTY
                            pair with links in DIR (auto: a fresh temp directory); the agent's
                            end is in the ready line as servicePortPath
  -h, --help                this text

Once ready it prints {"ready":true,"modbusPort":N,"controlPort":N} on stdout and accepts control
commands on stdin (and on the control port), one JSON object a line, e.g.
  {"cmd":"inject","code":2002,"holdMs":3000}  {"cmd":"clear","code":2002}
  {"cmd":"set","exposures":4294967290}        {"cmd":"set","ambient":-12}
  {"cmd":"door","closed":false}               {"cmd":"expose","kv":80,"ma":200,"ms":100}
  {"cmd":"status"}
and model-level faults (firmware-sim/README.md), e.g.
  {"cmd":"storm","code":3003,"perSecond":300,"durationMs":2000}
  {"cmd":"wrap","counter":"exposures_total","before":3}
  {"cmd":"clock","jumpMs":86400000}           {"cmd":"reboot","downMs":1500}
`;

class UsageError extends Error {}

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} needs a number, got "${value}"`);
  return n;
}

function parse(argv: string[]): { options: SimulatorOptions; events: boolean } | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      seed: { type: 'string' },
      host: { type: 'string' },
      'modbus-port': { type: 'string' },
      'control-port': { type: 'string' },
      'time-scale': { type: 'string' },
      'tick-ms': { type: 'string' },
      'modbus-delay-ms': { type: 'string' },
      'exposures-per-minute': { type: 'string' },
      'no-workload': { type: 'boolean' },
      ambient: { type: 'string' },
      events: { type: 'boolean' },
      'sdk-socket': { type: 'string' },
      'modbus-rtu': { type: 'string' },
      'service-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const perMinute = num('exposures-per-minute', values['exposures-per-minute']);
  const options: SimulatorOptions = {
    seed: num('seed', values.seed),
    host: values.host,
    modbusPort: num('modbus-port', values['modbus-port']),
    controlPort:
      values['control-port'] === 'none' ? false : num('control-port', values['control-port']),
    timeScale: num('time-scale', values['time-scale']),
    tickMs: num('tick-ms', values['tick-ms']),
    modbusDelayMs: num('modbus-delay-ms', values['modbus-delay-ms']),
    ambientC: num('ambient', values.ambient),
    sdk:
      values['sdk-socket'] === undefined
        ? undefined
        : values['sdk-socket'] === 'auto'
          ? true
          : { path: values['sdk-socket'] },
    modbusRtu:
      values['modbus-rtu'] === undefined
        ? undefined
        : values['modbus-rtu'] === 'auto'
          ? true
          : { dir: values['modbus-rtu'] },
    servicePort:
      values['service-port'] === undefined
        ? undefined
        : values['service-port'] === 'auto'
          ? true
          : { dir: values['service-port'] },
    workload: {
      ...(values['no-workload'] === true ? { enabled: false } : {}),
      ...(perMinute === undefined ? {} : { exposuresPerMinute: perMinute }),
    },
  };
  // Drop unset options so the simulator's defaults apply.
  for (const key of Object.keys(options) as (keyof SimulatorOptions)[]) {
    if (options[key] === undefined) delete options[key];
  }
  return { options, events: values.events === true };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${HELP}`);
    process.exit(2);
  }
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const out = (value: unknown): void => {
    process.stdout.write(`${JSON.stringify(value)}\n`);
  };

  let sim;
  try {
    sim = await startSimulator(parsed.options);
  } catch (err) {
    const code = err instanceof SimError ? err.code : 'SIM_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    out({ ready: false, error: { code, message } });
    process.stderr.write(`outpost-sim: ${message}\n`);
    process.exit(1);
  }
  const running = sim;

  if (parsed.events) running.onError((event) => out({ event }));
  const shutdown = (): void => {
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);

  process.stdin.setEncoding('utf8');
  const feed = lineResponder(
    (line) => running.command(line),
    (line) => process.stdout.write(`${line}\n`),
  );
  process.stdin.on('data', (chunk: string) => feed(chunk));

  out({
    ready: true,
    host: running.host,
    modbusPort: running.modbusPort,
    controlPort: running.controlPort,
    ...(running.sdk === null ? {} : { sdkPath: running.sdk.path }),
    ...(running.modbusRtu === null ? {} : { modbusRtuPath: running.modbusRtu.path }),
    ...(running.servicePort === null ? {} : { servicePortPath: running.servicePort.agentPath }),
    unitId: running.unitId,
  });
}

await main();
