import { AdapterError } from '../errors.js';
import type { SdkActiveErrors, SdkCounters, SdkInfo, SdkLogChunk, SdkLogInfo } from './types.js';

/**
 * Shape checks for what an SDK returns. An SDK is someone else's code (and over IPC, someone
 * else's bytes): nothing it returns is trusted until checked here. Each throws
 * `ADAPTER_BAD_REPLY` naming what was wrong.
 */

function bad(what: string, detail: string): AdapterError {
  return new AdapterError('ADAPTER_BAD_REPLY', `vendor SDK ${what} reply: ${detail}`);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(what, 'not an object');
  return value as Record<string, unknown>;
}

export function checkInfo(value: unknown): SdkInfo {
  const v = record(value, 'hello');
  const str = (k: string, required: boolean): string | undefined => {
    const x = v[k];
    if (typeof x === 'string') return x;
    if (x === undefined && !required) return undefined;
    throw bad('hello', `${k} must be a string`);
  };
  const info: SdkInfo = {
    sdkVersion: str('sdkVersion', true)!,
    model: str('model', true)!,
    serial: str('serial', true)!,
  };
  const vendor = str('vendor', false);
  const firmware = str('firmware', false);
  if (vendor !== undefined) info.vendor = vendor;
  if (firmware !== undefined) info.firmware = firmware;
  return info;
}

/**
 * Counters: the list must be an array of objects with a string name; a counter whose value is
 * not a finite number is kept (the adapter reports it as missing), a bad unit becomes ''.
 */
export function checkCounters(value: unknown): SdkCounters {
  const v = record(value, 'getCounters');
  if (!Array.isArray(v.counters)) throw bad('getCounters', 'counters must be an array');
  const counters = v.counters.map((c: unknown, i) => {
    const r = record(c, 'getCounters');
    if (typeof r.name !== 'string' || r.name.length === 0)
      throw bad('getCounters', `counter ${i} has no name`);
    const resolution = r.resolution;
    return {
      name: r.name,
      value: typeof r.value === 'number' ? r.value : Number.NaN,
      unit: typeof r.unit === 'string' ? r.unit : '',
      ...(typeof resolution === 'number' && Number.isFinite(resolution) && resolution > 0
        ? { resolution }
        : {}),
    };
  });
  return { counters };
}

export function checkActiveErrors(value: unknown): SdkActiveErrors {
  const v = record(value, 'getActiveErrors');
  if (!Array.isArray(v.codes)) throw bad('getActiveErrors', 'codes must be an array');
  const codes: number[] = [];
  for (const c of v.codes) {
    if (!Number.isSafeInteger(c) || (c as number) < 0)
      throw bad('getActiveErrors', `code ${JSON.stringify(c)} is not an integer ≥ 0`);
    if (!codes.includes(c as number)) codes.push(c as number);
  }
  const total = v.raisesTotal;
  if (total === undefined) return { codes };
  if (!Number.isSafeInteger(total) || (total as number) < 0)
    throw bad('getActiveErrors', 'raisesTotal must be an integer ≥ 0');
  return { codes, raisesTotal: total as number };
}

export function checkLogs(value: unknown): SdkLogInfo[] {
  if (!Array.isArray(value)) throw bad('listLogs', 'not an array');
  return value.map((l: unknown) => {
    const r = record(l, 'listLogs');
    if (typeof r.name !== 'string' || r.name.length === 0)
      throw bad('listLogs', 'log without name');
    if (!Number.isSafeInteger(r.bytes) || (r.bytes as number) < 0)
      throw bad('listLogs', `${r.name}: bytes must be an integer ≥ 0`);
    const modifiedMs = typeof r.modifiedMs === 'number' ? r.modifiedMs : 0;
    return { name: r.name, bytes: r.bytes as number, modifiedMs };
  });
}

export function checkChunk(value: unknown, offset: number, length: number): SdkLogChunk {
  const v = record(value, 'readLog');
  if (!(v.data instanceof Uint8Array)) throw bad('readLog', 'data must be bytes');
  if (!Number.isSafeInteger(v.size) || (v.size as number) < 0)
    throw bad('readLog', 'size must be an integer ≥ 0');
  if (typeof v.eof !== 'boolean') throw bad('readLog', 'eof must be a boolean');
  if (v.data.length > length)
    throw bad('readLog', `${v.data.length} bytes returned for a ${length}-byte read`);
  if (v.data.length === 0 && !v.eof)
    throw bad('readLog', `no bytes at offset ${offset} and not at the end`);
  return { data: v.data, size: v.size as number, eof: v.eof };
}
