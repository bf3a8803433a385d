/**
 * The agent's own Modbus TCP master against a scripted server on loopback: replies matched by
 * transaction id (a late reply to a read that timed out is skipped, never taken for the next
 * read's), a whole frame of another function resynchronises the stream, and the client never
 * loads modbus-serial (nor serialport and its native binding).
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ModbusTcpClient, type AdapterError } from '../src/adapters/index.js';

interface Request {
  transactionId: number;
  unitId: number;
  fc: number;
  address: number;
  count: number;
}

/** A Modbus TCP server whose reply to each request `answer` decides (undefined: none). */
async function scriptedServer(
  answer: (r: Request, i: number, socket: net.Socket) => Buffer | undefined,
): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let rx = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      rx = Buffer.concat([rx, chunk]);
      while (rx.length >= 12) {
        const r: Request = {
          transactionId: rx.readUInt16BE(0),
          unitId: rx[6]!,
          fc: rx[7]!,
          address: rx.readUInt16BE(8),
          count: rx.readUInt16BE(10),
        };
        rx = rx.subarray(12);
        const reply = answer(r, requests++, socket);
        if (reply) socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A reply of registers all holding `value`. */
function registers(r: Request, value: number, fc = r.fc): Buffer {
  const b = Buffer.alloc(9 + 2 * r.count);
  b.writeUInt16BE(r.transactionId, 0);
  b.writeUInt16BE(3 + 2 * r.count, 4);
  b[6] = r.unitId;
  b[7] = fc;
  b[8] = 2 * r.count;
  for (let i = 0; i < r.count; i++) b.writeUInt16BE(value, 9 + 2 * i);
  return b;
}

describe('ModbusTcpClient (its own MBAP master)', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  it('skips a late reply to a read that timed out: the next read gets its own values', async () => {
    const server = await scriptedServer((r, i, socket) => {
      // The first request is answered late (after the client gave up), together with the second.
      if (i === 0) {
        setTimeout(() => socket.write(registers(r, 111)), 150);
        return undefined;
      }
      return registers(r, 222);
    });
    const client = new ModbusTcpClient({
      host: '127.0.0.1',
      port: server.port,
      unitId: 1,
      timeoutMs: 100,
    });
    cleanup.push(() => client.close(), server.close);
    await client.open();
    const late = await client.read('holding', 0, 3).catch((e: unknown) => e);
    expect((late as AdapterError).code).toBe('MODBUS_TIMEOUT');
    await new Promise((r) => setTimeout(r, 100)); // the late reply arrives between reads
    expect(await client.read('holding', 0, 3)).toEqual([222, 222, 222]);
    expect(await client.read('holding', 0, 2)).toEqual([222, 222]);
    expect(server.connections()).toBe(1);
  });

  it('a whole frame of another function is ADAPTER_BAD_REPLY; the next read is on a new connection', async () => {
    const server = await scriptedServer((r, i) => registers(r, 7, i === 1 ? 4 : r.fc));
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port, unitId: 1 });
    cleanup.push(() => client.close(), server.close);
    await client.open();
    expect(await client.read('holding', 10, 1)).toEqual([7]);
    const bad = await client.read('holding', 10, 1).catch((e: unknown) => e);
    expect((bad as AdapterError).code).toBe('ADAPTER_BAD_REPLY');
    expect(client.isOpen).toBe(true); // resync: reconnects on the next read
    expect(await client.read('holding', 10, 1)).toEqual([7]);
    expect(server.connections()).toBe(2);
  });

  it('a reply split into single bytes, and two replies in one chunk, are framed right', async () => {
    const server = await scriptedServer((r, i, socket) => {
      const reply = registers(r, 1000 + i);
      if (i === 0) {
        for (let k = 0; k < reply.length; k++)
          setTimeout(() => socket.write(reply.subarray(k, k + 1)), k * 2);
        return undefined;
      }
      return reply;
    });
    const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.port, unitId: 1 });
    cleanup.push(() => client.close(), server.close);
    await client.open();
    expect(await client.read('input', 0, 4)).toEqual([1000, 1000, 1000, 1000]);
    expect(await client.read('input', 0, 1)).toEqual([1001]);
  });

  it('reads over many transaction ids without loading modbus-serial', () => {
    // In a process of its own: the test runner may have loaded modbus-serial for other tests.
    const script = `
      import net from 'node:net';
      import { createRequire } from 'node:module';
      import { ModbusTcpClient } from './src/adapters/index.ts';
      const server = net.createServer((s) => s.on('data', (q) => {
        const b = Buffer.alloc(11);
        q.copy(b, 0, 0, 4); b.writeUInt16BE(5, 4); b[6] = q[6]; b[7] = q[7]; b[8] = 2; b.writeUInt16BE(q.readUInt16BE(0), 9);
        s.write(b);
      }));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const client = new ModbusTcpClient({ host: '127.0.0.1', port: server.address().port, unitId: 1 });
      await client.open();
      let ok = 0;
      for (let i = 1; i <= 600; i++) if ((await client.read('holding', 0, 1))[0] === i) ok++;
      await client.close();
      server.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /modbus-serial|serialport/.test(k));
      console.log(JSON.stringify({ ok, loaded }));
    `;
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: number; loaded: string[] };
    expect(out).toEqual({ ok: 600, loaded: [] });
  });
});
