/**
 * The runner's side of the two child processes (agent-child.ts, hub-child.ts): fork, start,
 * SIGKILL, graceful stop, and a registry that kills every child still alive when the runner
 * finishes or dies, so no process outlives a run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { build as esbuildBuild } from 'esbuild';
import type {
  AgentChildConfig,
  FromAgentChild,
  FromHubChild,
  HubChildConfig,
  ToAgentChild,
  ToHubChild,
} from './protocol.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = {
  agent: fileURLToPath(new URL('./agent-child.ts', import.meta.url)),
  hub: fileURLToPath(new URL('./hub-child.ts', import.meta.url)),
};

const live = new Set<ChildProcess>();
let bundleDir: string | undefined;
/** Run synchronously as the runner exits, however it exits (rigs register their cleanup). */
export const atExit = new Set<() => void>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
  for (const f of atExit) f();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});
// Ctrl-C or a CI timeout: exit through 'exit' so nothing is left behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

interface Entry {
  script: string;
  execArgv: string[];
}
let entries: Promise<{ agent: Entry; hub: Entry }> | undefined;

/**
 * How to start the children. The suite starts the agent dozens of times (hundreds in a soak),
 * and loading the TypeScript sources through tsx costs about 2 s of CPU per start; so both
 * children are bundled once per run with esbuild (which tsx itself uses), packages left
 * external and resolved through a `node_modules` link to the repository's. Without esbuild
 * the children run through tsx.
 */
export function childEntries(): Promise<{ agent: Entry; hub: Entry }> {
  entries ??= (async () => {
    const viaTsx = {
      agent: { script: SOURCES.agent, execArgv: ['--import', 'tsx'] },
      hub: { script: SOURCES.hub, execArgv: ['--import', 'tsx'] },
    };
    let build: typeof esbuildBuild;
    try {
      ({ build } = await import('esbuild'));
    } catch {
      return viaTsx;
    }
    bundleDir = mkdtempSync(join(tmpdir(), 'outpost-delivery-bundle-'));
    symlinkSync(join(REPO, 'node_modules'), join(bundleDir, 'node_modules'), 'dir');
    const outdir = bundleDir;
    await build({
      entryPoints: SOURCES,
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'error',
    });
    return {
      agent: { script: join(outdir, 'agent.mjs'), execArgv: [] },
      hub: { script: join(outdir, 'hub.mjs'), execArgv: [] },
    };
  })();
  return entries;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A forked child speaking `From`/`To` messages. */
class Child<To extends { t: string }, From extends { t: string }> {
  readonly stderr: string[] = [];
  readonly exited: Promise<Exit>;
  readonly #child: ChildProcess;
  readonly #listeners = new Set<(m: From) => void>();

  constructor(entry: Entry, name: string) {
    this.#child = fork(entry.script, [], {
      cwd: REPO,
      execArgv: entry.execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    live.add(this.#child);
    this.#child.stdout?.resume();
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (d: string) => {
      for (const line of d.split('\n'))
        if (line.trim() !== '') this.stderr.push(`${name}: ${line}`);
      if (this.stderr.length > 500) this.stderr.splice(0, this.stderr.length - 500);
    });
    this.#child.on('message', (m: From) => {
      for (const l of this.#listeners) l(m);
    });
    this.#child.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      this.#child.once('exit', (code, signal) => {
        live.delete(this.#child);
        resolve({ code, signal });
      }),
    );
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  send(m: To): void {
    if (this.#child.connected) this.#child.send(m);
  }

  on(l: (m: From) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** The first message matching `pick`, or a rejection when the child exits or time runs out. */
  async expect<T>(pick: (m: From) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    let off = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<T>((resolve, reject) => {
          off = this.on((m) => {
            try {
              const v = pick(m);
              if (v !== undefined) resolve(v);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        }),
        this.exited.then((e): never => {
          throw new Error(
            `${what}: the process exited (code ${e.code}, signal ${e.signal}): ${this.stderr.slice(-5).join(' | ')}`,
          );
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      off();
      if (timer) clearTimeout(timer);
    }
  }

  /** SIGKILL; resolves when it is gone. */
  async kill(): Promise<Exit> {
    if (this.alive) this.#child.kill('SIGKILL');
    return this.exited;
  }
}

export class AgentChild extends Child<ToAgentChild, FromAgentChild> {
  tunnelState = 'idle';
  tunnelOpens = 0;
  readonly uncaught: Array<Extract<FromAgentChild, { t: 'uncaught' }>> = [];
  stats: Extract<FromAgentChild, { t: 'stats' }> | undefined;

  private constructor(entry: Entry) {
    super(entry, 'agent');
    this.on((m) => {
      if (m.t === 'tunnel') {
        this.tunnelState = m.state;
        if (m.state === 'open') this.tunnelOpens++;
      } else if (m.t === 'uncaught') this.uncaught.push(m);
      else if (m.t === 'stats') this.stats = m;
    });
  }

  /**
   * Forks and starts an agent. With `mayDie`, an agent that kills itself while starting (a
   * fault armed for an early fsync) is returned dead rather than failing the start.
   */
  static async start(
    config: AgentChildConfig,
    o: { timeoutMs?: number; mayDie?: boolean } = {},
  ): Promise<AgentChild> {
    const timeoutMs = o.timeoutMs ?? 20_000;
    const a = new AgentChild((await childEntries()).agent);
    try {
      a.send({ t: 'start', config });
      await a.expect(
        (m) => {
          if (m.t === 'start-failed') throw new Error(`agent did not start: ${m.message}`);
          return m.t === 'started' ? m : undefined;
        },
        timeoutMs,
        'agent start',
      );
    } catch (err) {
      const exit = await a.kill();
      if (o.mayDie && exit.signal === 'SIGKILL') return a;
      throw err;
    }
    return a;
  }

  /** Waits until the tunnel has opened more than `opensBefore` times and is open now. */
  async reopened(opensBefore: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.alive) {
      if (this.tunnelOpens > opensBefore && this.tunnelState === 'open') return true;
      await sleep(20);
    }
    return false;
  }

  /**
   * Waits until the spool holds at most `records` (delivery is keeping up again); false after
   * `timeoutMs`. Judged on the stats the agent reports every 200 ms.
   */
  async queueAtMost(records: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    await sleep(250); // a fresh report, not one from before the fault ended
    while (Date.now() < deadline && this.alive) {
      if (this.stats && this.stats.queued <= records) return true;
      await sleep(50);
    }
    return false;
  }

  /** Stops producing, drains (up to `drainTimeoutMs`) and exits; SIGKILL if it hangs. */
  async stop(
    drainTimeoutMs: number,
  ): Promise<{ drained: boolean; queued: number; error?: string } | undefined> {
    if (!this.alive) return undefined;
    this.send({ t: 'stop', drainTimeoutMs });
    try {
      const r = await this.expect(
        (m) => (m.t === 'stopped' ? m : undefined),
        drainTimeoutMs + 10_000,
        'agent stop',
      );
      await Promise.race([this.exited, sleep(3000)]);
      return { drained: r.drained, queued: r.queued, ...(r.error ? { error: r.error } : {}) };
    } catch {
      return undefined;
    } finally {
      await this.kill();
    }
  }
}

export class HubChild extends Child<ToHubChild, FromHubChild> {
  port = 0;
  identityKey = '';

  private constructor(entry: Entry) {
    super(entry, 'hub');
  }

  static async start(config: HubChildConfig, timeoutMs = 20_000): Promise<HubChild> {
    const h = new HubChild((await childEntries()).hub);
    try {
      h.send({ t: 'start', config });
      const m = await h.expect(
        (m) => {
          if (m.t === 'start-failed') throw new Error(`hub did not start: ${m.message}`);
          return m.t === 'started' ? m : undefined;
        },
        timeoutMs,
        'hub start',
      );
      h.port = m.port;
      h.identityKey = m.identityKey;
    } catch (err) {
      await h.kill();
      throw err;
    }
    return h;
  }

  /** Graceful: the hub closes its store; SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.alive) return;
    this.send({ t: 'stop' });
    await Promise.race([this.exited, sleep(timeoutMs)]);
    await this.kill();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
