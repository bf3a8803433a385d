import { describe, expect, it } from 'vitest';
import {
  MAX_REQUEST_LENGTH,
  RequestSplitter,
  checksumOf,
  frameLine,
  parseRequestLine,
} from './service-port-frame.js';
import { answer, formatValue, type ServiceDevice } from './service-port-protocol.js';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

describe('service-port framing (controller side)', () => {
  it('computes the XOR checksum in upper-case hex', () => {
    expect(checksumOf('PING')).toBe('10');
    expect(checksumOf('OK PING')).toBe('34');
    expect(checksumOf('')).toBe('00');
    expect(frameLine('STATUS')).toBe('STATUS*14\r\n');
  });

  it('classifies request lines', () => {
    expect(parseRequestLine('PING*10')).toEqual({ kind: 'request', payload: 'PING' });
    expect(parseRequestLine('ping*10')).toEqual({ kind: 'request', payload: 'ping' });
    expect(parseRequestLine('STATUS*14')).toEqual({ kind: 'request', payload: 'STATUS' });
    expect(parseRequestLine('PING*1e')).toEqual({
      kind: 'bad-checksum',
      got: '1e',
      expected: '10',
    });
    expect(parseRequestLine('PING')).toEqual({ kind: 'no-checksum', text: 'PING' });
    expect(parseRequestLine('PI\x00NG*10')).toEqual({ kind: 'not-ascii' });
  });

  it('splits on CR, LF or CR LF, byte by byte, and ignores empty lines', () => {
    const s = new RequestSplitter();
    const out = [];
    for (const b of bytes('PING*10\rSTATUS*14\nPING*10\r\n\r\n'))
      out.push(...s.push(Uint8Array.of(b)));
    expect(out.map((l) => (l.kind === 'request' ? l.payload : l.kind))).toEqual([
      'PING',
      'STATUS',
      'PING',
    ]);
  });

  it('reports an over-long line once and recovers at its end', () => {
    const s = new RequestSplitter();
    const out = s.push(bytes(`${'A'.repeat(MAX_REQUEST_LENGTH + 50)}\r\nPING*10\r\n`));
    expect(out.map((l) => l.kind)).toEqual(['too-long', 'request']);
  });
});

const device: ServiceDevice = {
  counters: () => [
    ['exposures_total', '12'],
    ['detector_temp', '-3.5'],
  ],
  activeCodes: () => [2003, 4001],
  raisesTotal: () => 7,
  status: () => [
    ['model', 'XR-200'],
    ['state', 'READY'],
  ],
  listLogs: () => [{ name: 'x-0001.log', bytes: 5, modifiedMs: 1000 }],
  readLog: (name, offset, length) =>
    name === 'x-0001.log'
      ? { bytes: Buffer.from('hello').subarray(offset, offset + length), size: 5 }
      : undefined,
};

describe('service-port command set', () => {
  it('answers each command, echoing the verb and the tag', () => {
    expect(answer('PING', device)).toBe('OK PING');
    expect(answer('ping #42', device)).toBe('OK PING #42');
    expect(answer('STATUS #1', device)).toBe('OK STATUS #1 model=XR-200 state=READY');
    expect(answer('COUNTERS', device)).toBe('OK COUNTERS exposures_total=12 detector_temp=-3.5');
    expect(answer('ERRORS #9', device)).toBe('OK ERRORS #9 raises=7 active=2003,4001');
    expect(answer('LOGS', device)).toBe('OK LOGS x-0001.log:5:1000');
    expect(answer('LOG x-0001.log 1 3 #2', device)).toBe(
      `OK LOG #2 x-0001.log 1 5 ${Buffer.from('ell').toString('base64')}`,
    );
    expect(answer('LOG x-0001.log 5 10', device)).toBe('OK LOG x-0001.log 5 5');
  });

  it('answers mistakes with ERR and a code', () => {
    expect(answer('FROB #3', device)).toMatch(/^ERR UNKNOWN #3 unknown command FROB/);
    expect(answer('PING extra', device)).toMatch(/^ERR ARG /);
    expect(answer('LOG x-0001.log', device)).toMatch(/^ERR ARG usage/);
    expect(answer('LOG x-0001.log -1 5', device)).toMatch(/^ERR ARG /);
    expect(answer('LOG ../etc 0 5', device)).toMatch(/^ERR ARG /);
    expect(answer('LOG y.log 0 5 #4', device)).toBe('ERR NOFILE #4 no log named y.log');
    expect(answer('LOG x-0001.log 6 5', device)).toMatch(/^ERR RANGE /);
  });

  it('formats values with the decimals of the register scale', () => {
    expect(formatValue(12, 1)).toBe('12');
    expect(formatValue(24.349, 0.1)).toBe('24.3');
    expect(formatValue(-0.04, 0.1)).toBe('0.0');
    expect(formatValue(1.005, 0.01)).toBe('1.00');
    expect(formatValue(4294967295, 1)).toBe('4294967295');
  });
});
