/**
 * Shared parts of agent-footprint and alarm-latency-backlog: the agent in a child process of
 * its own (bench/agent-child.ts, bundled by esbuild and run by plain `node`, as a built agent
 * runs), per-process figures from /proc, a least-squares slope, and the bench options
 * (`--duration`, `--soak`) that bench/run.ts passes through.
 */
import { spawn, spawnSync, fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentChildConfig, AgentChildMessage, AgentChildRequest } from './agent-child.js';
import { round } from './lib.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CHILD_SOURCE = fileURLToPath(new URL('./agent-child.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Options: `npm run bench -- <name> --duration 10m`, `--soak`

export interface BenchOptions {
  /** `--duration <n>[s|m|h]`, in seconds. */
  durationS?: number;
  soak: boolean;
}

/** Option flags (and their values) taken out of the bench runner's arguments. */
export function splitBenchArgs(argv: readonly string[]): {
  names: string[];
  options: BenchOptions;
} {
  const names: string[] = [];
  const options: BenchOptions = { soak: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--soak') options.soak = true;
    else if (a === '--duration' || a.startsWith('--duration=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      options.durationS = parseDuration(v ?? '');
    } else names.push(a);
  }
  return { names, options };
}

export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(v.trim());
  if (!m) throw new RangeError(`--duration: "${v}" is not a duration (e.g. 90s, 10m, 1h)`);
  const n = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  if (!(n > 0)) throw new RangeError('--duration must be positive');
  return n;
}

/** Set by bench/run.ts before the benches run. */
export const benchOptions: BenchOptions = { soak: false };

/** The flags as typed, for the `command` of a result file. */
export function optionFlags(o: BenchOptions): string {
  return `${o.soak ? ' --soak' : ''}${o.durationS === undefined ? '' : ` --duration ${o.durationS}s`}`;
}

// ---------------------------------------------------------------------------------------------
// The agent bundle and its process

/**
 * Bundles bench/agent-child.ts into `dir` (packages stay external and resolve through a
 * `node_modules` symlink to the repository's, as they would from `dist/`). Also writes
 * `bare.mjs`, an empty Node process that stays up while its IPC channel is open.
 */
export async function buildAgentBundle(dir: string): Promise<{ agent: string; bare: string }> {
  const esbuild = (outfile: string, extra: string[]): void => {
    const r = spawnSync(
      join(REPO, 'node_modules/.bin/esbuild'),
      [
        CHILD_SOURCE,
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--target=node20',
        '--packages=external',
        '--log-level=warning',
        `--outfile=${outfile}`,
        ...extra,
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`esbuild failed: ${r.stderr || r.error?.message}`);
  };
  const agent = join(dir, 'agent-child.mjs');
  esbuild(agent, []);
  await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const bare = join(dir, 'bare.mjs');
  await writeFile(bare, "process.on('disconnect', () => process.exit(0));\n");
  return { agent, bare };
}

/** A child process speaking the agent-child protocol (or the bare one, which says nothing). */
export class AgentProcess {
  readonly #proc: ChildProcess;
  readonly #listeners = new Set<(m: AgentChildMessage) => void>();
  readonly exited: Promise<number | null>;
  #exited = false;
  stderr = '';

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    proc.on('message', (m: AgentChildMessage) => {
      for (const l of [...this.#listeners]) l(m);
    });
    proc.stderr?.on('data', (d: Buffer) => {
      if (this.stderr.length < 64 * 1024) this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code) => {
        this.#exited = true;
        resolve(code);
      }),
    );
  }

  /** Starts `script` with plain node (no tsx) and waits for its `ready` (unless `bare`). */
  static async spawn(
    script: string,
    args: string[] = [],
    bare = false,
    execArgv: string[] = [],
    env?: Record<string, string>,
  ): Promise<AgentProcess> {
    const prof = process.env.OUTPOST_BENCH_CPU_PROF;
    // OUTPOST_BENCH_CHILD_FLAGS='--trace-gc ...' (a diagnostic): extra node flags for every agent
    // child (not bare); their output goes to the bench's stdout.
    const extra = bare
      ? []
      : (process.env.OUTPOST_BENCH_CHILD_FLAGS?.split(/\s+/).filter(Boolean) ?? []);
    const proc = fork(script, args, {
      // OUTPOST_BENCH_CPU_PROF=<dir>: every agent child writes a V8 CPU profile there at exit.
      execArgv: [
        ...execArgv,
        ...extra,
        ...(prof && !bare ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
      ],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    const p = new AgentProcess(proc);
    if (!bare) await p.waitFor((m) => m.type === 'ready', 30_000);
    return p;
  }

  get pid(): number {
    return this.#proc.pid!;
  }

  on(listener: (m: AgentChildMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  send(m: AgentChildRequest): void {
    if (!this.#exited && this.#proc.connected) this.#proc.send(m);
  }

  waitFor<T extends AgentChildMessage>(
    pred: (m: AgentChildMessage) => boolean,
    timeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        off();
        reject(new Error(`agent child: no reply in ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      const off = this.on((m) => {
        if (m.type === 'error') {
          clearTimeout(t);
          off();
          reject(new Error(`agent child failed: ${m.error}`));
        } else if (pred(m)) {
          clearTimeout(t);
          off();
          resolve(m as T);
        }
      });
      void this.exited.then((code) => {
        clearTimeout(t);
        off();
        reject(new Error(`agent child exited (${code}); stderr: ${this.stderr}`));
      });
    });
  }

  async start(config: AgentChildConfig): Promise<void> {
    const started = this.waitFor((m) => m.type === 'started', 30_000);
    this.send({ op: 'start', config });
    await started;
  }

  async stats(
    timeoutMs = 10_000,
    gc = false,
    spaces = false,
  ): Promise<Extract<AgentChildMessage, { type: 'stats' }>> {
    const reply = this.waitFor<Extract<AgentChildMessage, { type: 'stats' }>>(
      (m) => m.type === 'stats',
      timeoutMs,
    );
    this.send({ op: 'stats', gc, spaces });
    return reply;
  }

  /** Stops the agent (draining up to `drainTimeoutMs`), then the process. */
  async stop(drainTimeoutMs = 0): Promise<void> {
    if (this.#exited) return;
    try {
      const stopped = this.waitFor((m) => m.type === 'stopped', drainTimeoutMs + 10_000);
      this.send({ op: 'stop', drainTimeoutMs });
      await stopped;
    } catch {
      // fall through to the kill below
    }
    await this.kill();
  }

  /** Disconnects (the child exits on its own) and kills it by its pid after `graceMs`. */
  async kill(graceMs = 3000): Promise<void> {
    if (this.#exited) return;
    if (this.#proc.connected) this.#proc.disconnect();
    const t = setTimeout(() => this.#proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------------------------------------
// /proc

const CLK_TCK =
  Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export interface ProcSample {
  /** ms since the sampler started. */
  tMs: number;
  /** utime + stime, seconds. */
  cpuS: number;
  rssKiB: number;
  /** RssAnon: the process's own memory (RssFile is mostly the node binary, shared). */
  rssAnonKiB: number;
}

/** utime + stime (s) and VmRSS (KiB) of `pid`, or undefined once it has gone. */
export async function readProc(
  pid: number,
): Promise<{ cpuS: number; rssKiB: number; rssAnonKiB: number } | undefined> {
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ]);
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const kib = (field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
      return m ? Number(m[1]) : Number.NaN;
    };
    return { cpuS: (utime + stime) / CLK_TCK, rssKiB: kib('VmRSS'), rssAnonKiB: kib('RssAnon') };
  } catch {
    return undefined;
  }
}

/** Resident memory of a process by kind of mapping, from /proc/<pid>/smaps (KiB). */
export interface SmapsSummary {
  /** Pages of the node executable itself (file-backed code and data). */
  exeKiB: number;
  /** malloc's main arena (`[heap]`). */
  mallocHeapKiB: number;
  /** Anonymous mappings: V8's heap, malloc's other arenas, thread stacks. */
  anonKiB: number;
  /** Everything else: shared libraries, `[stack]`, other files. */
  otherKiB: number;
}

const MAPPING_LINE = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/;

/** Sums Rss: of /proc/<pid>/smaps by kind of mapping; undefined once the process is gone. */
export async function readSmaps(pid: number): Promise<SmapsSummary | undefined> {
  let text: string;
  let exe: string;
  try {
    [text, exe] = await Promise.all([
      readFile(`/proc/${pid}/smaps`, 'utf8'),
      readlink(`/proc/${pid}/exe`),
    ]);
  } catch {
    return undefined;
  }
  const out: SmapsSummary = { exeKiB: 0, mallocHeapKiB: 0, anonKiB: 0, otherKiB: 0 };
  let kind: keyof SmapsSummary = 'otherKiB';
  for (const line of text.split('\n')) {
    const m = MAPPING_LINE.exec(line);
    if (m) {
      const path = m[1]!.trim();
      kind =
        path === exe
          ? 'exeKiB'
          : path === '[heap]'
            ? 'mallocHeapKiB'
            : path === '' || path.startsWith('[anon')
              ? 'anonKiB'
              : 'otherKiB';
    } else if (line.startsWith('Rss:')) {
      out[kind] += Number(/(\d+)/.exec(line)?.[1] ?? 0);
    }
  }
  return out;
}

/** Samples /proc of each pid every `everyMs` until stopped. */
export class ProcSampler {
  readonly samples = new Map<string, ProcSample[]>();
  readonly #pids: Map<string, number>;
  readonly #t0 = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(pids: Record<string, number>, everyMs = 1000) {
    this.#pids = new Map(Object.entries(pids));
    for (const k of this.#pids.keys()) this.samples.set(k, []);
    const tick = async (): Promise<void> => {
      const tMs = Date.now() - this.#t0;
      await Promise.all(
        [...this.#pids].map(async ([k, pid]) => {
          const s = await readProc(pid);
          if (s) this.samples.get(k)!.push({ tMs, ...s });
        }),
      );
    };
    void tick();
    this.#timer = setInterval(() => void tick(), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

export function loadAvg(): number[] {
  return os.loadavg().map((l) => round(l, 2));
}

export const MIB = 2 ** 20;
export const KIB_PER_MIB = 1024;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The agent as the shipped systemd unit runs it

const UNIT_FILE = fileURLToPath(
  new URL('../deploy/systemd/outpost-agent.service', import.meta.url),
);
const CLI_SOURCE = fileURLToPath(new URL('../cli/outpost.ts', import.meta.url));

/** What the unit sets for the process: its environment and node's flags. */
export interface UnitProcessSettings {
  env: Record<string, string>;
  nodeFlags: string[];
  execStart: string;
}

/** `Environment=` and the node flags of `ExecStart=` in deploy/systemd/outpost-agent.service. */
export async function unitProcessSettings(): Promise<UnitProcessSettings> {
  return parseUnitProcessSettings(await readFile(UNIT_FILE, 'utf8'), UNIT_FILE);
}

/**
 * `Environment=` lines (each may hold several space-separated assignments, as systemd allows;
 * quoted values are not needed by our unit and not handled) and the node flags of `ExecStart=`.
 */
export function parseUnitProcessSettings(text: string, file: string): UnitProcessSettings {
  const env: Record<string, string> = {};
  let execStart = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^Environment=(.*)$/.exec(line);
    if (m) {
      for (const pair of m[1]!.split(/\s+/)) {
        const eq = pair.indexOf('=');
        if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
    }
    if (line.startsWith('ExecStart=')) execStart = line.slice('ExecStart='.length);
  }
  const words = execStart.split(/\s+/);
  // /usr/bin/node <flags...> <script> agent --config <file>
  const nodeFlags: string[] = [];
  for (const w of words.slice(1)) {
    if (!w.startsWith('--')) break;
    nodeFlags.push(w);
  }
  if (!execStart || nodeFlags.length === 0)
    throw new Error(`${file}: no ExecStart= with node flags found`);
  return { env, nodeFlags, execStart };
}

/**
 * Bundles cli/outpost.ts into `dir`/cli as dist/cli/outpost.js is built: npm packages external,
 * code splitting on (tsup's `splitting: true`), so the demo's hub and simulator stay in a chunk
 * `outpost agent` never loads. Returns the entry script. `source` and `outName` bundle another
 * checkout's CLI (a baseline run beside a change) into `dir`/`outName`.
 */
export function buildCliBundle(dir: string, source = CLI_SOURCE, outName = 'cli'): string {
  const outdir = join(dir, outName);
  const r = spawnSync(
    join(REPO, 'node_modules/.bin/esbuild'),
    [
      source,
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--packages=external',
      '--splitting',
      '--log-level=warning',
      `--outdir=${outdir}`,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`esbuild failed: ${r.stderr || r.error?.message}`);
  return join(outdir, 'outpost.js');
}

/** `node <flags> outpost.mjs agent --config <file>`: the real service command, no IPC. */
export class ServiceProcess {
  readonly #proc: ChildProcess;
  readonly exited: Promise<number | null>;
  output = '';
  /** stdout lines that start with `outpost-bench-`, and `--trace-gc`'s full-GC lines, in order. */
  readonly benchLines: string[] = [];

  constructor(
    script: string,
    configFile: string,
    nodeFlags: string[],
    env: Record<string, string>,
    /** Also appends everything the process prints to this file (e.g. all of `--trace-gc`). */
    logFile?: string,
  ) {
    this.#proc = spawn(process.execPath, [...nodeFlags, script, 'agent', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    if (log) this.#proc.on('exit', () => log.end());
    const keep = (d: Buffer): void => {
      log?.write(d);
      if (this.output.length < 64 * 1024) this.output += d.toString();
    };
    let partial = '';
    this.#proc.stdout!.on('data', (d: Buffer) => {
      keep(d);
      // Lines a bench preload prints (`outpost-bench-...`) and full GCs traced by `--trace-gc`
      // are kept whole and without a cap.
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines)
        if (line.startsWith('outpost-bench-') || line.includes(': Mark-Compact '))
          this.benchLines.push(line);
    });
    this.#proc.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.#proc.on('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.#proc.pid!;
  }

  /** SIGTERM, as systemd stops it; resolves with the exit status (SIGKILL after `graceMs`). */
  async terminate(graceMs = 15_000): Promise<number | null> {
    if (this.#proc.exitCode !== null) return this.#proc.exitCode;
    this.#proc.kill('SIGTERM');
    const t = setTimeout(() => this.#proc.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}
