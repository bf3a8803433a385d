import type { Frame } from '../src/codec/index.js';
import type { HubStore, StoreItem, StoreResult } from './store.js';

/** A data frame (or a Gap) waiting for the hub's next durable commit. */
export interface CommitItem extends StoreItem {
  /** Who to tell once it is committed (or failed). */
  readonly owner: CommitOwner;
}

/** The side of a session the commit queue talks to. */
export interface CommitOwner {
  /**
   * Before the commit: the stream's cumulative ack once `items` (this owner's part of the
   * batch) are stored. Written in the same transaction, so the ack the hub sends is durable.
   */
  project(items: readonly CommitItem[]): { deviceId: string; streamId: string; acked: number };
  /**
   * The transaction holding `items` committed, maybe not durable yet (its WAL fsync may be under
   * way): later projections count them; nothing is acknowledged before `committed`.
   */
  stored(items: readonly CommitItem[]): void;
  /** After the durable commit: the outcome of each of `items`, in order. */
  committed(items: readonly CommitItem[], results: readonly StoreResult[]): void;
  /** The transaction (or the fsync that makes it durable) failed: nothing of `items` is promised. */
  failed(items: readonly CommitItem[], error: unknown): void;
}

export interface CommitQueueOptions {
  /** A batch is committed at once when it reaches this many items. Default 1024. */
  maxBatch?: number;
  /**
   * Called after each durable commit, once per stream in it, before any ack is sent (a test
   * seam: a crash here is the "stored but not acked" case the agent must survive).
   */
  onCommitted?: (deviceId: string, ackedUpTo: number) => void;
}

/** A committed batch waiting for the fsync that makes it durable. */
interface Pending {
  byOwner: Map<CommitOwner, CommitItem[]>;
  results: Map<CommitItem, StoreResult>;
  streams: Array<{ deviceId: string; streamId: string; acked: number }>;
}

/**
 * Group commit for the hub: data frames from every session that arrive in the same turn of the
 * event loop are stored in one SQLite transaction, and only acknowledged once it is durable. On
 * a file database the transaction commits without its fsync, and the WAL is then fsynced on
 * libuv's thread pool ({@link HubStore.syncData}), one fsync at a time: while one runs, the event
 * loop decodes and commits the next batches, and the next fsync covers all of them. The ack
 * therefore always follows a durable commit, and a burst of frames costs one fsync, not one per
 * frame.
 */
export class CommitQueue {
  readonly #store: HubStore;
  readonly #maxBatch: number;
  readonly #onCommitted: CommitQueueOptions['onCommitted'];
  #items: CommitItem[] = [];
  #scheduled = false;
  #commits = 0;
  #committedItems = 0;
  #syncs = 0;
  /** Committed, not yet covered by an fsync that has started. */
  #unsynced: Pending[] = [];
  #syncing: Promise<void> | undefined;
  /** Waiting for the store's hold to end (see {@link flush}). */
  #waiting = false;
  #held = 0;
  #closed = false;

  constructor(store: HubStore, options: CommitQueueOptions = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 1024;
    this.#onCommitted = options.onCommitted;
  }

  /**
   * Transactions committed, items stored by them and WAL fsyncs that made them durable, so far;
   * and how many times pending items waited for a hold of the store.
   */
  get stats(): { commits: number; items: number; syncs: number; held: number } {
    return {
      commits: this.#commits,
      items: this.#committedItems,
      syncs: this.#syncs,
      held: this.#held,
    };
  }

  push(item: CommitItem): void {
    // Closing: not stored and not acked; its agent resends it to the next hub.
    if (this.#closed) return;
    this.#items.push(item);
    if (this.#items.length >= this.#maxBatch) {
      this.flush();
      return;
    }
    this.#schedule();
  }

  /** A flush at the end of this turn of the event loop, unless one is already due. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  /**
   * Commits what is pending now (its acks follow once it is durable), at most `maxBatch` items
   * per transaction. While the store holds data commits for a WAL restart
   * ({@link HubStore.commitsHeld}) the items wait; when the hold ends they are committed
   * `maxBatch` at a time, one transaction per turn of the event loop, so that what piled up
   * never becomes one long transaction. `force` commits everything at once, hold or not.
   */
  flush(force = false): void {
    if (this.#items.length === 0) return;
    const held = force ? undefined : this.#store.commitsHeld;
    if (held) {
      if (!this.#waiting) {
        this.#waiting = true;
        this.#held++;
        void held.then(() => {
          this.#waiting = false;
          this.flush();
        });
      }
      return;
    }
    do {
      const items = this.#items.splice(0, this.#maxBatch);
      this.#commit(items);
    } while (force && this.#items.length > 0);
    if (this.#items.length > 0) this.#schedule();
  }

  /**
   * Commits what is queued at once and takes nothing more: the hub is closing. Frames that
   * arrive later are neither stored nor acked; their agents resend them to the next hub.
   */
  close(): void {
    this.flush(true);
    this.#closed = true;
  }

  #commit(items: CommitItem[]): void {
    const byOwner = new Map<CommitOwner, CommitItem[]>();
    for (const item of items) {
      const list = byOwner.get(item.owner);
      if (list) list.push(item);
      else byOwner.set(item.owner, [item]);
    }
    const streams = [...byOwner].map(([owner, own]) => owner.project(own));
    const deferred = this.#store.defersSync;
    let results: StoreResult[];
    try {
      results = this.#store.storeBatch(items, streams, { deferSync: deferred });
    } catch (err) {
      for (const [owner, own] of byOwner) owner.failed(own, err);
      return;
    }
    this.#commits++;
    this.#committedItems += items.length;
    const resultOf = new Map<CommitItem, StoreResult>();
    items.forEach((item, i) => resultOf.set(item, results[i]!));
    const batch: Pending = { byOwner, results: resultOf, streams };
    for (const [owner, own] of byOwner) owner.stored(own);
    if (!deferred) {
      this.#deliver(batch);
      return;
    }
    this.#unsynced.push(batch);
    this.#sync();
  }

  /**
   * Resolves once everything committed so far is durable and acknowledged (or has failed).
   * For an orderly shutdown and tests.
   */
  async drain(): Promise<void> {
    while (this.#syncing) await this.#syncing;
  }

  /** Starts an fsync for the batches committed since the last one started, unless one runs. */
  #sync(): void {
    if (this.#syncing || this.#unsynced.length === 0) return;
    const batches = this.#unsynced;
    this.#unsynced = [];
    this.#syncs++;
    this.#syncing = this.#store.syncData().then(
      () => {
        for (const b of batches) this.#deliver(b);
      },
      (err: unknown) => {
        for (const b of batches) for (const [owner, own] of b.byOwner) owner.failed(own, err);
      },
    );
    void this.#syncing.finally(() => {
      this.#syncing = undefined;
      this.#sync();
    });
  }

  #deliver({ byOwner, results, streams }: Pending): void {
    if (this.#onCommitted) for (const s of streams) this.#onCommitted(s.deviceId, s.acked);
    for (const [owner, own] of byOwner) {
      owner.committed(
        own,
        own.map((i) => results.get(i)!),
      );
    }
  }
}

/** The frames a device may send that are stored and acknowledged. */
export type DataFrame = Extract<Frame, { type: 'telemetry' | 'alarm' | 'gap' | 'commandResult' }>;
