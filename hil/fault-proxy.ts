/**
 * A byte-level TCP proxy between an agent and a hub that injects network faults at runtime,
 * for the delivery suite (Linux `tc netem` is not available on these machines). TLS goes end
 * to end through it: it never looks inside the bytes. Loopback only.
 *
 * Faults, per direction where that makes sense (`up` = client → server, agent → hub; `down` =
 * server → client):
 *
 * - **latency + jitter**: every chunk is held `latencyMs` plus a uniform `[0, jitterMs)`; order
 *   is kept (a chunk never overtakes the one before it).
 * - **bandwidth**: at most `bytesPerSecond` leave in that direction (a token bucket of one
 *   chunk); the source socket is paused while too much waits, so memory stays bounded.
 * - **slicing**: chunks are re-cut into pieces of `slice.min`–`slice.max` bytes, each written
 *   in its own macrotask (`setImmediate`), so the receiver's parser sees every boundary.
 * - **half-open** (`halted`): the direction silently stops forwarding: bytes are discarded,
 *   nothing is reset, no FIN crosses, both sockets stay open. TCP cannot lose bytes and carry
 *   on, so a halted direction of a connection stays dead even after the fault is lifted (as when
 *   a NAT mapping dies); connections made after it is lifted work again.
 * - **drops** (`dropPerChunk`): a connection-level loss. TCP cannot drop a byte silently without
 *   breaking the stream, so "a dropped packet" is modelled as what a lasting loss looks like to
 *   the endpoints: with probability p per chunk the connection becomes a black hole in both
 *   directions (half-open both ways; no FIN, no RST). The peers find out by their own timeouts.
 * - **connection reset**: `reset()` now, or `resetPerChunk` with probability p per chunk: both
 *   sockets are destroyed with an RST (`socket.resetAndDestroy()`).
 * - **timeouts** (`accept: 'stall'`): new connections are accepted but never connected
 *   upstream and never answered, so the client's TLS or WebSocket handshake times out.
 *   `accept: 'refuse'` resets new connections at once.
 *
 * Every connection's timers are cleared when it closes; `close()` destroys everything.
 */
import {
  connect as netConnect,
  createServer,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net';

export type Direction = 'up' | 'down';

export interface DirectionFaults {
  /** Added to every chunk, ms. */
  latencyMs: number;
  /** Uniform extra delay in [0, jitterMs), ms (order is kept). */
  jitterMs: number;
  /** Bytes per second leaving in this direction; 0 = unlimited. */
  bytesPerSecond: number;
  /** Re-cut chunks into pieces of min..max bytes (inclusive), one macrotask apart; false = off. */
  slice: { min: number; max: number } | false;
  /** Half-open: forward nothing in this direction (discarded; the connection stays open). */
  halted: boolean;
}

export interface ProxyFaults {
  up: DirectionFaults;
  down: DirectionFaults;
  /** Per chunk (either direction), probability the connection becomes a black hole. */
  dropPerChunk: number;
  /** Per chunk (either direction), probability the connection is reset (RST). */
  resetPerChunk: number;
  /** What happens to new connections: forwarded, accepted and left hanging, or reset. */
  accept: 'forward' | 'stall' | 'refuse';
}

/** A partial update: only the fields given change (directions are merged field by field). */
export interface ProxyFaultsPatch {
  up?: Partial<DirectionFaults>;
  down?: Partial<DirectionFaults>;
  /** Sets both directions (applied before `up`/`down`). */
  both?: Partial<DirectionFaults>;
  dropPerChunk?: number;
  resetPerChunk?: number;
  accept?: ProxyFaults['accept'];
}

export interface FaultProxyStats {
  /** Connections accepted. */
  accepted: number;
  /** Connections open now (including stalled ones and black holes). */
  open: number;
  /** Bytes delivered in each direction. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes discarded by a halted direction or a black hole. */
  bytesDiscarded: number;
  /** Connections reset (by `reset()`, `resetPerChunk` or `accept: 'refuse'`). */
  resets: number;
  /** Connections turned into black holes by `dropPerChunk` or `blackhole()`. */
  drops: number;
  /** Connections left hanging by `accept: 'stall'`. */
  stalled: number;
  /** Highest number of bytes any one direction of a connection held at once. */
  peakQueuedBytes: number;
}

export interface FaultProxyOptions {
  target: { host?: string; port: number };
  /** Listen address (loopback). Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  faults?: ProxyFaultsPatch;
  /** Bytes one direction of a connection may hold before its source is paused. Default 256 KiB. */
  maxQueuedBytes?: number;
  /** Randomness for jitter, slicing, drops and resets (tests pass a seeded one). */
  random?: () => number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  readonly faults: Readonly<ProxyFaults>;
  readonly stats: Readonly<FaultProxyStats>;
  /** Changes faults at runtime; applies to open connections at once (see `halted`). */
  set(patch: ProxyFaultsPatch): void;
  /** Back to a clean network for new and (where possible) open connections. */
  heal(): void;
  /** Resets (RST) every open connection now; returns how many. */
  reset(): number;
  /** Turns every open connection into a black hole now; returns how many. */
  blackhole(): number;
  /** Where new connections go (e.g. a hub restarted on another port). */
  setTarget(target: { host?: string; port: number }): void;
  close(): Promise<void>;
}

export const CLEAN_DIRECTION: Readonly<DirectionFaults> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  bytesPerSecond: 0,
  slice: false,
  halted: false,
});

export function cleanFaults(): ProxyFaults {
  return {
    up: { ...CLEAN_DIRECTION },
    down: { ...CLEAN_DIRECTION },
    dropPerChunk: 0,
    resetPerChunk: 0,
    accept: 'forward',
  };
}

/** Throws a RangeError naming the field when a patch is out of range. */
export function applyPatch(faults: ProxyFaults, patch: ProxyFaultsPatch): ProxyFaults {
  const next: ProxyFaults = { ...faults, up: { ...faults.up }, down: { ...faults.down } };
  const dir = (d: DirectionFaults, p: Partial<DirectionFaults> | undefined, name: string): void => {
    if (!p) return;
    for (const k of ['latencyMs', 'jitterMs', 'bytesPerSecond'] as const) {
      const v = p[k];
      if (v === undefined) continue;
      if (!Number.isFinite(v) || v < 0)
        throw new RangeError(`${name}.${k}: must be >= 0, got ${v}`);
      d[k] = v;
    }
    if (p.slice !== undefined) {
      const s = p.slice;
      if (s !== false && !(Number.isInteger(s.min) && s.min >= 1 && s.max >= s.min))
        throw new RangeError(`${name}.slice: need integers 1 <= min <= max`);
      d.slice = s === false ? false : { min: s.min, max: s.max };
    }
    if (p.halted !== undefined) d.halted = p.halted;
  };
  dir(next.up, patch.both, 'both');
  dir(next.down, patch.both, 'both');
  dir(next.up, patch.up, 'up');
  dir(next.down, patch.down, 'down');
  for (const k of ['dropPerChunk', 'resetPerChunk'] as const) {
    const v = patch[k];
    if (v === undefined) continue;
    if (!(v >= 0 && v <= 1)) throw new RangeError(`${k}: must be a probability, got ${v}`);
    next[k] = v;
  }
  if (patch.accept !== undefined) next.accept = patch.accept;
  return next;
}

/** Starts a proxy listening on loopback that forwards to `target`. */
export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const random = o.random ?? Math.random;
  const maxQueued = o.maxQueuedBytes ?? 256 * 1024;
  let target = { host: o.target.host ?? '127.0.0.1', port: o.target.port };
  let faults = applyPatch(cleanFaults(), o.faults ?? {});
  const stats: FaultProxyStats = {
    accepted: 0,
    open: 0,
    bytesUp: 0,
    bytesDown: 0,
    bytesDiscarded: 0,
    resets: 0,
    drops: 0,
    stalled: 0,
    peakQueuedBytes: 0,
  };
  const connections = new Set<Connection>();
  const hanging = new Set<Socket>();

  const server: Server = createServer((client) => {
    stats.accepted++;
    client.on('error', () => undefined);
    if (faults.accept === 'refuse') {
      stats.resets++;
      client.resetAndDestroy();
      return;
    }
    if (faults.accept === 'stall') {
      stats.stalled++;
      hanging.add(client);
      stats.open = connections.size + hanging.size;
      client.on('data', (d: Buffer) => (stats.bytesDiscarded += d.length));
      client.on('close', () => {
        hanging.delete(client);
        stats.open = connections.size + hanging.size;
      });
      return;
    }
    const conn = new Connection(client, netConnect(target.port, target.host), {
      faults: () => faults,
      random,
      maxQueued,
      stats,
      onClosed: () => {
        connections.delete(conn);
        stats.open = connections.size + hanging.size;
      },
    });
    connections.add(conn);
    stats.open = connections.size + hanging.size;
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    host: address.address,
    port: address.port,
    get faults() {
      return faults;
    },
    stats,
    set(patch) {
      faults = applyPatch(faults, patch);
      for (const c of connections) c.faultsChanged();
    },
    heal() {
      faults = cleanFaults();
      for (const c of connections) c.faultsChanged();
    },
    reset() {
      const n = connections.size;
      for (const c of [...connections]) c.reset();
      return n;
    },
    blackhole() {
      const n = connections.size;
      for (const c of connections) c.blackhole();
      return n;
    },
    setTarget(t) {
      target = { host: t.host ?? '127.0.0.1', port: t.port };
    },
    async close() {
      for (const c of [...connections]) c.destroy();
      for (const s of hanging) s.destroy();
      hanging.clear();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** How long a side may stay open after its peer's FIN was delivered to it. */
const LINGER_MS = 5000;

interface ConnectionContext {
  faults: () => ProxyFaults;
  random: () => number;
  maxQueued: number;
  stats: FaultProxyStats;
  onClosed: () => void;
}

/** One accepted connection: two pipes (up and down) over a client and an upstream socket. */
class Connection {
  readonly #client: Socket;
  readonly #server: Socket;
  readonly #up: Pipe;
  readonly #down: Pipe;
  #linger: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    client: Socket,
    server: Socket,
    readonly ctx: ConnectionContext,
  ) {
    this.#client = client;
    this.#server = server;
    server.on('error', () => undefined);
    this.#up = new Pipe('up', client, server, this);
    this.#down = new Pipe('down', server, client, this);
    // A side going away takes the other with it, unless the path from it is dead: then the
    // other side learns nothing (no FIN, no RST) until it gives up by itself. After a FIN the
    // pipe delivers what it still holds, then ends the other side (which must close within
    // a few seconds); after an abrupt close the other side is destroyed at once.
    const gone = (from: Socket, pipe: Pipe, other: Socket) => (): void => {
      if (this.#closed) return;
      if (!from.destroyed) from.destroy();
      if (!pipe.dead && !other.destroyed) {
        if (pipe.endedGracefully) {
          this.#linger ??= setTimeout(() => this.destroy(), LINGER_MS);
        } else {
          other.destroy();
        }
      }
      if (this.#client.destroyed && this.#server.destroyed) this.#finish();
    };
    client.on('close', gone(client, this.#up, server));
    server.on('close', gone(server, this.#down, client));
  }

  /** Called for every chunk either way: may drop or reset the connection. */
  roll(): 'pass' | 'gone' {
    const f = this.ctx.faults();
    if (f.resetPerChunk > 0 && this.ctx.random() < f.resetPerChunk) {
      this.reset();
      return 'gone';
    }
    if (f.dropPerChunk > 0 && this.ctx.random() < f.dropPerChunk) {
      this.blackhole();
      return 'gone';
    }
    return 'pass';
  }

  faultsChanged(): void {
    this.#up.faultsChanged();
    this.#down.faultsChanged();
  }

  blackhole(): void {
    if (this.#closed || (this.#up.dead && this.#down.dead)) return;
    this.ctx.stats.drops++;
    this.#up.kill();
    this.#down.kill();
  }

  reset(): void {
    if (this.#closed) return;
    this.ctx.stats.resets++;
    this.#up.stop();
    this.#down.stop();
    if (!this.#client.destroyed) this.#client.resetAndDestroy();
    if (!this.#server.destroyed) {
      // resetAndDestroy needs a connected socket; one still connecting is just destroyed.
      if (this.#server.connecting) this.#server.destroy();
      else this.#server.resetAndDestroy();
    }
    this.#finish();
  }

  destroy(): void {
    this.#up.stop();
    this.#down.stop();
    this.#client.destroy();
    this.#server.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#linger) clearTimeout(this.#linger);
    this.#up.stop();
    this.#down.stop();
    this.ctx.onClosed();
  }
}

interface Piece {
  data: Buffer;
  /** Earliest time it may be written (latency, jitter, bandwidth). */
  dueMs: number;
}

/** One direction of a connection: reads `src`, delays/limits/slices, writes `dst`. */
class Pipe {
  /** True once this direction is a black hole or was halted: it never forwards again. */
  dead = false;
  readonly #queue: Piece[] = [];
  #head = 0;
  #queuedBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #lastDueMs = 0;
  #bandwidthFreeMs = 0;
  #waitingDrain = false;
  /** The source sent FIN: once the queue is delivered, the destination is ended. */
  endedGracefully = false;
  #stopped = false;

  constructor(
    readonly dir: Direction,
    readonly src: Socket,
    readonly dst: Socket,
    readonly conn: Connection,
  ) {
    src.on('data', (d: Buffer) => this.#onData(d));
    src.on('end', () => {
      this.endedGracefully = true;
      this.#pump();
    });
    dst.on('drain', () => {
      this.#waitingDrain = false;
      this.#pump();
    });
    this.faultsChanged();
  }

  get #faults(): DirectionFaults {
    return this.conn.ctx.faults()[this.dir];
  }

  faultsChanged(): void {
    if (this.#faults.halted) this.kill();
    else this.#pump();
  }

  /** Forward nothing more, ever; keep the sockets open; keep reading so nothing backs up. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.conn.ctx.stats.bytesDiscarded += this.#queuedBytes;
    this.#clearQueue();
    this.#clearTimers();
    this.src.resume();
  }

  stop(): void {
    this.#stopped = true;
    this.#clearQueue();
    this.#clearTimers();
  }

  #onData(d: Buffer): void {
    const { stats } = this.conn.ctx;
    if (this.dead || this.#stopped) {
      stats.bytesDiscarded += d.length;
      return;
    }
    if (this.conn.roll() === 'gone') {
      stats.bytesDiscarded += d.length;
      return;
    }
    const f = this.#faults;
    if (f.halted) {
      this.kill();
      stats.bytesDiscarded += d.length;
      return;
    }
    const now = Date.now();
    const pieces = f.slice === false ? [d] : cut(d, f.slice.min, f.slice.max, this.conn.ctx.random);
    const jitter = f.jitterMs > 0 ? this.conn.ctx.random() * f.jitterMs : 0;
    // Order is kept: no piece is due before the one ahead of it.
    const due = Math.max(now + f.latencyMs + jitter, this.#lastDueMs);
    this.#lastDueMs = due;
    for (const p of pieces) this.#queue.push({ data: p, dueMs: due });
    this.#queuedBytes += d.length;
    if (this.#queuedBytes > stats.peakQueuedBytes) stats.peakQueuedBytes = this.#queuedBytes;
    if (this.#queuedBytes >= this.conn.ctx.maxQueued) this.src.pause();
    this.#pump();
  }

  /** Writes every piece that is due; schedules itself for the next one. */
  #pump(): void {
    if (this.#stopped || this.dead || this.#waitingDrain || this.#immediate) return;
    const f = this.#faults;
    const now = Date.now();
    while (this.#head < this.#queue.length) {
      const p = this.#queue[this.#head]!;
      const at = Math.max(p.dueMs, f.bytesPerSecond > 0 ? this.#bandwidthFreeMs : 0);
      if (at > now) {
        this.#arm(at - now);
        return;
      }
      this.#head++;
      this.#queuedBytes -= p.data.length;
      if (f.bytesPerSecond > 0) {
        this.#bandwidthFreeMs =
          Math.max(this.#bandwidthFreeMs, now) + (p.data.length * 1000) / f.bytesPerSecond;
      }
      const { stats } = this.conn.ctx;
      if (this.dir === 'up') stats.bytesUp += p.data.length;
      else stats.bytesDown += p.data.length;
      const flowing = this.dst.destroyed ? true : this.dst.write(p.data);
      this.#compact();
      if (this.#queuedBytes < this.conn.ctx.maxQueued / 2 && this.src.isPaused()) this.src.resume();
      if (!flowing) {
        this.#waitingDrain = true;
        return;
      }
      if (f.slice !== false && this.#head < this.#queue.length) {
        // Each slice in its own macrotask, so the receiver reads it alone.
        this.#immediate = setImmediate(() => {
          this.#immediate = undefined;
          this.#pump();
        });
        return;
      }
    }
    if (this.endedGracefully && !this.dst.destroyed) this.dst.end();
  }

  #arm(ms: number): void {
    if (this.#timer) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#pump();
      },
      Math.max(1, Math.ceil(ms)),
    );
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #clearQueue(): void {
    this.#queue.length = 0;
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  #clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }
}

/** Cuts `d` into pieces of min..max bytes (the last may be shorter). */
export function cut(d: Buffer, min: number, max: number, random: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < d.length;) {
    const n = min + Math.floor(random() * (max - min + 1));
    out.push(d.subarray(i, i + n));
    i += n;
  }
  return out;
}
