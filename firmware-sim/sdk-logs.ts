/**
 * The controller's log files as the vendor SDK exposes them:
 *
 * - `service.log`: a fixed service log written at boot (about 96 KiB, deterministic for a given
 *   serial number), so a reader has to fetch it in several chunks;
 * - `events.log`: one line per error raise/clear, appended as they happen; at 256 KiB it is
 *   rotated to `events.log.1` (the previous `.1` is discarded) and starts empty.
 */
import { Prng } from './prng.js';

export interface SdkLogInfo {
  name: string;
  bytes: number;
  modifiedMs: number;
}

const EVENTS_ROTATE_BYTES = 256 * 1024;
const SERVICE_LOG_TARGET_BYTES = 96 * 1024;
const SUBSYSTEMS = ['generator', 'tube', 'detector', 'collimator', 'table', 'interlock'] as const;

interface LogFile {
  data: Buffer;
  modifiedMs: number;
}

export class SdkLogStore {
  readonly #files = new Map<string, LogFile>();
  readonly #now: () => number;

  constructor(options: { serial: string; now?: () => number }) {
    this.#now = options.now ?? Date.now;
    const t = this.#now();
    this.#files.set('service.log', { data: serviceLog(options.serial, t), modifiedMs: t });
    this.#files.set('events.log', { data: Buffer.alloc(0), modifiedMs: t });
  }

  list(): SdkLogInfo[] {
    return [...this.#files].map(([name, f]) => ({
      name,
      bytes: f.data.length,
      modifiedMs: f.modifiedMs,
    }));
  }

  /** The bytes of `name` from `offset`, at most `length`; undefined if there is no such log. */
  read(name: string, offset: number, length: number): { data: Buffer; size: number } | undefined {
    const file = this.#files.get(name);
    if (file === undefined) return undefined;
    return { data: file.data.subarray(offset, offset + length), size: file.data.length };
  }

  /** Appends one line to events.log (rotating it when full). */
  appendEvent(line: string): void {
    const now = this.#now();
    const events = this.#files.get('events.log')!;
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    if (events.data.length + bytes.length > EVENTS_ROTATE_BYTES) {
      this.#files.set('events.log.1', { data: events.data, modifiedMs: events.modifiedMs });
      events.data = Buffer.alloc(0);
    }
    events.data = Buffer.concat([events.data, bytes]);
    events.modifiedMs = now;
  }
}

/** A deterministic boot/service log of about 96 KiB. */
function serviceLog(serial: string, bootMs: number): Buffer {
  let seed = 0;
  for (const ch of serial) seed = (seed * 31 + ch.charCodeAt(0)) >>> 0;
  const prng = new Prng(seed);
  const lines: string[] = [];
  let bytes = 0;
  let t = bootMs - 3_600_000;
  for (let n = 1; bytes < SERVICE_LOG_TARGET_BYTES; n++) {
    t += Math.floor(prng.next() * 2000);
    const subsystem = SUBSYSTEMS[Math.floor(prng.next() * SUBSYSTEMS.length)]!;
    const level = prng.next() < 0.9 ? 'INFO' : 'WARN';
    const line = `${new Date(t).toISOString()} ${level} ${subsystem} self-test step ${n} ${level === 'INFO' ? 'ok' : 'retried'} (serial ${serial})`;
    lines.push(line);
    bytes += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}
