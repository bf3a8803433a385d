import { afterEach, describe, expect, it } from 'vitest';
import {
  executeCommand,
  handleLine,
  lineResponder,
  MAX_LINE,
  parseCommand,
  type ControlTarget,
} from './control.js';
import { SimBadCommandError } from './errors.js';
import { startSimulator, type Simulator } from './simulator.js';
import { closeClient, controlSocket, lines, modbusClient } from './test-helpers.js';

/** A target that records the calls it gets. */
function recorder(): ControlTarget & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    calls,
    inject: (...a) => (calls.push(['inject', ...a]), true),
    clear: (...a) => (calls.push(['clear', ...a]), false),
    setExposures: (...a) => void calls.push(['setExposures', ...a]),
    setAmbient: (...a) => void calls.push(['setAmbient', ...a]),
    setDoor: (...a) => void calls.push(['setDoor', ...a]),
    setDetectorLink: (...a) => void calls.push(['setDetectorLink', ...a]),
    expose: (...a) => void calls.push(['expose', ...a]),
    activeCodes: () => [2002],
    status: () => ({ fine: true }),
  };
}

describe('parseCommand', () => {
  it('accepts the documented commands', () => {
    for (const c of [
      { cmd: 'inject', code: 2002, holdMs: 3000 },
      { cmd: 'inject', code: 2002 },
      { cmd: 'clear', code: 2002 },
      { cmd: 'set', exposures: 4294967290 },
      { cmd: 'set', ambient: -12 },
      { cmd: 'door', closed: false },
      { cmd: 'expose', kv: 80, ma: 200, ms: 100 },
      { cmd: 'expose', kv: 80, ma: 200, ms: 100, force: true },
      { cmd: 'status', id: 'abc' },
    ]) {
      expect(parseCommand(c)).toEqual(c);
    }
  });

  it('rejects malformed commands with SimBadCommandError', () => {
    for (const c of [
      null,
      [],
      'status',
      {},
      { cmd: 'format-disk' },
      { cmd: 'reboot', downMs: '1500' },
      { cmd: 'wrap', counter: 7 },
      { cmd: 'inject' },
      { cmd: 'inject', code: '2002' },
      { cmd: 'inject', code: 2002, hold: 5 },
      { cmd: 'set' },
      { cmd: 'set', exposures: 1, ambient: 2 },
      { cmd: 'door', closed: 'no' },
      { cmd: 'expose', kv: 80, ma: 200 },
      { cmd: 'toString' },
    ]) {
      expect(() => parseCommand(c), JSON.stringify(c)).toThrow(SimBadCommandError);
    }
  });
});

describe('executeCommand and handleLine', () => {
  it('dispatches to the target and echoes the id', () => {
    const t = recorder();
    expect(executeCommand(t, { cmd: 'inject', code: 2002, holdMs: 3000, id: 7 })).toEqual({
      ok: true,
      id: 7,
      cmd: 'inject',
      code: 2002,
      raised: true,
      activeCodes: [2002],
    });
    executeCommand(t, { cmd: 'set', ambient: -12 });
    executeCommand(t, { cmd: 'door', closed: false });
    executeCommand(t, { cmd: 'expose', kv: 80, ma: 200, ms: 100 });
    expect(t.calls).toEqual([
      ['inject', 2002, { holdMs: 3000 }],
      ['setAmbient', -12],
      ['setDoor', false],
      ['expose', 80, 200, 100, {}],
    ]);
  });

  it('turns every failure into an error reply', () => {
    const t = recorder();
    expect(JSON.parse(handleLine(t, '{"cmd":'))).toEqual({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND', message: 'the line is not valid JSON' },
    });
    expect(JSON.parse(handleLine(t, '{"cmd":"fly","id":"x"}'))).toMatchObject({
      ok: false,
      id: 'x',
      error: { code: 'SIM_BAD_COMMAND' },
    });
    t.clear = () => {
      throw new TypeError('target bug');
    };
    expect(JSON.parse(handleLine(t, '{"cmd":"clear","code":2002}'))).toEqual({
      ok: false,
      error: { code: 'SIM_INTERNAL', message: 'target bug' },
    });
  });

  it('splits a fragmented stream into lines and rejects over-long ones', () => {
    const replies: string[] = [];
    const feed = lineResponder(
      (line) => `echo ${line}`,
      (r) => replies.push(r),
    );
    feed('{"a"');
    feed(':1}\r\n\n  \n{"b":2}\n{"c"');
    expect(replies).toEqual(['echo {"a":1}', 'echo {"b":2}']);
    feed('x'.repeat(MAX_LINE + 10));
    feed('y'.repeat(100));
    feed('\n{"d":4}\n');
    expect(replies).toHaveLength(4);
    expect(JSON.parse(replies[2] as string)).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND' },
    });
    expect(replies[3]).toBe('echo {"d":4}');
  });
});

describe('control channel over TCP', () => {
  let sim: Simulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('injects through the socket; the code is active on the next Modbus read', async () => {
    sim = await startSimulator({ tickMs: 0, workload: { enabled: false } });
    const socket = await controlSocket(sim.controlPort as number);
    const replies = lines(socket);
    const client = await modbusClient(sim.modbusPort);
    try {
      socket.write('{"cmd":"inject","code":2002,"holdMs":3000}\n');
      expect(JSON.parse(await replies.next())).toEqual({
        ok: true,
        cmd: 'inject',
        code: 2002,
        raised: true,
        activeCodes: [2002],
      });
      expect((await client.readHoldingRegisters(100, 8)).data).toEqual([2002, 0, 0, 0, 0, 0, 0, 0]);
      expect((await client.readHoldingRegisters(16, 2)).data).toEqual([0, 1]); // error_events_total

      sim.model.step(3000); // the hold runs out in model time
      expect((await client.readHoldingRegisters(100, 1)).data).toEqual([0]);

      socket.write(
        '{"cmd":"set","exposures":4294967295}\n{"cmd":"expose","kv":80,"ma":200,"ms":100}\n',
      );
      expect(JSON.parse(await replies.next())).toMatchObject({ ok: true, cmd: 'set' });
      expect(JSON.parse(await replies.next())).toMatchObject({
        ok: true,
        status: { counters: { exposures_total: 0, last_kv: 80 } },
      });
      expect((await client.readHoldingRegisters(0, 2)).data).toEqual([0, 0]);
    } finally {
      socket.destroy();
      await closeClient(client);
    }
  });

  it('answers a malformed line with an error and keeps serving', async () => {
    sim = await startSimulator({ tickMs: 0, workload: { enabled: false } });
    const socket = await controlSocket(sim.controlPort as number);
    const replies = lines(socket);
    try {
      socket.write('this is not json\n');
      expect(JSON.parse(await replies.next())).toMatchObject({
        ok: false,
        error: { code: 'SIM_BAD_COMMAND' },
      });
      socket.write('{"cmd":"inject","code":9999}\n');
      expect(JSON.parse(await replies.next())).toMatchObject({
        ok: false,
        error: { code: 'SIM_UNKNOWN_ERROR_CODE' },
      });
      socket.write('{"cmd":"set","ambient":500}\n');
      expect(JSON.parse(await replies.next())).toMatchObject({
        ok: false,
        error: { code: 'SIM_BAD_ARGUMENT' },
      });
      socket.write('{"cmd":"door","closed":false}\n');
      expect(JSON.parse(await replies.next())).toEqual({
        ok: true,
        cmd: 'door',
        closed: false,
        activeCodes: [4001],
      });
      socket.write('{"cmd":"expose","kv":80,"ma":200,"ms":100}\n');
      expect(JSON.parse(await replies.next())).toMatchObject({
        ok: false,
        error: { code: 'SIM_EXPOSURE_INHIBITED' },
      });
    } finally {
      socket.destroy();
    }
    // A second client, and the Modbus face, still work.
    const again = await controlSocket(sim.controlPort as number);
    const more = lines(again);
    again.write('{"cmd":"status"}\n');
    expect(JSON.parse(await more.next())).toMatchObject({
      ok: true,
      status: { activeCodes: [4001] },
    });
    again.destroy();
    const client = await modbusClient(sim.modbusPort);
    expect((await client.readHoldingRegisters(100, 1)).data).toEqual([4001]);
    await closeClient(client);
  });
});
