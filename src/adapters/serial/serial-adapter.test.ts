import { afterEach, describe, expect, it } from 'vitest';
import { heldBy } from '../test-signals.js';
import { AdapterError } from '../errors.js';
import type { DeviceEvent } from '../types.js';
import { SerialDeviceError } from './errors.js';
import { FakeSerialTransport } from './fake-transport.js';
import { SerialAdapter, type SerialAdapterOptions } from './serial-adapter.js';

/** A frame built by hand (XOR of the payload), independent of the adapter's encoder. */
function frame(payload: string): string {
  let x = 0;
  for (const ch of payload) x ^= ch.charCodeAt(0);
  return `${payload}*${x.toString(16).toUpperCase().padStart(2, '0')}\r\n`;
}

interface Request {
  verb: string;
  args: string[];
  tag: string;
}

function parseRequest(line: string): Request {
  const m = /^(.*)\*([0-9A-F]{2})$/.exec(line);
  if (!m) throw new Error(`bad request line ${line}`);
  const tokens = m[1]!.split(' ');
  const tag = tokens.at(-1)!.startsWith('#') ? tokens.pop()! : '';
  return { verb: tokens[0]!, args: tokens.slice(1), tag };
}

const LOG = Buffer.from(
  Array.from({ length: 5000 }, (_, i) => String.fromCharCode(32 + (i % 90))).join(''),
  'latin1',
);

/** Answers like a healthy controller; `override` can take a request over. */
function controller(
  fake: FakeSerialTransport,
  override?: (r: Request, reply: (payload: string) => void) => boolean,
): Request[] {
  const seen: Request[] = [];
  fake.respond = (line, f) => {
    const r = parseRequest(line);
    seen.push(r);
    const reply = (p: string): void => f.emitData(frame(p));
    if (override?.(r, reply)) return;
    const ok = (fields: string): void =>
      reply(`OK ${r.verb} ${r.tag}${fields ? ' ' + fields : ''}`);
    switch (r.verb) {
      case 'PING':
        return ok('');
      case 'COUNTERS':
        return ok('exposures_total=1234 detector_temp=-3.5 tube_heat_pct=12.0');
      case 'ERRORS':
        return ok('raises=3 active=2003,4001');
      case 'STATUS':
        return ok('model=XR-200 state=READY');
      case 'LOGS':
        return ok(`a.log:${LOG.length}:1700000000000 b.log:0:1700000000001`);
      case 'LOG': {
        const [name, off, len] = r.args;
        if (name !== 'a.log') return reply(`ERR NOFILE ${r.tag} no log named ${name}`);
        const start = Number(off);
        const chunk = LOG.subarray(start, start + Math.min(Number(len), 700));
        return ok(
          `${name} ${start} ${LOG.length}${chunk.length ? ' ' + chunk.toString('base64') : ''}`,
        );
      }
      default:
        return reply(`ERR UNKNOWN ${r.tag} unknown command ${r.verb}`);
    }
  };
  return seen;
}

const adapters: SerialAdapter[] = [];
function make(fake: FakeSerialTransport, o: Partial<SerialAdapterOptions> = {}): SerialAdapter {
  const a = new SerialAdapter({ transport: fake, commandTimeoutMs: 60, retries: 0, ...o });
  adapters.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.close()));
});

async function failure(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AdapterError);
    return err as AdapterError;
  }
  throw new Error('expected a rejection');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('SerialAdapter against a fake line', () => {
  it('keeps nothing per command on a long-lived signal it is given', async () => {
    const fake = new FakeSerialTransport();
    controller(fake);
    const a = make(fake, { counters: [{ name: 'exposures_total' }] });
    const app = new AbortController();
    for (let i = 0; i < 300; i++) await a.readSnapshot(app.signal);
    expect(heldBy(app.signal)).toBe(0);
  });

  it('reads a snapshot: counters with the printed resolution, active codes and the raise count', async () => {
    const fake = new FakeSerialTransport();
    const seen = controller(fake);
    const a = make(fake, {
      counters: [
        { name: 'exposures_total', unit: 'count' },
        { name: 'detector_temp', unit: 'degC' },
        { name: 'door' },
      ],
    });
    const s = await a.readSnapshot();
    expect(s.counters).toEqual([
      { name: 'exposures_total', raw: 1234, value: 1234, unit: 'count', scale: 1, offset: 0 },
      { name: 'detector_temp', raw: -35, value: -3.5, unit: 'degC', scale: 0.1, offset: 0 },
    ]);
    expect(s.missing).toEqual(['door']);
    expect(s.codes).toEqual([2003, 4001]);
    expect(s.raisesTotal).toBe(3);
    expect(seen.map((r) => r.verb)).toEqual(['COUNTERS', 'ERRORS']);
    expect(seen[0]!.tag).not.toBe(seen[1]!.tag);
    expect(a.health()).toMatchObject({ connected: true, readsOk: 2, readsFailed: 0, commands: 2 });
  });

  it('times out with ADAPTER_TIMEOUT, drops the late reply, and answers the next command right', async () => {
    const fake = new FakeSerialTransport();
    let late: (() => void) | undefined;
    controller(fake, (r, reply) => {
      if (r.verb !== 'ERRORS' || late) return false;
      late = () => reply(`OK ERRORS ${r.tag} raises=9 active=1001`);
      return true;
    });
    const a = make(fake);
    const err = await failure(a.readActiveErrors());
    expect(err.code).toBe('ADAPTER_TIMEOUT');
    late!(); // the reply to the timed-out command arrives now
    expect(await a.readActiveErrors()).toEqual({ codes: [2003, 4001], raisesTotal: 3 });
    expect(a.health()).toMatchObject({
      timeouts: 1,
      readsFailed: 1,
      staleReplies: 1,
      lastErrorCode: 'ADAPTER_TIMEOUT',
    });
  });

  it('a late reply arriving while the next command waits is not taken for its answer', async () => {
    const fake = new FakeSerialTransport();
    let first = true;
    controller(fake, (r, reply) => {
      if (!first) return false;
      first = false;
      setTimeout(() => reply(`OK ERRORS ${r.tag} raises=9 active=1001`), 80); // after the 60 ms timeout
      return true;
    });
    const a = make(fake, { commandTimeoutMs: 60 });
    expect((await failure(a.readActiveErrors())).code).toBe('ADAPTER_TIMEOUT');
    // The next command's reply is held back until after the stale one.
    controller(fake, (r, reply) => {
      setTimeout(() => reply(`OK ERRORS ${r.tag} raises=3 active=2003`), 40);
      return true;
    });
    expect(await a.readActiveErrors()).toEqual({ codes: [2003], raisesTotal: 3 });
    expect(a.health().staleReplies).toBe(1);
  });

  it('retries a lost reply once by default', async () => {
    const fake = new FakeSerialTransport();
    let dropped = 0;
    controller(fake, () => dropped++ === 0);
    const a = make(fake, { retries: 1 });
    await a.ping();
    expect(a.health()).toMatchObject({ readsOk: 1, readsFailed: 1, timeouts: 1, commands: 2 });
  });

  it('fails at once on a reply with a bad checksum (SERIAL_BAD_CHECKSUM)', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, (r) => {
      fake.emitData(`OK ${r.verb} ${r.tag}*00\r\n`);
      return true;
    });
    const a = make(fake, { commandTimeoutMs: 5000 });
    const t0 = Date.now();
    expect((await failure(a.ping())).code).toBe('SERIAL_BAD_CHECKSUM');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(a.health().checksumErrors).toBe(1);
  });

  it('reports garbage instead of a reply as SERIAL_GARBAGE', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, () => {
      fake.emitData(Buffer.from([0x93, 0x00, 0xfe, 0x41, 0x0d, 0x0a]));
      return true;
    });
    const a = make(fake);
    expect((await failure(a.ping())).code).toBe('SERIAL_GARBAGE');
    expect(a.health().garbageLines).toBe(1);
  });

  it('skips noise in front of a reply and succeeds (resync)', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, (r) => {
      fake.emitData(
        Buffer.concat([Buffer.from([0xff, 0x13, 0x37]), Buffer.from(frame(`OK PING ${r.tag}`))]),
      );
      return true;
    });
    const a = make(fake);
    await a.ping();
    expect(a.health()).toMatchObject({ readsOk: 1, garbageLines: 1 });
  });

  it('reports a reply cut short as SERIAL_TRUNCATED, and the next reply is clean', async () => {
    const fake = new FakeSerialTransport();
    let cut = true;
    controller(fake, (r) => {
      if (!cut) return false;
      cut = false;
      fake.emitData(`OK COUNTERS ${r.tag} exposures_to`);
      return true;
    });
    const a = make(fake);
    expect((await failure(a.readSnapshot())).code).toBe('SERIAL_TRUNCATED');
    expect((await a.readSnapshot()).counters).toHaveLength(3);
    expect(a.health().truncatedReplies).toBe(1);
  });

  it('turns ERR replies into SerialDeviceError; ERR CHK is a retriable checksum failure', async () => {
    const fake = new FakeSerialTransport();
    let chk = 0;
    controller(fake, (r, reply) => {
      if (r.verb !== 'PING' || chk++ > 0) return false;
      reply('ERR CHK checksum 00 is wrong, expected 10');
      return true;
    });
    const a = make(fake, { retries: 1 });
    const err = await failure(a.readLog('nope.log'));
    expect(err).toBeInstanceOf(SerialDeviceError);
    expect(err).toMatchObject({ code: 'SERIAL_DEVICE_ERROR', deviceCode: 'NOFILE' });
    await a.ping(); // first attempt: ERR CHK; retried
    expect(a.health().checksumErrors).toBe(1);
    expect((await failure(a.request('FROB'))).code).toBe('SERIAL_DEVICE_ERROR');
  });

  it('a reply with our tag but another verb is ADAPTER_BAD_REPLY', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, (r, reply) => {
      reply(`OK STATUS ${r.tag} x=1`);
      return true;
    });
    expect((await failure(make(fake).ping())).code).toBe('ADAPTER_BAD_REPLY');
  });

  it('a disconnect fails the command in flight; the next call reopens the line', async () => {
    const fake = new FakeSerialTransport();
    let hang = true;
    controller(fake, () => {
      if (!hang) return false;
      hang = false;
      setTimeout(() => fake.disconnect(), 5);
      return true;
    });
    const a = make(fake, { commandTimeoutMs: 2000 });
    expect((await failure(a.ping())).code).toBe('ADAPTER_DISCONNECTED');
    expect(a.health().connected).toBe(false);
    await a.ping();
    expect(a.health()).toMatchObject({ connected: true, reconnects: 1 });
    expect(fake.opens).toBe(2);
  });

  it('a port that will not open is ADAPTER_CONNECT_FAILED, and a later call succeeds', async () => {
    const fake = new FakeSerialTransport();
    controller(fake);
    fake.failOpens(1);
    const a = make(fake);
    expect((await failure(a.connect())).code).toBe('ADAPTER_CONNECT_FAILED');
    await a.ping();
    expect(a.health().readsFailed).toBe(1);
  });

  it('a failed write is a disconnect', async () => {
    const fake = new FakeSerialTransport();
    controller(fake);
    const a = make(fake);
    await a.connect();
    fake.failWrites(1);
    expect((await failure(a.ping())).code).toBe('ADAPTER_DISCONNECTED');
    await a.ping();
  });

  it('delivers unsolicited events at once, also while a command waits, and survives a throwing listener', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, (r, reply) => {
      fake.emitData(frame(`!EVT ERR 2003 RAISED ${Date.now()}`));
      fake.emitData(frame('!EVT SOMETHING NEW'));
      setTimeout(() => reply(`OK PING ${r.tag}`), 10);
      return true;
    });
    const a = make(fake);
    const events: DeviceEvent[] = [];
    a.onEvent(() => {
      throw new Error('listener bug');
    });
    const off = a.onEvent((e) => events.push(e));
    await a.ping();
    fake.emitData(frame('!EVT BOOT'));
    fake.emitData(frame(`!EVT ERR 2003 CLEARED ${Date.now()}`));
    expect(events.map((e) => (e.type === 'error' ? `${e.code} ${e.state}` : e.type))).toEqual([
      '2003 raised',
      'reboot',
      '2003 cleared',
    ]);
    off();
    fake.emitData(frame('!EVT BOOT'));
    expect(events).toHaveLength(3);
    expect(a.health()).toMatchObject({ events: 4, listenerErrors: 4, readsOk: 1 });
  });

  it('sends one command at a time', async () => {
    const fake = new FakeSerialTransport();
    const inFlight: number[] = [];
    let open = 0;
    controller(fake, (r, reply) => {
      open++;
      inFlight.push(open);
      setTimeout(() => {
        open--;
        reply(`OK ${r.verb} ${r.tag}`);
      }, 5);
      return true;
    });
    const a = make(fake);
    await Promise.all([a.ping(), a.ping(), a.request('STATUS'), a.ping()]);
    expect(inFlight).toEqual([1, 1, 1, 1]);
  });

  it('cancellation is not failure: an aborted call rejects ADAPTER_CANCELLED and is not counted', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, () => true); // never answers
    const a = make(fake, { commandTimeoutMs: 5000 });
    const ctl = new AbortController();
    const p = a.ping(ctl.signal);
    await sleep(10);
    ctl.abort();
    const err = await failure(p);
    expect(err).toMatchObject({ code: 'ADAPTER_CANCELLED', canceled: true });
    expect(a.health()).toMatchObject({ readsFailed: 0, timeouts: 0 });
  });

  it('a poller timeout (abort with an ADAPTER_TIMEOUT reason) counts as a timeout', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, () => true);
    const a = make(fake, { commandTimeoutMs: 5000 });
    const ctl = new AbortController();
    const p = a.readSnapshot(ctl.signal);
    await sleep(10);
    ctl.abort(new AdapterError('ADAPTER_TIMEOUT', 'poll did not complete'));
    expect((await failure(p)).code).toBe('ADAPTER_TIMEOUT');
    expect(a.health().timeouts).toBe(1);
  });

  it('close() cancels what is in flight and everything after', async () => {
    const fake = new FakeSerialTransport();
    controller(fake, () => true);
    const a = make(fake, { commandTimeoutMs: 5000 });
    const p = a.ping();
    await sleep(5);
    await a.close();
    expect(await failure(p)).toMatchObject({ code: 'ADAPTER_CANCELLED', canceled: true });
    expect((await failure(a.ping())).code).toBe('ADAPTER_CANCELLED');
    expect(a.health()).toMatchObject({ readsFailed: 0, connected: false });
    await a.close(); // idempotent
  });

  it('lists logs and reads one in chunks, from the start and from an offset', async () => {
    const fake = new FakeSerialTransport();
    const seen = controller(fake);
    const a = make(fake, { logChunkBytes: 1000 });
    expect(await a.capabilities.listLogs!()).toEqual([
      { name: 'a.log', bytes: 5000, modifiedMs: 1_700_000_000_000 },
      { name: 'b.log', bytes: 0, modifiedMs: 1_700_000_000_001 },
    ]);
    const all = await a.capabilities.readLog!('a.log');
    expect(Buffer.from(all).equals(LOG)).toBe(true);
    // The fake serves at most 700 bytes a reply: 8 LOG requests for 5000 bytes.
    expect(seen.filter((r) => r.verb === 'LOG')).toHaveLength(8);
    const tail = await a.capabilities.readLog!('a.log', { offset: 4321 });
    expect(Buffer.from(tail).equals(LOG.subarray(4321))).toBe(true);
    await expect(a.readLog('a.log', { offset: -1 })).rejects.toThrow(RangeError);
  });

  it('refuses bad options with ConfigError', () => {
    const fake = new FakeSerialTransport();
    expect(() => new SerialAdapter({ transport: fake, commandTimeoutMs: 0 })).toThrow(
      /commandTimeoutMs/,
    );
    expect(() => new SerialAdapter({ transport: fake, retries: -1 })).toThrow(/retries/);
    expect(
      () => new SerialAdapter({ transport: fake, counters: [{ name: 'a' }, { name: 'a' }] }),
    ).toThrow(/duplicate/);
  });
});
