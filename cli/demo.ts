import { mkdtemp, rm } from 'node:fs/promises';
import nacl from 'tweetnacl';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import { startSimulator, type ControllerErrorEvent } from '../firmware-sim/index.js';
import { createTestPki, startHub, testAgentHubOptions } from '../hub/index.js';
import {
  createAgent,
  jsonLogger,
  modbusTcpAdapter,
  parseErrorCatalogue,
  parseRegisterMap,
  type Logger,
} from '../src/index.js';

export interface DemoOptions {
  /** Seconds to run; undefined = until SIGINT/SIGTERM. */
  durationS?: number;
  json: boolean;
  pollMs: number;
  errorPollMs: number;
  sendMs: number;
  alarmEveryMs: number;
  seed: number;
  timeScale: number;
  /** Where human-readable output goes. */
  out: (line: string) => void;
}

export interface DemoResult {
  deviceId: string;
  durationS: number;
  telemetrySent: number;
  telemetryStored: number;
  alarmsRaised: number;
  alarmsStored: number;
  duplicatesDropped: number;
  lost: number;
  framesSent: number;
  bytesSent: number;
  messageBytes: { min: number; p50: number; max: number; count: number };
  alarmLatencyMs: { p50: number; p99: number; max: number; count: number };
}

const DEVICE_ID = 'XR200-DEMO-0001';

/**
 * The walking skeleton end to end: the simulated XR-200 on Modbus TCP, the hub on TLS with a
 * throwaway PKI and a temporary SQLite file, and an agent with its spool in a temporary
 * directory between them - all on loopback.
 * An alarm-class error is injected into the simulator every few seconds.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'outpost-demo-'));
  const log: Logger = jsonLogger({
    level: 'warn',
    name: 'agent',
    write: (l) => process.stderr.write(l + '\n'),
  });
  const catalogue = parseErrorCatalogue(catalogueJson);
  const immediateCodes = catalogueJson.codes.filter((c) => c.immediate).map((c) => c.code);

  // The recommended layout (docs/security.md): a device CA apart from the hub's server CA, and
  // an Ed25519 device TLS key.
  const pki = await createTestPki({
    deviceIds: [DEVICE_ID],
    hubName: 'outpost-demo-hub',
    separateDeviceCa: true,
    deviceKeyType: 'ed25519',
  });
  const sim = await startSimulator({ seed: o.seed, controlPort: false, timeScale: o.timeScale });
  const hub = await startHub({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.deviceCa.certPem },
    dbPath: join(dir, 'hub.sqlite'),
    hubId: 'demo-hub',
  });

  // What the simulator raised (alarm-class, visible in a register slot), per code, in order.
  const raisedAt = new Map<number, number[]>();
  let alarmsRaised = 0;
  sim.onError((e: ControllerErrorEvent) => {
    if (e.state !== 'raised' || !e.immediate || !e.visible) return;
    alarmsRaised++;
    raisedAt.set(e.code, [...(raisedAt.get(e.code) ?? []), e.wallTimeMs]);
    if (!o.json) o.out(`  sim    raised ${e.code} ${e.name} (${e.cause})`);
  });
  const latencies: number[] = [];
  hub.on('stored', ({ frame, storedAtMs }) => {
    if (frame.type !== 'alarm' || frame.alarm.state === 2) return;
    const code = frame.alarm.code ?? 0;
    const t0 = raisedAt.get(code)?.shift();
    if (t0 !== undefined) latencies.push(storedAtMs - t0);
    if (!o.json) {
      o.out(
        `  hub    stored alarm ${code} ${frame.alarm.subsystem} sev=${frame.alarm.severity}${t0 === undefined ? '' : ` ${storedAtMs - t0} ms after the controller raised it`}`,
      );
    }
  });

  // Factory provisioning, in short: the device's Ed25519 identity, registered at the hub.
  const identity = nacl.sign.keyPair();
  hub.registerDevice(DEVICE_ID, identity.publicKey);
  const agent = createAgent({
    identity: { secretKey: identity.secretKey },
    adapter: modbusTcpAdapter({
      host: sim.host,
      port: sim.modbusPort,
      registerMap: parseRegisterMap(registerMapJson),
    }),
    errorCatalogue: catalogue,
    hub: testAgentHubOptions(pki, DEVICE_ID, hub),
    pollIntervalMs: o.pollMs,
    errorPollIntervalMs: o.errorPollMs,
    telemetry: { sendIntervalMs: o.sendMs },
    // The crash-safe spool: what the agent accepted survives a crash until the hub acks it.
    spool: { dir: join(dir, 'spool') },
    logger: log,
  });
  let raisesSeen = 0;
  agent.on('alarm', (t) => {
    if (t.state === 'raised') raisesSeen++;
  });
  const frameSizes: number[] = [];
  agent.on('sent', (record, bytes) => {
    if (record.type !== 'commandResult') frameSizes.push(bytes);
  });
  let lastSnapshot = '';
  agent.on('snapshot', (s) => {
    const v = Object.fromEntries(s.counters.map((c) => [c.name, c.value]));
    lastSnapshot = `exposures=${v.exposures_total} heat=${v.tube_heat_pct}% det=${v.detector_temp}°C kV=${v.last_kv} mA=${v.last_ma} door=${v.door_closed ? 'closed' : 'OPEN'} errors=[${s.codes.join(',')}]`;
  });

  if (!o.json) {
    o.out(
      `Outpost demo: simulator modbus-tcp://${sim.host}:${sim.modbusPort}, hub ${hub.url}, device ${DEVICE_ID}`,
    );
    o.out(
      `  poll ${o.pollMs} ms, error poll ${o.errorPollMs} ms, send every ${o.sendMs} ms, an alarm-class error injected every ${o.alarmEveryMs} ms`,
    );
  }
  await agent.start();

  let injected = 0;
  const holdMs = Math.max(3 * o.errorPollMs, 2000) * o.timeScale;
  // Injection times are jittered by up to one error-poll period: in one process the timers
  // would otherwise line up with the agent's polls and make the latency look like zero.
  let injector: NodeJS.Timeout | undefined;
  const scheduleInjection = (): void => {
    injector = setTimeout(
      () => {
        const code = immediateCodes[injected++ % immediateCodes.length]!;
        sim.inject(code, { holdMs });
        scheduleInjection();
      },
      o.alarmEveryMs + Math.random() * Math.max(o.errorPollMs, o.pollMs / 4),
    );
  };
  scheduleInjection();
  const view = o.json
    ? undefined
    : setInterval(() => {
        const a = agent.stats();
        const h = hub.store.counts(DEVICE_ID);
        o.out(
          `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${lastSnapshot} | tunnel=${a.tunnel} samples sent=${a.samplesAccepted} stored=${h.samples} alarms stored=${h.alarms} bytes=${a.bytesSent}`,
        );
      }, 1000);

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (o.durationS !== undefined) setTimeout(stop, o.durationS * 1000).unref();
  });

  clearTimeout(injector);
  if (view) clearInterval(view);
  // Let the agent see every raise the simulator made before it stops polling.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && raisesSeen < alarmsRaised) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await agent.stop({ drainTimeoutMs: 10_000 });

  const stats = agent.stats();
  const counts = hub.store.counts(DEVICE_ID);
  const stored = hub.store.alarms(DEVICE_ID);
  const result: DemoResult = {
    deviceId: DEVICE_ID,
    durationS: Math.round((Date.now() - started) / 100) / 10,
    telemetrySent: stats.samplesAccepted,
    telemetryStored: counts.samples,
    alarmsRaised,
    alarmsStored: stored.filter((a) => a.state === 'raised').length,
    duplicatesDropped: hub.stats().duplicatesDropped,
    lost:
      Math.max(0, stats.samplesAccepted - counts.samples) +
      Math.max(0, stats.alarmsAccepted - stored.length),
    framesSent: stats.framesSent,
    bytesSent: stats.bytesSent,
    messageBytes: {
      ...summary(frameSizes, [0, 0.5, 1]),
      count: frameSizes.length,
    } as DemoResult['messageBytes'],
    alarmLatencyMs: {
      ...summary(latencies, [0.5, 0.99, 1]),
      count: latencies.length,
    } as DemoResult['alarmLatencyMs'],
  };
  await hub.close();
  await sim.close();
  await rm(dir, { recursive: true, force: true });
  return result;
}

/** Nearest-rank percentiles, keyed min/p50/p99/max. */
function summary(values: number[], quantiles: number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number): number =>
    sorted.length === 0
      ? 0
      : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  const out: Record<string, number> = {};
  for (const q of quantiles) {
    const key = q === 0 ? 'min' : q === 1 ? 'max' : `p${Math.round(q * 100)}`;
    out[key] = pick(q);
  }
  return out;
}
