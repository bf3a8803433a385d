import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClient, controlSocket, lines, modbusClient } from './test-helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs the CLI as `tsx firmware-sim/cli.ts`, but as node with tsx's loader rather than through
 * the `tsx` wrapper binary: the wrapper runs the script in a grandchild, which a SIGKILL of the
 * wrapper (the clean-up after a failed test) would leave running.
 */
function startCli(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'firmware-sim/cli.ts', ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

describe('firmware-sim CLI', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  it('prints a ready line, serves Modbus and control, takes stdin commands and exits 0 on SIGTERM', async () => {
    const proc = startCli(['--seed', '42', '--time-scale', '10', '--no-workload']);
    child = proc;
    const out = lines(proc.stdout as NonNullable<ChildProcess['stdout']>);
    const ready = JSON.parse(await out.next(15_000)) as {
      ready: boolean;
      modbusPort: number;
      controlPort: number;
    };
    expect(ready).toMatchObject({ ready: true, unitId: 1 });

    proc.stdin?.write('{"cmd":"set","exposures":4294967294}\n');
    expect(JSON.parse(await out.next())).toMatchObject({ ok: true, cmd: 'set' });
    proc.stdin?.write('oops\n');
    expect(JSON.parse(await out.next())).toMatchObject({
      ok: false,
      error: { code: 'SIM_BAD_COMMAND' },
    });

    const socket = await controlSocket(ready.controlPort);
    const replies = lines(socket);
    socket.write('{"cmd":"inject","code":6001}\n');
    expect(JSON.parse(await replies.next())).toMatchObject({ ok: true, activeCodes: [6001] });
    socket.destroy();

    const client = await modbusClient(ready.modbusPort);
    try {
      expect((await client.readHoldingRegisters(0, 2)).data).toEqual([0xffff, 0xfffe]);
      expect((await client.readHoldingRegisters(100, 2)).data).toEqual([6001, 0]);
    } finally {
      await closeClient(client);
    }

    proc.kill('SIGTERM');
    const [code, signal] = (await once(proc, 'exit')) as [number | null, string | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it('prints help and rejects bad arguments with exit 2', async () => {
    const help = startCli(['--help']);
    child = help;
    const helpOut = lines(help.stdout as NonNullable<ChildProcess['stdout']>);
    expect(await helpOut.next(15_000)).toMatch(/^outpost-sim: a simulated XR-200/);
    expect((await once(help, 'exit'))[0]).toBe(0);

    const bad = startCli(['--modbus-port', 'abc']);
    child = bad;
    let stderr = '';
    bad.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect((await once(bad, 'exit'))[0]).toBe(2);
    expect(stderr).toContain('--modbus-port needs a number');
  });
});
