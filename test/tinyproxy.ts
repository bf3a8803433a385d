import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The Debian package that provides the binary. */
export const TINYPROXY_PACKAGE = 'tinyproxy';

/** Path of the `tinyproxy` binary, or undefined when it is not installed. */
export function findTinyproxy(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, 'tinyproxy');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface TinyproxyOptions {
  /** Require `Proxy-Authorization: Basic` with these credentials. */
  basicAuth?: { user: string; password: string };
  /** Allow CONNECT only to these ports (default: any port). */
  connectPorts?: number[];
}

export interface Tinyproxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>`, without credentials. */
  readonly url: string;
  readonly logFile: string;
  log(): string;
  /** How many `CONNECT host:port` requests the log shows so far. */
  connects(host: string, port: number): number;
  close(): Promise<void>;
}

/**
 * Starts a real tinyproxy on 127.0.0.1 in the foreground (`tinyproxy -d -c conf`), with its
 * config, log and pid file in a fresh temporary directory, and resolves once its port accepts
 * connections. `close()` stops it and removes the directory.
 */
export async function startTinyproxy(options: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const bin = findTinyproxy();
  if (!bin) throw new Error(`tinyproxy is not installed (apt-get install ${TINYPROXY_PACKAGE})`);
  let lastError: unknown;
  // The free port is found by binding port 0 and releasing it: retry if another process takes it.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-tinyproxy-'));
    try {
      return await launch(bin, dir, await freePort(), options);
    } catch (err) {
      lastError = err;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw lastError;
}

async function launch(
  bin: string,
  dir: string,
  port: number,
  options: TinyproxyOptions,
): Promise<Tinyproxy> {
  const logFile = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  const lines = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 600',
    'MaxClients 50',
    'Allow 127.0.0.1',
    'LogLevel Info',
    `LogFile "${logFile}"`,
    `PidFile "${join(dir, 'tinyproxy.pid')}"`,
  ];
  if (options.basicAuth)
    lines.push(`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`);
  for (const p of options.connectPorts ?? []) lines.push(`ConnectPort ${p}`);
  writeFileSync(conf, `${lines.join('\n')}\n`);

  const child = spawn(bin, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `tinyproxy exited (${signal ?? code}) during start-up: ${stderr.trim() || readLog(logFile)}`;
  });
  child.once('error', (err) => {
    exited = `cannot run ${bin}: ${err.message}`;
  });

  const deadline = Date.now() + 5000;
  while (!(await accepts(port))) {
    if (exited !== undefined) throw new Error(exited);
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error(`tinyproxy did not accept on port ${port} within 5 s: ${readLog(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    logFile,
    log: () => readLog(logFile),
    connects: (host, p) =>
      readLog(logFile)
        .split('\n')
        .filter((l) => l.includes(`: CONNECT ${host}:${p} `)).length,
    close: async () => {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
