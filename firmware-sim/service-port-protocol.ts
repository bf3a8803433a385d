/**
 * The XR-200 service-port command set (pure: a request payload in, a reply payload out).
 *
 * A request is a verb (any case) and space-separated arguments, optionally ending with a tag
 * `#<1-5 digits>` that the reply echoes so a master can match replies to requests:
 *
 *   PING                       → OK PING
 *   STATUS                     → OK STATUS model=XR-200 serial=… fw=… state=READY door=closed uptime=12 active=0 time=<unix-ms>
 *   COUNTERS                   → OK COUNTERS exposures_total=123 tube_heat=4567 tube_heat_pct=1.5 …
 *   ERRORS                     → OK ERRORS raises=7 active=2003,4001
 *   LOGS                       → OK LOGS xr200-0001.log:65499:1767596400000 …   (name:bytes:mtime, oldest first)
 *   LOG <name> <offset> <len>  → OK LOG <name> <offset> <size> <base64 of up to min(len, 2048) bytes>
 *
 * With a tag, `COUNTERS #17` → `OK COUNTERS #17 exposures_total=…`. Errors are
 * `ERR <CODE> [#tag] <text>`: UNKNOWN (verb), ARG (arguments), NOFILE (no such log), RANGE
 * (offset past the end), CHK (checksum missing or wrong), TOOLONG (line over 256 bytes), ASCII
 * (a byte outside printable ASCII). Counter values are engineering units with
 * as many decimals as the register map's scale has (0.1 → one decimal), named as in the map.
 */
import type { LogFileInfo } from './logs.js';

/** Most log bytes one LOG reply carries. */
export const MAX_LOG_CHUNK = 2048;

/** What the command set reads from the controller. */
export interface ServiceDevice {
  /** Counter name and its formatted engineering value, in register-map order. */
  counters(): Array<[name: string, value: string]>;
  activeCodes(): number[];
  raisesTotal(): number;
  status(): Array<[key: string, value: string]>;
  listLogs(): LogFileInfo[];
  /** Bytes of `name` from `offset`, at most `length`, and the file size; undefined if no such file. */
  readLog(
    name: string,
    offset: number,
    length: number,
  ): { bytes: Uint8Array; size: number } | undefined;
}

const TAG = /^#\d{1,5}$/;
const DECIMAL = /^\d{1,10}$/;
const LOG_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The reply payload (no checksum, no terminator) to one request payload. */
export function answer(payload: string, device: ServiceDevice): string {
  const tokens = payload
    .trim()
    .split(/ +/)
    .filter((t) => t !== '');
  const last = tokens.at(-1);
  const tag = last !== undefined && TAG.test(last) ? (tokens.pop() as string) : undefined;
  const verb = (tokens.shift() ?? '').toUpperCase();
  const ok = (fields: string[]): string => ['OK', verb, ...(tag ? [tag] : []), ...fields].join(' ');
  const err = (code: string, text: string): string =>
    ['ERR', code, ...(tag ? [tag] : []), text].join(' ');
  const noArgs = (): string | null =>
    tokens.length === 0 ? null : err('ARG', `${verb} takes no arguments`);

  switch (verb) {
    case 'PING':
      return noArgs() ?? ok([]);
    case 'STATUS':
      return noArgs() ?? ok(device.status().map(([k, v]) => `${k}=${v}`));
    case 'COUNTERS':
      return noArgs() ?? ok(device.counters().map(([k, v]) => `${k}=${v}`));
    case 'ERRORS':
      return (
        noArgs() ??
        ok([`raises=${device.raisesTotal()}`, `active=${device.activeCodes().join(',')}`])
      );
    case 'LOGS':
      return (
        noArgs() ??
        ok(device.listLogs().map((f) => `${f.name}:${f.bytes}:${Math.round(f.modifiedMs)}`))
      );
    case 'LOG': {
      const [name, offsetText, lengthText] = tokens;
      if (
        tokens.length !== 3 ||
        name === undefined ||
        !LOG_NAME.test(name) ||
        !DECIMAL.test(offsetText ?? '') ||
        !DECIMAL.test(lengthText ?? '')
      ) {
        return err('ARG', 'usage: LOG <name> <offset> <length>');
      }
      const offset = Number(offsetText);
      const length = Math.min(Number(lengthText), MAX_LOG_CHUNK);
      const got = device.readLog(name, offset, length);
      if (!got) return err('NOFILE', `no log named ${name}`);
      if (offset > got.size)
        return err('RANGE', `offset ${offset} is past the end (size ${got.size})`);
      const data = Buffer.from(got.bytes).toString('base64');
      return ok([name, String(offset), String(got.size), ...(data === '' ? [] : [data])]);
    }
    case '':
      return err('UNKNOWN', 'empty command; try PING, STATUS, COUNTERS, ERRORS, LOGS, LOG');
    default:
      return err(
        'UNKNOWN',
        `unknown command ${verb}; try PING, STATUS, COUNTERS, ERRORS, LOGS, LOG`,
      );
  }
}

/** Formats an engineering value with as many decimals as `scale` has (0.1 → 1, 1 → 0). */
export function formatValue(value: number, scale: number): string {
  const decimals = scale >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(scale) - 1e-9));
  const text = value.toFixed(decimals);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}
