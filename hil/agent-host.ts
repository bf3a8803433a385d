/**
 * Runs the agent in a child process (agent-process.ts) and keeps what it reports: snapshots,
 * poll errors, tunnel states, stats, uncaught errors, its stderr lines and how it exited.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentStats } from '../src/index.js';
import type { AgentProcessConfig, FromAgent, ToAgent } from './agent-protocol.js';
import { HilAgentError } from './errors.js';

const SCRIPT = fileURLToPath(new URL('./agent-process.ts', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));

export type SnapshotRecord = Extract<FromAgent, { t: 'snapshot' }>;
export type PollErrorRecord = Extract<FromAgent, { t: 'poll-error' }>;
export type UncaughtRecord = Extract<FromAgent, { t: 'uncaught' }>;

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the runner had to kill it (it did not stop by itself). */
  killed: boolean;
}

export class AgentHost {
  readonly snapshots: SnapshotRecord[] = [];
  readonly pollErrors: PollErrorRecord[] = [];
  readonly tunnel: Array<{ state: string; atMs: number }> = [];
  readonly alarms: Array<{ atMs: number; code: number; state: string }> = [];
  readonly uncaught: UncaughtRecord[] = [];
  /** Every stderr line, in order (JSON log lines and anything else). */
  readonly stderr: string[] = [];
  stats: AgentStats | undefined;
  finalStats: { stats: AgentStats; drained: boolean } | undefined;
  exit: AgentExit | undefined;
  readonly #child: ChildProcess;
  readonly #exited: Promise<AgentExit>;
  #killed = false;
  #started: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #partial = '';

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.#stderr(chunk));
    child.stdout?.resume(); // the agent writes nothing there; never let the pipe fill
    child.on('message', (m: FromAgent) => this.#message(m));
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.#partial !== '') this.stderr.push(this.#partial);
        this.exit = { code, signal, killed: this.#killed };
        this.#started?.reject(
          new HilAgentError(
            `the agent process exited (code ${code}, signal ${signal}) before starting: ${this.stderr.slice(-5).join(' | ')}`,
          ),
        );
        resolve(this.exit);
      });
    });
  }

  /** Forks the agent process and starts the agent; resolves once `agent.start()` returned. */
  static async start(config: AgentProcessConfig, timeoutMs = 20_000): Promise<AgentHost> {
    const child = fork(SCRIPT, [], {
      cwd: REPO,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const host = new AgentHost(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new HilAgentError(`the agent process did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      host.#started = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      host.#send({ t: 'start', config });
    }).catch(async (err: unknown) => {
      await host.kill();
      throw err;
    });
    host.#started = undefined;
    return host;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Whether the process is still alive. */
  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The tunnel state last reported. */
  get tunnelState(): string | undefined {
    return this.tunnel.at(-1)?.state;
  }

  /** Resolves when `predicate` holds (checked as messages arrive), or false after `timeoutMs`. */
  async until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() >= deadline || !this.alive) return predicate();
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /**
   * Asks the agent to stop (flush, drain up to `drainTimeoutMs`) and waits for the process to
   * exit; kills it if it has not exited `graceMs` later.
   */
  async stop(drainTimeoutMs: number, graceMs = 10_000): Promise<AgentExit> {
    if (this.alive) this.#send({ t: 'stop', drainTimeoutMs });
    const timer = setTimeout(() => void this.kill(), drainTimeoutMs + graceMs);
    const exit = await this.#exited;
    clearTimeout(timer);
    return exit;
  }

  async kill(): Promise<AgentExit> {
    if (this.alive) {
      this.#killed = true;
      this.#child.kill('SIGKILL');
    }
    return this.#exited;
  }

  #send(message: ToAgent): void {
    if (this.#child.connected) this.#child.send(message);
  }

  #message(m: FromAgent): void {
    switch (m.t) {
      case 'started':
        this.#started?.resolve();
        break;
      case 'start-failed':
        this.#started?.reject(
          new HilAgentError(`the agent did not start: ${m.code ? `${m.code}: ` : ''}${m.message}`),
        );
        break;
      case 'tunnel':
        this.tunnel.push({ state: m.state, atMs: m.atMs });
        break;
      case 'snapshot':
        this.snapshots.push(m);
        break;
      case 'poll-error':
        this.pollErrors.push(m);
        break;
      case 'alarm':
        this.alarms.push({ atMs: m.atMs, code: m.code, state: m.state });
        break;
      case 'stats':
        this.stats = m.stats;
        break;
      case 'uncaught':
        this.uncaught.push(m);
        break;
      case 'stopped':
        this.stats = m.stats;
        this.finalStats = { stats: m.stats, drained: m.drained };
        break;
    }
  }

  #stderr(chunk: string): void {
    const text = this.#partial + chunk;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') this.stderr.push(line);
  }
}

/** A stderr line the agent's JSON logger wrote, or undefined for anything else. */
export function logLine(line: string): { level: string; msg: string; code?: string } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as { level?: unknown; msg?: unknown; code?: unknown };
    if (typeof v.level !== 'string' || typeof v.msg !== 'string') return undefined;
    return { level: v.level, msg: v.msg, ...(typeof v.code === 'string' ? { code: v.code } : {}) };
  } catch {
    return undefined;
  }
}
