/**
 * The simulator's control channel: line-delimited JSON commands, one JSON reply line each.
 * Usable programmatically (`handleLine`, `executeCommand`), over stdin (cli.ts) and over a
 * loopback TCP port (`startControlServer`). Bad input of any kind — invalid JSON, an unknown
 * command, a wrong argument, an over-long line — gets an `{ok:false,error:{code,message}}` reply
 * and never stops the simulator.
 *
 *   {"cmd":"inject","code":2002,"holdMs":3000}   {"cmd":"clear","code":2002}
 *   {"cmd":"set","exposures":4294967290}         {"cmd":"set","ambient":-12}
 *   {"cmd":"door","closed":false}                {"cmd":"expose","kv":80,"ma":200,"ms":100}
 *   {"cmd":"status"}
 *
 * Model-level faults (model-faults-control.ts), when the target supports them:
 *   {"cmd":"storm","code":3003,"perSecond":300,"durationMs":2000}
 *   {"cmd":"wrap","counter":"exposures_total","before":3}
 *   {"cmd":"clock","jumpMs":-86400000}   {"cmd":"reboot","downMs":1500}
 *
 * Vendor-SDK endpoint faults (sdk-control.ts), when the simulator runs the endpoint:
 *   {"cmd":"sdk-fault","kind":"delay","ms":800,"count":1}   {"cmd":"sdk-fault","kind":"none"}
 *
 * Serial service-port faults (service-port-control.ts), when the simulator runs the port:
 *   {"cmd":"serial-fault","kind":"delay","ms":1500}   {"cmd":"serial-fault","kind":"disconnect"}
 *
 * Modbus faults on the TCP and RTU faces (modbus-faults-control.ts):
 *   {"cmd":"modbus-fault","kind":"bad-crc","face":"rtu","count":2}   {"cmd":"modbus-fault","kind":"none"}
 *
 * A command may carry an `id` (string or number), echoed in its reply.
 */
import net from 'node:net';
import { SimBadCommandError, SimError, SimListenFailedError } from './errors.js';
import {
  FAULT_COMMAND_ARGS,
  FAULT_STRING_ARGS,
  type FaultCommand,
} from './model-faults-control.js';
import {
  SDK_FAULT_COMMAND_ARGS,
  SDK_FAULT_STRING_ARGS,
  type SdkFaultCommand,
} from './sdk-control.js';
import {
  MODBUS_FAULT_COMMAND_ARGS,
  MODBUS_FAULT_STRING_ARGS,
  type ModbusFaultCommand,
} from './modbus-faults-control.js';
import {
  SERIAL_FAULT_COMMAND_ARGS,
  SERIAL_FAULT_STRING_ARGS,
  type SerialFaultCommand,
} from './service-port-control.js';

/** What the control channel drives; the simulator supplies it. */
export interface ControlTarget {
  inject(code: number, options: { holdMs?: number }): boolean;
  clear(code: number): boolean;
  setExposures(n: number): void;
  setAmbient(celsius: number): void;
  setDoor(closed: boolean): void;
  setDetectorLink(connected: boolean): void;
  expose(kv: number, ma: number, ms: number, options: { force?: boolean }): void;
  activeCodes(): number[];
  status(): unknown;
  /** Model-level fault injection (storm, wrap, clock, reboot; model-faults-control.ts). */
  fault?(command: FaultCommand): Record<string, unknown>;
  /** Vendor-SDK endpoint fault injection (sdk-control.ts). */
  sdkFault?(command: SdkFaultCommand): Record<string, unknown>;
  /** Serial service-port fault injection (service-port-control.ts). */
  serialFault?(command: SerialFaultCommand): Record<string, unknown>;
  /** Modbus TCP/RTU fault injection (modbus-faults-control.ts). */
  modbusFault?(command: ModbusFaultCommand): Record<string, unknown>;
}

export type ControlCommand =
  | { cmd: 'inject'; code: number; holdMs?: number }
  | { cmd: 'clear'; code: number }
  | { cmd: 'set'; exposures: number }
  | { cmd: 'set'; ambient: number }
  | { cmd: 'door'; closed: boolean }
  | { cmd: 'detector-link'; connected: boolean }
  | { cmd: 'expose'; kv: number; ma: number; ms: number; force?: boolean }
  | { cmd: 'status' }
  | FaultCommand
  | SdkFaultCommand
  | SerialFaultCommand
  | ModbusFaultCommand;

export type ControlReply =
  | ({ ok: true; id?: string | number } & Record<string, unknown>)
  | { ok: false; id?: string | number; error: { code: string; message: string } };

/** Longest accepted command line, in characters. */
export const MAX_LINE = 64 * 1024;

const ARGS: Record<ControlCommand['cmd'], { required: string[]; optional: string[] }> = {
  inject: { required: ['code'], optional: ['holdMs'] },
  clear: { required: ['code'], optional: [] },
  set: { required: [], optional: ['exposures', 'ambient'] },
  door: { required: ['closed'], optional: [] },
  'detector-link': { required: ['connected'], optional: [] },
  expose: { required: ['kv', 'ma', 'ms'], optional: ['force'] },
  status: { required: [], optional: [] },
  ...FAULT_COMMAND_ARGS,
  ...SDK_FAULT_COMMAND_ARGS,
  ...SERIAL_FAULT_COMMAND_ARGS,
  ...MODBUS_FAULT_COMMAND_ARGS,
};
const BOOLEAN_ARGS = new Set(['closed', 'force', 'connected']);

/** Checks the shape of a command (types and names); ranges are the model's business. */
export function parseCommand(value: unknown): ControlCommand {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SimBadCommandError('a command is a JSON object');
  }
  const obj = value as Record<string, unknown>;
  const cmd = obj.cmd;
  if (typeof cmd !== 'string' || !Object.hasOwn(ARGS, cmd)) {
    throw new SimBadCommandError(
      `unknown cmd ${JSON.stringify(cmd)}; expected one of ${Object.keys(ARGS).join(', ')}`,
    );
  }
  const spec = ARGS[cmd as ControlCommand['cmd']];
  for (const key of Object.keys(obj)) {
    if (key === 'cmd' || key === 'id') continue;
    if (!spec.required.includes(key) && !spec.optional.includes(key)) {
      throw new SimBadCommandError(`${cmd}: unexpected field ${key}`);
    }
    const want = BOOLEAN_ARGS.has(key)
      ? 'boolean'
      : FAULT_STRING_ARGS.has(key) ||
          SDK_FAULT_STRING_ARGS.has(key) ||
          SERIAL_FAULT_STRING_ARGS.has(key) ||
          MODBUS_FAULT_STRING_ARGS.has(key)
        ? 'string'
        : 'number';
    if (typeof obj[key] !== want || (want === 'number' && !Number.isFinite(obj[key]))) {
      throw new SimBadCommandError(`${cmd}: ${key} must be a ${want}`);
    }
  }
  for (const key of spec.required) {
    if (!(key in obj)) throw new SimBadCommandError(`${cmd}: missing ${key}`);
  }
  if (cmd === 'set' && 'exposures' in obj === 'ambient' in obj) {
    throw new SimBadCommandError('set: give exactly one of exposures, ambient');
  }
  return obj as ControlCommand;
}

function run(target: ControlTarget, c: ControlCommand): Record<string, unknown> {
  switch (c.cmd) {
    case 'inject': {
      const raised = target.inject(c.code, c.holdMs === undefined ? {} : { holdMs: c.holdMs });
      return { code: c.code, raised, activeCodes: target.activeCodes() };
    }
    case 'clear':
      return { code: c.code, cleared: target.clear(c.code), activeCodes: target.activeCodes() };
    case 'set':
      if ('exposures' in c) target.setExposures(c.exposures);
      else target.setAmbient(c.ambient);
      return { status: target.status() };
    case 'door':
      target.setDoor(c.closed);
      return { closed: c.closed, activeCodes: target.activeCodes() };
    case 'detector-link':
      target.setDetectorLink(c.connected);
      return { connected: c.connected, activeCodes: target.activeCodes() };
    case 'expose':
      target.expose(c.kv, c.ma, c.ms, c.force === undefined ? {} : { force: c.force });
      return { status: target.status() };
    case 'status':
      return { status: target.status() };
    case 'storm':
    case 'wrap':
    case 'clock':
    case 'reboot':
      if (target.fault === undefined)
        throw new SimBadCommandError(`${c.cmd}: this controller has no fault injection`);
      return target.fault(c);
    case 'sdk-fault':
      if (target.sdkFault === undefined)
        throw new SimBadCommandError('sdk-fault: this simulator runs no vendor-SDK endpoint');
      return target.sdkFault(c);
    case 'serial-fault':
      if (target.serialFault === undefined)
        throw new SimBadCommandError('serial-fault: this simulator runs no service port');
      return target.serialFault(c);
    case 'modbus-fault':
      if (target.modbusFault === undefined)
        throw new SimBadCommandError('modbus-fault: this controller has no Modbus fault injection');
      return target.modbusFault(c);
  }
}

function errorReply(err: unknown, id: string | number | undefined): ControlReply {
  const error =
    err instanceof SimError
      ? { code: err.code, message: err.message }
      : { code: 'SIM_INTERNAL', message: err instanceof Error ? err.message : String(err) };
  return id === undefined ? { ok: false, error } : { ok: false, id, error };
}

/** Runs one command (already parsed from JSON) and returns its reply; never throws. */
export function executeCommand(target: ControlTarget, value: unknown): ControlReply {
  const raw =
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>).id : undefined;
  const id = typeof raw === 'string' || typeof raw === 'number' ? raw : undefined;
  try {
    const command = parseCommand(value);
    const result = run(target, command);
    return { ok: true, ...(id === undefined ? {} : { id }), cmd: command.cmd, ...result };
  } catch (err) {
    return errorReply(err, id);
  }
}

/** Runs one command line and returns the reply line (without the newline); never throws. */
export function handleLine(target: ControlTarget, line: string): string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return JSON.stringify(
      errorReply(new SimBadCommandError('the line is not valid JSON', { cause: err }), undefined),
    );
  }
  return JSON.stringify(executeCommand(target, value));
}

/**
 * Splits a character stream into lines, runs each non-blank one through `handle` (normally
 * `handleLine`) and passes the answer to `reply`. Lines
 * longer than MAX_LINE are answered with an error and skipped up to their newline.
 */
export function lineResponder(
  handle: (line: string) => string,
  reply: (line: string) => void,
): (chunk: string) => void {
  const tooLong = (): string =>
    JSON.stringify(
      errorReply(new SimBadCommandError(`line longer than ${MAX_LINE} characters`), undefined),
    );
  let buffer = '';
  let skipping = false;
  return (chunk) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (skipping) skipping = false;
      else if (line.length > MAX_LINE) reply(tooLong());
      else if (line.trim() !== '') reply(handle(line));
    }
    if (buffer.length > MAX_LINE) {
      buffer = '';
      if (!skipping) reply(tooLong());
      skipping = true;
    }
  };
}

export interface ControlServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves the control channel on a TCP port (default 127.0.0.1, port 0 = any free port). */
export async function startControlServer(options: {
  target: ControlTarget;
  host?: string;
  port?: number;
}): Promise<ControlServer> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setEncoding('utf8');
    const feed = lineResponder(
      (line) => handleLine(options.target, line),
      (line) => socket.write(`${line}\n`),
    );
    socket.on('data', (chunk: string) => feed(chunk));
    socket.on('error', () => socket.destroy()); // a client reset ends that client only
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new SimListenFailedError(
          `control channel could not listen on ${host}:${options.port ?? 0}`,
          { cause: err },
        ),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
