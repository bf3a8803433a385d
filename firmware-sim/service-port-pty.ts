/**
 * A pseudo-terminal pair made by socat, standing in for the serial cable between the controller
 * and the agent:
 *
 *   socat -d -d pty,raw,echo=0,link=<dir>/sim pty,raw,echo=0,link=<dir>/agent
 *
 * The controller opens `<dir>/sim`, the agent (or a terminal program) `<dir>/agent`. Killing
 * socat is pulling the cable: the far end's port reports a hang-up. Needs the Debian package
 * `socat`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SimListenFailedError } from './errors.js';

export interface PtyPair {
  readonly simPath: string;
  readonly agentPath: string;
  /** socat's process id. */
  readonly pid: number | undefined;
  /** Ends socat (SIGTERM, then SIGKILL after 2 s) and removes the links. Idempotent. */
  close(): Promise<void>;
}

/** Starts socat and resolves once both links exist and socat is relaying. */
export async function openPtyPair(
  dir: string,
  options: { socat?: string; timeoutMs?: number } = {},
): Promise<PtyPair> {
  const simPath = join(dir, 'sim');
  const agentPath = join(dir, 'agent');
  // A link left by an earlier pair would make the wait below succeed too early.
  await Promise.all([rm(simPath, { force: true }), rm(agentPath, { force: true })]);
  const child = spawn(
    options.socat ?? 'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${simPath}`, `pty,raw,echo=0,link=${agentPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (stderr.length < 8192) stderr += s;
  });
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string, cause?: unknown): void => {
        clearInterval(timer);
        reject(new SimListenFailedError(`service port: ${why}`, { cause }));
      };
      child.once('error', (err: NodeJS.ErrnoException) =>
        fail(
          err.code === 'ENOENT'
            ? 'socat is not installed (Debian package "socat")'
            : `cannot run socat: ${err.message}`,
          err,
        ),
      );
      child.once('exit', (code, signal) =>
        fail(`socat exited (${signal ?? code}) before the PTY pair was ready: ${stderr.trim()}`),
      );
      const deadline = Date.now() + timeoutMs;
      const timer = setInterval(() => {
        if (
          /starting data transfer loop/.test(stderr) &&
          existsSync(simPath) &&
          existsSync(agentPath)
        ) {
          clearInterval(timer);
          resolve();
        } else if (Date.now() > deadline) {
          fail(`socat did not set up the PTY pair within ${timeoutMs} ms: ${stderr.trim()}`);
        }
      }, 5);
    });
  } catch (err) {
    await stop(child, exited);
    throw err;
  }
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  child.on('error', () => undefined);
  let closing: Promise<void> | null = null;
  return {
    simPath,
    agentPath,
    pid: child.pid,
    close: () =>
      (closing ??= (async () => {
        await stop(child, exited);
        await Promise.all([rm(simPath, { force: true }), rm(agentPath, { force: true })]);
      })()),
  };
}

async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  // No pid: socat never started (ENOENT); nothing to stop.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
  let giveUp: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => (giveUp = setTimeout(r, 4000)))]);
  clearTimeout(kill);
  clearTimeout(giveUp);
}
