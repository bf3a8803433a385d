import { describe, expect, it } from 'vitest';
import { SimBadArgumentError, SimBadCommandError } from './errors.js';
import { Prng } from './prng.js';
import { parseFault, ReplyFaults } from './service-port-faults.js';
import { frameLine } from './service-port-frame.js';

const LINE = frameLine('OK PING #3');

describe('service-port reply faults', () => {
  it('leaves replies intact with no fault queued', () => {
    const f = new ReplyFaults(new Prng(1));
    expect(f.plan(LINE)).toEqual({ delayMs: 0, bytes: Buffer.from(LINE), fault: null });
  });

  it('applies queued faults in order, each for its count', () => {
    const f = new ReplyFaults(new Prng(1));
    f.add({ kind: 'delay', ms: 700, count: 2 });
    f.add({ kind: 'no-reply' });
    expect(f.pending).toEqual([
      { kind: 'delay', ms: 700, count: 2 },
      { kind: 'no-reply', count: 1 },
    ]);
    expect(f.plan(LINE)).toMatchObject({ delayMs: 700, fault: 'delay' });
    expect(f.plan(LINE)).toMatchObject({ delayMs: 700, fault: 'delay' });
    expect(f.plan(LINE)).toEqual({ delayMs: 0, bytes: null, fault: 'no-reply' });
    expect(f.plan(LINE).fault).toBeNull();
  });

  it('garbage replaces the reply with one line of noise; noise goes in front of it', () => {
    const f = new ReplyFaults(new Prng(1));
    f.add({ kind: 'garbage', bytes: 30 });
    f.add({ kind: 'noise', bytes: 5 });
    const g = f.plan(LINE).bytes!;
    expect(g).toHaveLength(32);
    expect(g.subarray(30).toString()).toBe('\r\n');
    expect([...g.subarray(0, 30)].some((b) => b === 0x0a || b === 0x0d)).toBe(false);
    const n = f.plan(LINE).bytes!;
    expect(n.subarray(5).toString()).toBe(LINE);
  });

  it('truncate keeps a prefix without checksum or terminator; bad-checksum changes only the checksum', () => {
    const f = new ReplyFaults(new Prng(1));
    f.add({ kind: 'truncate' });
    f.add({ kind: 'truncate', keep: 1000 });
    f.add({ kind: 'bad-checksum' });
    expect(f.plan(LINE).bytes!.toString()).toBe('OK PI'); // half of 'OK PING #3'
    expect(f.plan(LINE).bytes!.toString()).toBe('OK PING #');
    const bad = f.plan(LINE).bytes!.toString();
    expect(bad.slice(0, -4)).toBe(LINE.slice(0, -4));
    expect(bad).not.toBe(LINE);
    expect(bad).toMatch(/\*[0-9A-F]{2}\r\n$/);
  });

  it('clear() drops what is queued', () => {
    const f = new ReplyFaults(new Prng(1));
    f.add({ kind: 'no-reply', count: 5 });
    f.clear();
    expect(f.pending).toEqual([]);
  });

  it('validates faults from the control channel', () => {
    expect(parseFault({ cmd: 'serial-fault', kind: 'delay', ms: 10, id: 4 })).toEqual({
      kind: 'delay',
      ms: 10,
    });
    expect(parseFault({ kind: 'disconnect' })).toEqual({ kind: 'disconnect' });
    expect(() => parseFault({ kind: 'explode' })).toThrow(SimBadCommandError);
    expect(() => parseFault({ kind: 'delay' })).toThrow(SimBadCommandError);
    expect(() => parseFault({ kind: 'no-reply', ms: 5 })).toThrow(SimBadCommandError);
    expect(() => parseFault({ kind: 'delay', ms: -1 })).toThrow(SimBadArgumentError);
    expect(() => parseFault({ kind: 'garbage', count: 0 })).toThrow(SimBadArgumentError);
    expect(() => parseFault({ kind: 'garbage', bytes: 1.5 })).toThrow(SimBadArgumentError);
  });
});
