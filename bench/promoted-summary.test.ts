import { describe, expect, it } from 'vitest';
import { lastOrdinal, summarisePromoted, type SamplingProfile } from './promoted-summary.js';

let nextId = 1;
const node = (
  functionName: string,
  url: string,
  lineNumber: number,
  selfSize: number,
  children: SamplingProfile['head'][] = [],
): SamplingProfile['head'] => ({
  callFrame: { functionName, url, lineNumber, columnNumber: 0 },
  selfSize,
  id: nextId++,
  children,
});

describe('summarisePromoted', () => {
  const profile: SamplingProfile = {
    head: node('(root)', '', -1, 0, [
      node('poll', 'file:///opt/outpost/dist/cli/outpost.js', 99, 100, [
        // A dependency allocates on behalf of our poll: attributed to poll among our frames.
        node('readHoldingRegisters', 'file:///opt/outpost/node_modules/x/index.js', 9, 300),
        node('encode', 'file:///opt/outpost/dist/cli/outpost.js', 199, 50, [
          node('allocUnsafe', 'node:buffer', 4, 25),
        ]),
      ]),
      // Node's own timers, no frame of ours on the stack.
      node('listOnTimeout', 'node:internal/timers', 511, 525),
    ]),
  };

  it('totals the sampled bytes and ranks the allocating functions', () => {
    const s = summarisePromoted(profile);
    expect(s.totalBytes).toBe(1000);
    expect(s.byLeaf[0]).toEqual({
      frame: 'listOnTimeout node:internal/timers:512',
      bytes: 525,
      share: 0.525,
    });
    expect(s.byLeaf.map((r) => r.frame)).toContain(
      'readHoldingRegisters node_modules/x/index.js:10',
    );
    expect(s.byLeaf.reduce((a, r) => a + r.bytes, 0)).toBe(1000);
  });

  it('charges what a library or Node allocated to the innermost frame of our code', () => {
    const s = summarisePromoted(profile);
    const by = Object.fromEntries(s.byOurFrame.map((r) => [r.frame, r.bytes]));
    expect(by['poll dist/cli/outpost.js:100']).toBe(400);
    expect(by['encode dist/cli/outpost.js:200']).toBe(75);
    expect(by['(no frame of ours on the stack)']).toBe(525);
  });

  it('gives an empty profile zero bytes and no rows', () => {
    const s = summarisePromoted({ head: node('(root)', '', -1, 0) });
    expect(s).toEqual({ totalBytes: 0, byLeaf: [], byOurFrame: [] });
  });

  it('counts only the samples taken after an earlier profile, and not the profiler itself', () => {
    const poll = node('poll', 'file:///opt/outpost/dist/cli/outpost.js', 9, 0);
    const post = node('post', 'node:inspector', 111, 0, [node('toJSON', 'node:internal/x', 1, 0)]);
    const p: SamplingProfile = {
      head: node('(root)', '', -1, 0, [poll, post]),
      samples: [
        { size: 64, nodeId: poll.id, ordinal: 1 },
        { size: 32, nodeId: poll.id, ordinal: 5 },
        { size: 16, nodeId: poll.id, ordinal: 9 },
        { size: 4096, nodeId: post.children[0]!.id, ordinal: 7 },
      ],
    };
    expect(lastOrdinal({ head: p.head, samples: p.samples!.slice(0, 1) })).toBe(1);
    const s = summarisePromoted(p, 1);
    expect(s.totalBytes).toBe(48);
    expect(s.byOurFrame).toEqual([{ frame: 'poll dist/cli/outpost.js:10', bytes: 48, share: 1 }]);
    expect(summarisePromoted(p, 0).totalBytes).toBe(112);
  });
});
