/**
 * Request/reply over a forked bench child's IPC channel: the parent's handle (`RpcChild`) and
 * the child's side (`serveRpc`). `Ops` maps each operation name to its request and reply types.
 */
import type { ChildProcess } from 'node:child_process';

/** Every operation's request and reply; an interface with one property per operation. */
export type RpcOps<Ops> = { [K in keyof Ops]: { req: unknown; res: unknown } };

export interface RpcRequest {
  id: number;
  op: string;
  req: unknown;
}
export type RpcReply =
  { id: number; ok: true; res: unknown } | { id: number; ok: false; error: string };

/** The parent's handle on a child that answers with {@link serveRpc}. */
export class RpcChild<Ops extends RpcOps<Ops>> {
  readonly #proc: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #exited = false;
  /** Resolves with the exit code once the child has exited (pending requests are rejected). */
  readonly exited: Promise<number | null>;

  constructor(
    proc: ChildProcess,
    readonly defaultTimeoutMs: number,
  ) {
    this.#proc = proc;
    proc.on('message', (m: RpcReply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.res);
      else p.reject(new Error(m.error));
    });
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code) => {
        this.#exited = true;
        for (const p of this.#pending.values()) p.reject(new Error(`child exited (${code})`));
        this.#pending.clear();
        resolve(code);
      }),
    );
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  request<K extends keyof Ops & string>(
    op: K,
    req: Ops[K]['req'],
    timeoutMs = this.defaultTimeoutMs,
  ): Promise<Ops[K]['res']> {
    if (this.#exited) return Promise.reject(new Error('child has exited'));
    const id = this.#nextId++;
    return new Promise<Ops[K]['res']>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`child request ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as Ops[K]['res']);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      const message: RpcRequest = { id, op, req };
      this.#proc.send(message);
    });
  }

  /** Disconnects (the child exits on it); kills it by its pid if it has not after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#exited) return;
    if (this.#proc.connected) this.#proc.disconnect();
    const t = setTimeout(() => this.#proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** In the child: answers every request with `handle`'s result, or its error's stack. */
export function serveRpc(handle: (op: string, req: unknown) => Promise<unknown>): void {
  process.on('message', (m: RpcRequest) => {
    handle(m.op, m.req).then(
      (res) => process.send?.({ id: m.id, ok: true, res } satisfies RpcReply),
      (err: unknown) =>
        process.send?.({
          id: m.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        } satisfies RpcReply),
    );
  });
}
