import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdapterError } from '../errors.js';
import { parseRegisterMap } from '../modbus/register-map.js';
import registerMapJson from '../../../protocols/register-map.json' with { type: 'json' };
import { readCounters, serialCountersFromRegisterMap, checkCounterDefs } from './counters.js';
import { SerialDeviceError } from './errors.js';
import {
  decodeMessage,
  deviceError,
  encodeRequest,
  isServicePortFrameStart,
  parseDecimal,
  parseErrors,
  parseLogChunk,
  parseLogList,
  xorChecksum,
} from './protocol.js';

const NOW = 1_700_000_000_000;
const now = (): number => NOW;
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

describe('encodeRequest', () => {
  it('frames literal requests with their XOR checksum', () => {
    expect(text(encodeRequest('PING'))).toBe('PING*10\r\n');
    expect(text(encodeRequest('STATUS'))).toBe('STATUS*14\r\n');
    expect(text(encodeRequest('PING', [], 7))).toMatch(/^PING #7\*[0-9A-F]{2}\r\n$/);
    expect(text(encodeRequest('LOG', ['a.log', '0', '10'], 12))).toBe(
      `LOG a.log 0 10 #12*${xorChecksum('LOG a.log 0 10 #12').toString(16).toUpperCase().padStart(2, '0')}\r\n`,
    );
  });

  it('refuses tokens the line cannot carry', () => {
    expect(() => encodeRequest('LOG', ['a b'])).toThrow(RangeError);
    expect(() => encodeRequest('LOG', ['a*b'])).toThrow(RangeError);
    expect(() => encodeRequest('LOG', ['é'])).toThrow(RangeError);
    expect(() => encodeRequest('PING', [], 100_000)).toThrow(RangeError);
  });
});

describe('decodeMessage', () => {
  it('reads OK replies with and without a tag', () => {
    expect(decodeMessage('OK COUNTERS #17 a=1 b=2', now)).toEqual({
      kind: 'ok',
      verb: 'COUNTERS',
      tag: 17,
      fields: ['a=1', 'b=2'],
    });
    expect(decodeMessage('OK PING', now)).toEqual({
      kind: 'ok',
      verb: 'PING',
      tag: undefined,
      fields: [],
    });
  });

  it('reads ERR replies', () => {
    expect(decodeMessage('ERR NOFILE #3 no log named x', now)).toEqual({
      kind: 'err',
      deviceCode: 'NOFILE',
      tag: 3,
      text: 'no log named x',
    });
    expect(decodeMessage('ERR CHK checksum 00 is wrong', now)).toMatchObject({
      kind: 'err',
      deviceCode: 'CHK',
      tag: undefined,
    });
  });

  it('reads error events, trusting the device time only within a minute of ours', () => {
    expect(decodeMessage(`!EVT ERR 2003 RAISED ${NOW - 5}`, now)).toEqual({
      kind: 'event',
      event: { type: 'error', code: 2003, state: 'raised', atMs: NOW - 5 },
    });
    expect(decodeMessage(`!EVT ERR 4001 CLEARED ${NOW + 86_400_000}`, now)).toEqual({
      kind: 'event',
      event: { type: 'error', code: 4001, state: 'cleared', atMs: NOW },
    });
    expect(decodeMessage('!EVT ERR 4001 CLEARED', now)).toMatchObject({ event: { atMs: NOW } });
  });

  it('reads boot events, and passes over events it does not know', () => {
    expect(decodeMessage('!EVT BOOT', now)).toEqual({
      kind: 'event',
      event: { type: 'reboot', atMs: NOW },
    });
    expect(decodeMessage(`!EVT BOOT ${NOW - 100}`, now)).toEqual({
      kind: 'event',
      event: { type: 'reboot', atMs: NOW - 100 },
    });
    expect(decodeMessage('!EVT DOOR OPEN', now)).toEqual({
      kind: 'other-event',
      text: 'DOOR OPEN',
    });
  });

  it('refuses what is neither, with ADAPTER_BAD_REPLY', () => {
    for (const bad of [
      'HELLO',
      'OK',
      'ERR',
      '!EVT ERR x RAISED',
      '!EVT ERR 0 RAISED',
      '!EVT ERR 2003 MAYBE',
      '!EVT ERR 70000 RAISED',
    ]) {
      const err = (() => {
        try {
          decodeMessage(bad, now);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, bad).toBeInstanceOf(AdapterError);
      expect((err as AdapterError).code).toBe('ADAPTER_BAD_REPLY');
    }
  });

  it('knows where frames start', () => {
    expect(['OK PING', 'ERR X', '!EVT BOOT', 'OK'].map(isServicePortFrameStart)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['OKAY', 'xOK ', 'ERROR', '!EV'].map(isServicePortFrameStart)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('reply bodies', () => {
  it('ERRORS', () => {
    expect(parseErrors(['raises=7', 'active=2003,4001'])).toEqual({
      codes: [2003, 4001],
      raisesTotal: 7,
    });
    expect(parseErrors(['raises=0', 'active='])).toEqual({ codes: [], raisesTotal: 0 });
    expect(parseErrors(['active=5'])).toEqual({ codes: [5] });
    expect(() => parseErrors(['raises=1'])).toThrow(AdapterError);
    expect(() => parseErrors(['active=1,x'])).toThrow(AdapterError);
  });

  it('LOGS', () => {
    expect(parseLogList(['a-1.log:10:1700000000000', 'b.log:0:5'])).toEqual([
      { name: 'a-1.log', bytes: 10, modifiedMs: 1_700_000_000_000 },
      { name: 'b.log', bytes: 0, modifiedMs: 5 },
    ]);
    expect(parseLogList([])).toEqual([]);
    expect(() => parseLogList(['a.log:x:1'])).toThrow(AdapterError);
  });

  it('LOG chunks, checked against the request', () => {
    const data = Buffer.from('hello\n').toString('base64');
    expect(parseLogChunk(['a.log', '10', '16', data], 'a.log', 10)).toEqual({
      size: 16,
      bytes: new Uint8Array(Buffer.from('hello\n')),
    });
    expect(parseLogChunk(['a.log', '16', '16'], 'a.log', 16)).toEqual({
      size: 16,
      bytes: new Uint8Array(),
    });
    expect(() => parseLogChunk(['b.log', '10', '16', data], 'a.log', 10)).toThrow(AdapterError);
    expect(() => parseLogChunk(['a.log', '0', '16', data], 'a.log', 10)).toThrow(AdapterError);
    expect(() => parseLogChunk(['a.log', '10', '16', 'abc'], 'a.log', 10)).toThrow(AdapterError);
  });

  it('device errors: ERR CHK is a checksum failure, anything else a device error', () => {
    const chk = deviceError('PING', { deviceCode: 'CHK', text: 'checksum 00 is wrong' });
    expect(chk).toBeInstanceOf(SerialDeviceError);
    expect(chk.code).toBe('SERIAL_BAD_CHECKSUM');
    const nofile = deviceError('LOG', { deviceCode: 'NOFILE', text: 'no log' });
    expect(nofile).toBeInstanceOf(AdapterError);
    expect(nofile).toMatchObject({
      code: 'SERIAL_DEVICE_ERROR',
      deviceCode: 'NOFILE',
      canceled: false,
    });
  });
});

describe('counters', () => {
  it('parses decimals losslessly', () => {
    expect(parseDecimal('24.3')).toEqual({ raw: 243, scale: 0.1, value: 24.3 });
    expect(parseDecimal('-0.5')).toEqual({ raw: -5, scale: 0.1, value: -0.5 });
    expect(parseDecimal('4294967295')).toEqual({ raw: 4294967295, scale: 1, value: 4294967295 });
    expect(parseDecimal('-0.0')).toEqual({ raw: 0, scale: 0.1, value: 0 });
    for (const bad of ['', '1e5', 'NaN', '1.', '.5', '+1', '1,5'])
      expect(parseDecimal(bad), bad).toBeUndefined();
  });

  it('decimal round trip: raw × scale is the printed value', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 4 }), (n, d) => {
        const printed = (n / 10 ** d).toFixed(d);
        const p = parseDecimal(printed)!;
        expect(p.raw).toBe(Math.round(Number(printed) * 10 ** d) || 0);
        expect(p.raw * p.scale).toBeCloseTo(Number(printed), 6);
      }),
    );
  });

  it('reads every counter as the device names it, without units, by default', () => {
    const r = readCounters(['a=1', 'b=2.50', 'c=n/a'], undefined);
    expect(r.counters).toEqual([
      { name: 'a', raw: 1, value: 1, unit: '', scale: 1, offset: 0 },
      { name: 'b', raw: 250, value: 2.5, unit: '', scale: 0.01, offset: 0 },
    ]);
    expect(r.missing).toEqual(['c']);
  });

  it('reads the configured counters, in their order, with the register map scales', () => {
    const map = parseRegisterMap(registerMapJson);
    const defs = serialCountersFromRegisterMap(map);
    const r = readCounters(
      ['detector_temp=-3.2', 'exposures_total=12', 'tube_mas_total=104.5'],
      defs,
    );
    expect(r.counters.map((c) => [c.name, c.raw, c.unit, c.scale])).toEqual([
      ['exposures_total', 12, 'count', 1],
      ['detector_temp', -32, 'degC', 0.1],
      ['tube_mas_total', 1045, 'mAs', 0.1],
    ]);
    expect(r.missing).toEqual(
      defs
        .map((d) => d.name)
        .filter((n) => !['exposures_total', 'detector_temp', 'tube_mas_total'].includes(n)),
    );
  });

  it('applies an offset', () => {
    const r = readCounters(['t=21.5'], [{ name: 't', unit: 'degC', scale: 0.5, offset: -40 }]);
    expect(r.counters[0]).toMatchObject({ raw: 123, value: 21.5, scale: 0.5, offset: -40 });
  });

  it('refuses bad counter definitions', () => {
    expect(() => checkCounterDefs([{ name: 'a' }, { name: 'a' }])).toThrow(/duplicate/);
    expect(() => checkCounterDefs([{ name: 'a b' }])).toThrow(/counters\[0\]\.name/);
    expect(() => checkCounterDefs([{ name: 'a', scale: 0 }])).toThrow(/scale/);
  });
});
