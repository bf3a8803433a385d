/**
 * The controller's Modbus TCP face, on modbus-serial's ServerTCP.
 *
 * Answers function 3 (holding registers) and 4 (input registers) from a register reader.
 * Addresses outside the map get exception 2 (illegal data address), a count outside 1..125
 * exception 3; coils and discrete inputs do not exist on this device (exception 2); the device
 * is read-only, so writes (functions 5, 6, 15, 16) get exception 1 (illegal function). Requests
 * for another unit id go unanswered, as on a real gateway-less device.
 *
 * ServerTCP listens on `options.port || 502`, so it cannot be asked for port 0: when no port is
 * given, a free loopback port is found first (listen on 0 with node:net, note it, close) and the
 * start is retried on EADDRINUSE in case another process took it in between.
 */
import net from 'node:net';
import { ServerTCP, type FCallback, type FCallbackVal, type IServiceVector } from 'modbus-serial';
import { ModbusExceptionCodes, SimListenFailedError, SimModbusExceptionError } from './errors.js';
import type { RegisterTable } from './registers.js';

export interface ModbusTcpOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** TCP port; 0 or absent picks a free one. */
  port?: number;
  /** The unit id this device answers to. */
  unitId: number;
  /** Reads registers; throws SimModbusExceptionError to answer with a Modbus exception. */
  read: (table: RegisterTable, address: number, length: number) => number[];
  /** Extra delay before every response, ms. Default 0. */
  delayMs?: number;
}

export interface ModbusTcpFace {
  readonly host: string;
  readonly port: number;
  /** Extra delay before every response, ms; may be changed while serving. */
  delayMs: number;
  /** Socket-level errors seen (client resets and the like); they never stop the server. */
  readonly socketErrors: number;
  close(): Promise<void>;
}

const START_ATTEMPTS = 5;

/** A port that was free on `host` a moment ago. */
export async function findFreePort(host: string): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, host, resolve);
  });
  const address = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return address.port;
}

function listen(
  vector: IServiceVector,
  host: string,
  port: number,
  unitId: number,
): Promise<ServerTCP> {
  return new Promise((resolve, reject) => {
    const server = new ServerTCP(vector, { host, port, unitID: unitId });
    const onError = (err: Error | null): void => {
      server.removeAllListeners('initialized');
      server.close(() => reject(err ?? new Error('listen failed')));
    };
    server.once('serverError', onError);
    server.once('initialized', () => {
      server.off('serverError', onError);
      resolve(server);
    });
  });
}

export async function startModbusTcp(options: ModbusTcpOptions): Promise<ModbusTcpFace> {
  const host = options.host ?? '127.0.0.1';
  const timers = new Set<NodeJS.Timeout>();
  let socketErrors = 0;
  const face = { delayMs: options.delayMs ?? 0 };

  /** Computes the answer now, sends it after the configured delay. */
  function respond<T>(
    cb: (err: Error | null, value: T) => void,
    produce: () => T,
    onError: T,
  ): void {
    let err: Error | null = null;
    let value = onError;
    try {
      value = produce();
    } catch (e) {
      err = e instanceof Error ? e : new Error(String(e));
    }
    if (face.delayMs <= 0) return cb(err, value);
    const timer = setTimeout(() => {
      timers.delete(timer);
      cb(err, value);
    }, face.delayMs);
    timers.add(timer);
  }
  const noSuch = (what: string) => (): never => {
    throw new SimModbusExceptionError(
      ModbusExceptionCodes.ILLEGAL_DATA_ADDRESS,
      `this device has no ${what}`,
    );
  };
  const readOnly = (): never => {
    throw new SimModbusExceptionError(
      ModbusExceptionCodes.ILLEGAL_FUNCTION,
      'this device is read-only',
    );
  };
  const one = (table: RegisterTable, addr: number): number =>
    options.read(table, addr, 1)[0] as number;

  // Callback forms throughout (the server picks the form by arity), so every answer can be
  // delayed. On an error the multi-register forms pass [] rather than undefined: modbus-serial
  // indexes the value array even when handed an error.
  const vector: IServiceVector = {
    getHoldingRegister: (addr: number, _unit: number, cb: FCallbackVal<number>) =>
      respond(cb, () => one('holding', addr), 0),
    getMultipleHoldingRegisters: (
      addr: number,
      length: number,
      _unit: number,
      cb: FCallbackVal<number[]>,
    ) => respond(cb, () => options.read('holding', addr, length), []),
    getInputRegister: (addr: number, _unit: number, cb: FCallbackVal<number>) =>
      respond(cb, () => one('input', addr), 0),
    getMultipleInputRegisters: (
      addr: number,
      length: number,
      _unit: number,
      cb: FCallbackVal<number[]>,
    ) => respond(cb, () => options.read('input', addr, length), []),
    getCoil: (_addr: number, _unit: number, cb: FCallbackVal<boolean>) =>
      respond(cb, noSuch('coils'), false),
    getDiscreteInput: (_addr: number, _unit: number, cb: FCallbackVal<boolean>) =>
      respond(cb, noSuch('discrete inputs'), false),
    setCoil: (_addr: number, _value: boolean, _unit: number, cb: FCallback) =>
      respond(cb, readOnly, undefined),
    setRegister: (_addr: number, _value: number, _unit: number, cb: FCallback) =>
      respond(cb, readOnly, undefined),
    setRegisterArray: (_addr: number, _value: number[], _unit: number, cb: FCallback) =>
      respond(cb, readOnly, undefined),
  };

  const auto = options.port === undefined || options.port === 0;
  let server: ServerTCP | undefined;
  let port = 0;
  for (let attempt = 1; server === undefined; attempt++) {
    port = auto ? await findFreePort(host) : (options.port as number);
    try {
      server = await listen(vector, host, port, options.unitId);
    } catch (err) {
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!(auto && inUse && attempt < START_ATTEMPTS)) {
        throw new SimListenFailedError(`Modbus TCP could not listen on ${host}:${port}`, {
          cause: err,
        });
      }
    }
  }
  const listening = server;
  const countSocketError = (): void => {
    socketErrors += 1;
  };
  listening.on('socketError', countSocketError);
  listening.on('error', countSocketError);

  return {
    host,
    port,
    get delayMs() {
      return face.delayMs;
    },
    set delayMs(ms: number) {
      face.delayMs = ms;
    },
    get socketErrors() {
      return socketErrors;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        listening.close(() => resolve());
      }),
  };
}
