import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdapterError } from '../errors.js';
import { aduLength, decodeReadReply, encodeReadRequest, transactionIdOf } from './mbap.js';
import { classifyTcpLeftover } from './reply-tap.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function thrown(f: () => unknown): AdapterError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(AdapterError);
    return err as AdapterError;
  }
  throw new Error('did not throw');
}

describe('encodeReadRequest', () => {
  it('is the MBAP header and the read PDU, big-endian', () => {
    expect(encodeReadRequest(0x1234, 17, 'holding', 0x0102, 10).toString('hex')).toBe(
      '1234' + '0000' + '0006' + '11' + '03' + '0102' + '000a',
    );
    expect(encodeReadRequest(1, 1, 'input', 0, 1)[7]).toBe(4);
    expect(encodeReadRequest(1, 1, 'coil', 0, 1)[7]).toBe(1);
    expect(encodeReadRequest(1, 1, 'discrete', 0, 1)[7]).toBe(2);
  });

  it('wraps the transaction id to 16 bits and refuses counts and addresses the spec does not allow', () => {
    expect(transactionIdOf(encodeReadRequest(0x10001, 1, 'holding', 0, 1))).toBe(1);
    expect(() => encodeReadRequest(1, 1, 'holding', 0, 126)).toThrow(RangeError);
    expect(() => encodeReadRequest(1, 1, 'holding', 0, 0)).toThrow(RangeError);
    expect(() => encodeReadRequest(1, 1, 'coil', 0, 2001)).toThrow(RangeError);
    expect(() => encodeReadRequest(1, 1, 'holding', 65535, 2)).toThrow(RangeError);
    expect(encodeReadRequest(1, 1, 'coil', 0, 2000)).toHaveLength(12);
  });
});

describe('aduLength', () => {
  const reply = hex('0001 0000 0007 01 03 04 000a 000b');

  it('is the whole frame once it is there, 0 for every proper prefix', () => {
    expect(aduLength(reply, 1)).toBe(reply.length);
    expect(aduLength(Buffer.concat([reply, reply]), 1)).toBe(reply.length);
    for (let n = 0; n < reply.length; n++)
      expect(aduLength(reply.subarray(0, n), 1), `${n}`).toBe(0);
  });

  it('is -1 for another protocol id, an impossible length or another unit', () => {
    expect(aduLength(hex('0001 0100 0007 01 03'), 1)).toBe(-1);
    expect(aduLength(hex('0001 01'), 1)).toBe(-1);
    expect(aduLength(hex('0001 0000 0001 01'), 1)).toBe(-1);
    expect(aduLength(hex('0001 0000 00ff 01'), 1)).toBe(-1);
    expect(aduLength(hex('0001 0000 0007 02 03'), 1)).toBe(-1);
  });

  it('agrees with the reply tap: -1 is garbage, 0 with bytes is partial (any bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 255 }), (b, unit) => {
        const n = aduLength(b, unit);
        if (n > 0) return;
        const tap = classifyTcpLeftover(b, unit);
        expect(tap).toBe(n < 0 ? 'garbage' : b.length === 0 ? 'none' : 'partial');
      }),
    );
  });
});

describe('decodeReadReply', () => {
  it('reads register words', () => {
    expect(decodeReadReply(hex('0001 0000 0007 01 03 04 000a fffe'), 'holding', 5, 2)).toEqual([
      10, 0xfffe,
    ]);
  });

  it('reads bits LSB first and drops the padding', () => {
    // 10 coils: 0b1000_0101, 0b10 → 1,0,1,0,0,0,0,1, 0,1
    expect(decodeReadReply(hex('0001 0000 0005 01 01 02 85 02'), 'coil', 0, 10)).toEqual([
      1, 0, 1, 0, 0, 0, 0, 1, 0, 1,
    ]);
  });

  it('an exception reply is MODBUS_EXCEPTION with the code', () => {
    const err = thrown(() => decodeReadReply(hex('0001 0000 0003 01 83 02'), 'holding', 7, 1));
    expect(err.code).toBe('MODBUS_EXCEPTION');
    expect(err.modbusException).toBe(2);
    expect(err.address).toBe(7);
    expect(err.message).toMatch(/illegal data address/);
  });

  it('a byte count that does not fit the request or the frame is MODBUS_SHORT_REPLY', () => {
    expect(
      thrown(() => decodeReadReply(hex('0001 0000 0005 01 03 02 000a'), 'holding', 0, 2)).code,
    ).toBe('MODBUS_SHORT_REPLY');
    expect(
      thrown(() => decodeReadReply(hex('0001 0000 0006 01 03 04 000a'), 'holding', 0, 2)).code,
    ).toBe('MODBUS_SHORT_REPLY');
    expect(thrown(() => decodeReadReply(hex('0001 0000 0002 01 83'), 'holding', 0, 2)).code).toBe(
      'MODBUS_SHORT_REPLY',
    );
  });

  it('another function is ADAPTER_BAD_REPLY', () => {
    expect(
      thrown(() => decodeReadReply(hex('0001 0000 0005 01 04 02 000a'), 'holding', 0, 1)).code,
    ).toBe('ADAPTER_BAD_REPLY');
  });
});
