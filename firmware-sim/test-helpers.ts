/** Helpers shared by the simulator's own tests (not part of its public face). */
import net from 'node:net';
import type { Readable } from 'node:stream';
import * as modbusSerial from 'modbus-serial';

// modbus-serial is CommonJS (`module.exports = ModbusRTU`) while its typings declare an ES default
// export, so under NodeNext TypeScript sees the class one `.default` deeper than Node loads it.
const ModbusRTU = modbusSerial.default as unknown as typeof modbusSerial.default.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

/** A modbus-serial TCP client talking to unit 1 on loopback. */
export async function modbusClient(port: number, unitId = 1, timeoutMs = 2000): Promise<ModbusRTU> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(unitId);
  client.setTimeout(timeoutMs);
  return client;
}

export function closeClient(client: ModbusRTU): Promise<void> {
  return new Promise((resolve) => client.close(() => resolve()));
}

/** The Modbus exception code a request was rejected with (fails if it was not rejected). */
export async function modbusException(request: Promise<unknown>): Promise<number | undefined> {
  try {
    await request;
  } catch (err) {
    return (err as { modbusCode?: number }).modbusCode;
  }
  throw new Error('expected a Modbus exception, got a normal reply');
}

/** Reads a stream line by line: `next()` resolves with the next complete line. */
export function lines(stream: Readable): { next: (timeoutMs?: number) => Promise<string> } {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else queue.push(line);
    }
  });
  return {
    next: (timeoutMs = 5000) => {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    },
  };
}

/** Opens a TCP connection to the control channel. */
export async function controlSocket(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}
