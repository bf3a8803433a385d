import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  SDK_STATUS,
  SdkProtocolError,
  encodeFrame,
  parseRequest,
} from './sdk-protocol.js';

describe('the simulator side of the SDK wire protocol', () => {
  it('decodes frames split anywhere, one byte at a time included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.nat(), method: fc.string({ minLength: 1 }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 17 }),
        (requests, step) => {
          const bytes = Buffer.concat(requests.map((r) => encodeFrame(r)));
          const decoder = new FrameDecoder();
          const out: Buffer[] = [];
          for (let i = 0; i < bytes.length; i += step)
            out.push(...decoder.push(bytes.subarray(i, i + step)));
          expect(out.map((p) => parseRequest(p))).toEqual(
            requests.map((r) => ({ ...r, params: {} })),
          );
        },
      ),
    );
  });

  it('throws only SdkProtocolError on garbage, and refuses oversize lengths', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        const decoder = new FrameDecoder(64);
        try {
          for (const p of decoder.push(garbage)) {
            try {
              parseRequest(p);
            } catch (e) {
              expect(e).toBeInstanceOf(SdkProtocolError);
            }
          }
        } catch (e) {
          expect(e).toBeInstanceOf(SdkProtocolError);
          expect([SDK_STATUS.BAD_FRAME, SDK_STATUS.FRAME_TOO_LARGE]).toContain(
            (e as SdkProtocolError).status,
          );
        }
      }),
      { numRuns: 300 },
    );
    expect(() => new FrameDecoder(8).push(Buffer.from([0, 0, 0, 9]))).toThrow(SdkProtocolError);
    expect(() => encodeFrame({ x: 'y'.repeat(20) }, 8)).toThrow(SdkProtocolError);
  });
});
