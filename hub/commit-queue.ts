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
  /** After the commit: the outcome of each of `items`, in order. */
  committed(items: readonly CommitItem[], results: readonly StoreResult[]): void;
  /** The transaction failed: nothing of `items` is stored. */
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

/**
 * Group commit for the hub: data frames from every session that arrive in the same turn of the
 * event loop are stored in one SQLite transaction (one fsync with synchronous=FULL), and only
 * then acknowledged. The ack therefore always follows a durable commit, and a burst of frames
 * costs one fsync, not one per frame.
 */
export class CommitQueue {
  readonly #store: HubStore;
  readonly #maxBatch: number;
  readonly #onCommitted: CommitQueueOptions['onCommitted'];
  #items: CommitItem[] = [];
  #scheduled = false;
  #commits = 0;
  #committedItems = 0;

  constructor(store: HubStore, options: CommitQueueOptions = {}) {
    this.#store = store;
    this.#maxBatch = options.maxBatch ?? 1024;
    this.#onCommitted = options.onCommitted;
  }

  /** Transactions committed and items stored by them so far. */
  get stats(): { commits: number; items: number } {
    return { commits: this.#commits, items: this.#committedItems };
  }

  push(item: CommitItem): void {
    this.#items.push(item);
    if (this.#items.length >= this.#maxBatch) {
      this.flush();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }

  /** Commits everything pending now. */
  flush(): void {
    const items = this.#items;
    if (items.length === 0) return;
    this.#items = [];
    const byOwner = new Map<CommitOwner, CommitItem[]>();
    for (const item of items) {
      const list = byOwner.get(item.owner);
      if (list) list.push(item);
      else byOwner.set(item.owner, [item]);
    }
    const streams = [...byOwner].map(([owner, own]) => owner.project(own));
    let results: StoreResult[];
    try {
      results = this.#store.storeBatch(items, streams);
    } catch (err) {
      for (const [owner, own] of byOwner) owner.failed(own, err);
      return;
    }
    this.#commits++;
    this.#committedItems += items.length;
    const resultOf = new Map<CommitItem, StoreResult>();
    items.forEach((item, i) => resultOf.set(item, results[i]!));
    if (this.#onCommitted) for (const s of streams) this.#onCommitted(s.deviceId, s.acked);
    for (const [owner, own] of byOwner) {
      owner.committed(
        own,
        own.map((i) => resultOf.get(i)!),
      );
    }
  }
}

/** The frames a device may send that are stored and acknowledged. */
export type DataFrame = Extract<Frame, { type: 'telemetry' | 'alarm' | 'gap' | 'commandResult' }>;
