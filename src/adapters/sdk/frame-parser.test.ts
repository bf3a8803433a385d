import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdapterError } from '../errors.js';
import { SdkError } from './errors.js';
import { SdkFrameParser, encodeSdkFrame } from './frame-parser.js';
import { decodeIpcMessage } from './messages.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** Feeds `bytes` in the given piece sizes (cycled) and collects every payload. */
function feed(parser: SdkFrameParser, bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] ?? 1);
    out.push(...parser.push(bytes.subarray(at, at + n)));
    at += n;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe('SdkFrameParser', () => {
  it('reads a literal frame fed one byte at a time', () => {
    // 0x0000000e = 14 bytes: {"id":1,"x":0}
    const frame = hex('0000000e 7b226964223a312c2278223a307d');
    const parser = new SdkFrameParser();
    const out: Uint8Array[] = [];
    for (let i = 0; i < frame.length; i++) {
      out.push(...parser.push(frame.subarray(i, i + 1)));
      if (i < frame.length - 1) expect(out).toHaveLength(0);
    }
    expect(out.map(text)).toEqual(['{"id":1,"x":0}']);
    expect(parser.state).toBe('length');
    expect(parser.buffered).toBe(0);
  });

  it('reads several frames from one chunk and keeps a partial one', () => {
    const a = encodeSdkFrame({ id: 1, result: 'a' });
    const b = encodeSdkFrame({ id: 2, result: 'b' });
    const parser = new SdkFrameParser();
    const out = parser.push(concat(a, b, b.subarray(0, 6)));
    expect(out.map(text)).toEqual(['{"id":1,"result":"a"}', '{"id":2,"result":"b"}']);
    expect(parser.state).toBe('payload');
    expect(parser.buffered).toBe(6);
    expect(parser.push(b.subarray(6)).map(text)).toEqual(['{"id":2,"result":"b"}']);
  });

  it('refuses an oversize length before buffering any payload, and stays failed', () => {
    const parser = new SdkFrameParser({ maxFrameBytes: 16 });
    expect(parser.push(hex('000000'))).toEqual([]);
    let error: unknown;
    try {
      parser.push(hex('11 41414141'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SdkError);
    expect((error as SdkError).code).toBe('SDK_FRAME_TOO_LARGE');
    expect(parser.state).toBe('failed');
    expect(() => parser.push(hex('00'))).toThrow(SdkError);
    parser.reset();
    expect(parser.push(encodeSdkFrame({ id: 1 })).map(text)).toEqual(['{"id":1}']);
  });

  it('accepts a frame of exactly the maximum size', () => {
    const parser = new SdkFrameParser({ maxFrameBytes: 5 });
    expect(parser.push(hex('00000005 3132333435')).map(text)).toEqual(['12345']);
  });

  it('refuses an empty frame', () => {
    const parser = new SdkFrameParser();
    expect(() => parser.push(hex('00000000'))).toThrow(
      expect.objectContaining({ code: 'SDK_BAD_FRAME' }),
    );
  });

  it('refuses to encode what the peer would refuse', () => {
    expect(() => encodeSdkFrame({ big: 'x'.repeat(100) }, 50)).toThrow(
      expect.objectContaining({ code: 'SDK_FRAME_TOO_LARGE' }),
    );
  });

  it('gives the same payloads however the stream is split (property)', () => {
    const message = fc.record({
      id: fc.integer({ min: 0, max: 0xffff_ffff }),
      result: fc.jsonValue(),
    });
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
        (messages, sizes) => {
          const frames = messages.map((m) => encodeSdkFrame(m));
          const out = feed(new SdkFrameParser(), concat(...frames), sizes);
          expect(out.map(text)).toEqual(messages.map((m) => JSON.stringify(m)));
        },
      ),
    );
  });

  it('never throws anything but a typed SdkError on garbage (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 128 }),
        (garbage, sizes, max) => {
          const parser = new SdkFrameParser({ maxFrameBytes: max });
          try {
            for (const payload of feed(parser, garbage, sizes)) {
              expect(payload.length).toBeGreaterThan(0);
              expect(payload.length).toBeLessThanOrEqual(max);
              try {
                decodeIpcMessage(payload);
              } catch (e) {
                expect(e).toBeInstanceOf(SdkError);
                expect((e as SdkError).code).toBe('SDK_BAD_FRAME');
              }
            }
          } catch (e) {
            expect(e).toBeInstanceOf(AdapterError);
            expect(['SDK_BAD_FRAME', 'SDK_FRAME_TOO_LARGE']).toContain((e as AdapterError).code);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('decodeIpcMessage', () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('reads results, errors and events', () => {
    expect(decodeIpcMessage(enc('{"id":3,"result":{"a":1}}'))).toEqual({
      kind: 'result',
      id: 3,
      result: { a: 1 },
    });
    expect(decodeIpcMessage(enc('{"id":4,"error":{"code":5,"message":"no such log"}}'))).toEqual({
      kind: 'error',
      id: 4,
      status: 5,
      message: 'no such log',
    });
    expect(decodeIpcMessage(enc('{"id":null,"error":{"code":1,"message":"bad"}}'))).toMatchObject({
      kind: 'error',
      id: null,
    });
    expect(
      decodeIpcMessage(enc('{"event":"error","code":2003,"state":"raised","atMs":17}')),
    ).toEqual({
      kind: 'event',
      event: { type: 'error', code: 2003, state: 'raised', atMs: 17 },
    });
    expect(decodeIpcMessage(enc('{"event":"fan-speed","rpm":1200}'))).toEqual({
      kind: 'unknown-event',
      name: 'fan-speed',
    });
  });

  it.each([
    ['not JSON', '{"id":1,'],
    ['not an object', '[1,2]'],
    ['no id', '{"result":1}'],
    ['fractional id', '{"id":1.5,"result":1}'],
    ['no result or error', '{"id":1}'],
    ['error without code', '{"id":1,"error":{"message":"x"}}'],
    ['error event without state', '{"event":"error","code":1,"atMs":1}'],
    ['error event with a negative code', '{"event":"error","code":-1,"state":"raised","atMs":1}'],
    ['event without atMs', '{"event":"error","code":1,"state":"raised"}'],
  ])('refuses %s with SDK_BAD_FRAME', (_what, json) => {
    expect(() => decodeIpcMessage(enc(json))).toThrow(
      expect.objectContaining({ code: 'SDK_BAD_FRAME' }),
    );
  });

  it('refuses invalid UTF-8', () => {
    expect(() => decodeIpcMessage(hex('7b22ff227d'))).toThrow(
      expect.objectContaining({ code: 'SDK_BAD_FRAME' }),
    );
  });
});
