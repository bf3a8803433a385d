/**
 * The service port over a real socat PTY pair, driven from the agent's end with a plain
 * `serialport` client (not the agent's adapter: the controller is tested on its own).
 * Needs socat: skipped with a message locally, failed in CI (CI=true) when it is missing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { frameLine } from './service-port-frame.js';
import { startSimulator, type Simulator } from './simulator.js';

const socatMissing = spawnSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }).status !== 0;
const MISSING = 'socat is not installed (Debian package "socat"): apt-get install -y socat';
if (socatMissing && process.env.CI !== 'true')
  console.warn(`firmware-sim/service-port.test.ts skipped: ${MISSING}`);

interface Client {
  port: SerialPort;
  /** Next complete line (terminator removed), or throws after `timeoutMs`. */
  next(timeoutMs?: number): Promise<string>;
  /** Raw bytes received so far. */
  raw(): Buffer;
  send(payload: string): void;
  closed: Promise<Error | null>;
  close(): Promise<void>;
}

async function client(path: string): Promise<Client> {
  const port = new SerialPort({ path, baudRate: 115_200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const chunks: Buffer[] = [];
  let consumed = 0;
  port.on('data', (b: Buffer) => chunks.push(b));
  port.on('error', () => undefined);
  const closed = new Promise<Error | null>((resolve) =>
    port.on('close', (e: Error | null) => resolve(e)),
  );
  const raw = (): Buffer => Buffer.concat(chunks);
  return {
    port,
    raw,
    closed,
    send: (payload) => port.write(frameLine(payload)),
    async next(timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const all = raw();
        const nl = all.indexOf(0x0a, consumed);
        if (nl >= 0) {
          const line = all.subarray(consumed, nl).toString('latin1').replace(/\r$/, '');
          consumed = nl + 1;
          return line;
        }
        if (Date.now() > deadline)
          throw new Error(
            `no line within ${timeoutMs} ms (have ${JSON.stringify(all.subarray(consumed).toString('latin1'))})`,
          );
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close: () =>
      new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

const check = (line: string): string => {
  const m = /^(.*)\*([0-9A-F]{2})$/.exec(line);
  expect(m, line).not.toBeNull();
  let x = 0;
  for (const ch of m![1]!) x ^= ch.charCodeAt(0);
  expect(m![2], line).toBe(x.toString(16).toUpperCase().padStart(2, '0'));
  return m![1]!;
};

describe.runIf(socatMissing && process.env.CI === 'true')('service port prerequisites', () => {
  it('needs socat', () => {
    throw new Error(MISSING);
  });
});

describe.skipIf(socatMissing)('service port over a socat PTY pair', () => {
  let sim: Simulator;
  let c: Client;

  beforeAll(async () => {
    sim = await startSimulator({ seed: 9, controlPort: false, tickMs: 0, servicePort: true });
  });
  afterAll(async () => {
    const dir = sim.servicePort!.agentPath;
    await sim.close();
    expect(existsSync(dir)).toBe(false);
  });
  beforeEach(async () => {
    c = await client(sim.servicePort!.agentPath);
  });
  afterEach(async () => {
    await sim.servicePort!.fault({ kind: 'clear' });
    await c.close();
  });

  it('answers requests with checksummed replies that match the model', async () => {
    sim.model.setExposures(4321);
    c.send('COUNTERS #1');
    const counters = check(await c.next());
    expect(counters).toMatch(
      /^OK COUNTERS #1 exposures_total=4321 tube_heat=\d+ tube_heat_pct=\d+\.\d /,
    );
    expect(counters).toContain(`detector_temp=${sim.model.counters().detector_temp.toFixed(1)}`);
    c.send('PING');
    expect(check(await c.next())).toBe('OK PING');
    c.port.write('PING*00\r\n');
    expect(check(await c.next())).toBe('ERR CHK checksum 00 is wrong, expected 10');
    c.port.write('PING\r');
    expect(check(await c.next())).toMatch(/^ERR CHK missing checksum/);
  });

  it('pushes !EVT lines the moment the model raises or clears a code', async () => {
    const t0 = Date.now();
    sim.inject(2003);
    const raised = check(await c.next());
    sim.clear(2003);
    const cleared = check(await c.next());
    expect(raised).toMatch(/^!EVT ERR 2003 RAISED \d{13}$/);
    expect(cleared).toMatch(/^!EVT ERR 2003 CLEARED \d{13}$/);
    expect(Math.abs(Number(raised.split(' ')[4]) - t0)).toBeLessThan(1000);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('applies reply faults: delay, no reply, garbage, noise, truncate, bad checksum', async () => {
    const sp = sim.servicePort!;
    await sp.fault({ kind: 'delay', ms: 300 });
    let t0 = Date.now();
    c.send('PING #1');
    expect(check(await c.next())).toBe('OK PING #1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);

    await sp.fault({ kind: 'no-reply' });
    c.send('PING #2');
    c.send('PING #3');
    expect(check(await c.next())).toBe('OK PING #3');

    await sp.fault({ kind: 'garbage', bytes: 20 });
    c.send('PING #4');
    const garbage = await c.next();
    expect(garbage).toHaveLength(20);
    expect(garbage).not.toMatch(/OK/);

    await sp.fault({ kind: 'noise', bytes: 7 });
    c.send('PING #5');
    const noisy = await c.next();
    expect(noisy.slice(7)).toBe(frameLine('OK PING #5').trimEnd());

    await sp.fault({ kind: 'truncate', keep: 6 });
    c.send('PING #6');
    t0 = Date.now();
    await new Promise((r) => setTimeout(r, 100));
    c.send('PING #7');
    expect(await c.next()).toBe(`OK PIN${frameLine('OK PING #7').trimEnd()}`);

    await sp.fault({ kind: 'bad-checksum' });
    c.send('PING #8');
    const bad = await c.next();
    expect(bad.slice(0, -3)).toBe('OK PING #8');
    expect(bad).not.toBe(frameLine('OK PING #8').trimEnd());
    expect(sp.stats().faultsApplied).toBeGreaterThanOrEqual(6);
  });

  it('takes faults from the control channel', async () => {
    const reply = JSON.parse(
      sim.command('{"cmd":"serial-fault","kind":"no-reply","count":2,"id":1}'),
    ) as {
      ok: boolean;
      pending: unknown[];
    };
    expect(reply).toMatchObject({ ok: true, pending: [{ kind: 'no-reply', count: 2 }] });
    const bad = JSON.parse(sim.command('{"cmd":"serial-fault","kind":"melt"}')) as {
      error: { code: string };
    };
    expect(bad.error.code).toBe('SIM_BAD_COMMAND');
    c.send('PING #1');
    c.send('PING #2');
    c.send('PING #3');
    expect(check(await c.next())).toBe('OK PING #3');
  });

  it('disconnect: the far end sees a hang-up, and the line comes back on the same path', async () => {
    const sp = sim.servicePort!;
    const back = sp.fault({ kind: 'disconnect', downMs: 200 });
    expect(sp.state).toBe('down');
    const err = await c.closed;
    expect((err as (Error & { disconnected?: boolean }) | null)?.disconnected).toBe(true);
    sim.inject(1001); // while down: dropped, counted
    sim.clear(1001);
    await back;
    expect(sp.state).toBe('up');
    expect(sp.stats()).toMatchObject({ disconnects: 1, eventsDropped: 2 });
    c = await client(sp.agentPath);
    c.send('PING #9');
    expect(check(await c.next())).toBe('OK PING #9');
  });

  it('follows a model reboot: silent while down, then !EVT BOOT', async () => {
    sim.faults.reboot({ downMs: 500 });
    expect(sim.servicePort!.state).toBe('rebooting');
    c.send('PING #1');
    await new Promise((r) => setTimeout(r, 100));
    expect(c.raw()).toHaveLength(0);
    sim.faults.step(600); // tickMs 0: the test moves model time
    const lines = [check(await c.next()), check(await c.next())];
    expect(lines.some((l) => /^!EVT BOOT \d{13}$/.test(l))).toBe(true);
    expect(lines.some((l) => /^!EVT ERR 7001 RAISED/.test(l))).toBe(true);
    c.send('PING #2');
    expect(check(await c.next())).toBe('OK PING #2');
  });

  it('serves the rotating logs: LOGS, then LOG chunks that decode to the file bytes', async () => {
    c.send('LOGS #1');
    const list = check(await c.next())
      .split(' ')
      .slice(3);
    expect(list.length).toBeGreaterThanOrEqual(4);
    const [name, size] = list[0]!.split(':');
    const bytes: Buffer[] = [];
    for (let off = 0; off < Number(size);) {
      c.send(`LOG ${name} ${off} 4096`);
      const f = check(await c.next()).split(' ');
      expect(f.slice(0, 4)).toEqual(['OK', 'LOG', name, String(off)]);
      const chunk = Buffer.from(f[5] ?? '', 'base64');
      expect(chunk.length).toBeLessThanOrEqual(2048);
      bytes.push(chunk);
      off += chunk.length;
    }
    expect(Buffer.concat(bytes).equals(Buffer.from(sim.logs.read(name!)!))).toBe(true);
  });
});
