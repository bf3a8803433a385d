import { describe, expect, it } from 'vitest';
import { AdapterError } from './errors.js';
import { getEventListeners } from 'node:events';
import { foreignAbortListeners, linkSignals, raceAbort, raceSignals, waitingOn } from './abort.js';
import { heldBy } from './test-signals.js';

describe('linkSignals', () => {
  it('aborts with the reason of whichever source aborts first', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, undefined, b.signal);
    expect(linked.signal.aborted).toBe(false);
    const reason = new AdapterError('ADAPTER_TIMEOUT', 'late');
    b.abort(reason);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe(reason);
    a.abort(new Error('second'));
    expect(linked.signal.reason).toBe(reason);
  });

  it('is aborted at once when a source already is', () => {
    const a = new AbortController();
    a.abort('gone');
    const b = new AbortController();
    const linked = linkSignals(b.signal, a.signal);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('gone');
    expect(heldBy(b.signal)).toBe(0);
  });

  it('leaves nothing on a long-lived source after any number of link/release cycles', () => {
    const closing = new AbortController();
    for (let i = 0; i < 5000; i++) {
      const call = new AbortController();
      const linked = linkSignals(call.signal, closing.signal);
      if (i % 2 === 0) call.abort(); // some calls are aborted, most complete
      linked.release();
      linked.release();
    }
    expect(heldBy(closing.signal)).toBe(0);
    // Still live: a link made now follows it.
    const linked = linkSignals(closing.signal);
    closing.abort('closed');
    expect(linked.signal.reason).toBe('closed');
  });
});

describe('raceSignals', () => {
  it('follows the work, rejects with the reason of the first signal to fire, and lets go of every signal', async () => {
    const a = new AbortController();
    const b = new AbortController();
    await expect(raceSignals(Promise.resolve(7), a.signal, undefined, b.signal)).resolves.toBe(7);
    expect(heldBy(a.signal) + heldBy(b.signal)).toBe(0);
    const pending = raceSignals(new Promise<never>(() => undefined), a.signal, b.signal);
    const reason = new AdapterError('ADAPTER_TIMEOUT', 'late');
    b.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(heldBy(a.signal)).toBe(0);
  });

  it('rejects at once when a signal already fired, as a cancellation unless the reason is an AdapterError', async () => {
    const a = new AbortController();
    a.abort('gone');
    const work = Promise.reject(new Error('ignored'));
    await expect(raceSignals(work, undefined, a.signal)).rejects.toMatchObject({
      code: 'ADAPTER_CANCELLED',
    });
  });

  it('leaves nothing on a long-lived signal after many calls', async () => {
    const closing = new AbortController();
    for (let i = 0; i < 2000; i++) {
      const call = new AbortController();
      const p = raceSignals(
        i % 2 ? Promise.resolve(i) : Promise.reject(new Error('x')),
        call.signal,
        closing.signal,
      );
      await p.catch(() => undefined);
    }
    expect(heldBy(closing.signal)).toBe(0);
  });
});

describe('one abort listener per signal', () => {
  it('serves every waiting call from a single listener, and fires each of them once', async () => {
    const shared = new AbortController();
    const other = new AbortController();
    const never = new Promise<never>(() => undefined);
    const calls = [
      raceAbort(never, shared.signal),
      raceSignals(never, other.signal, shared.signal),
      raceSignals(never, shared.signal, undefined),
    ];
    // Settled calls leave the list; the listener stays, the only one on the signal.
    for (let i = 0; i < 100; i++)
      await raceSignals(Promise.resolve(i), shared.signal, other.signal);
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(1);
    expect(foreignAbortListeners(shared.signal)).toBe(0);
    expect(waitingOn(shared.signal)).toBe(3);
    expect(waitingOn(other.signal)).toBe(1);
    const reason = new AdapterError('ADAPTER_TIMEOUT', 'late');
    shared.abort(reason);
    for (const c of calls) await expect(c).rejects.toBe(reason);
    expect(waitingOn(shared.signal)).toBe(0);
    expect(waitingOn(other.signal)).toBe(0);
  });

  it('counts listeners someone else added as foreign', () => {
    const ctl = new AbortController();
    void raceAbort(Promise.resolve(1), ctl.signal);
    ctl.signal.addEventListener('abort', () => undefined);
    expect(foreignAbortListeners(ctl.signal)).toBe(1);
  });
});
