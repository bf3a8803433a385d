export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Structured logging. Fields are data, never secrets: the agent never passes key material,
 * tokens or certificates' private parts to a logger.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** What jsonLogger writes to: a Node Writable (process.stderr, process.stdout, a file). */
export interface LogStream {
  write(chunk: Uint8Array): boolean;
  /** Bytes written but not yet taken by the other end. */
  readonly writableLength: number;
  /** Node streams say 'drain' once their buffer has emptied. */
  once?(event: 'drain', listener: () => void): unknown;
}

/** Bytes of log lines a stream may hold unread before further lines are dropped and counted. */
export const LOG_BUFFER_LIMIT_BYTES = 1024 * 1024;

/**
 * JSON lines to a stream (stderr by default), at or above `level`.
 *
 * Files and terminals take each line at once. A pipe or socket whose reader stops reading
 * (journald wedged, a supervisor that does not drain its end) makes Node keep every line in
 * memory, without a limit. Past `maxBufferedBytes` unread, lines are dropped and counted
 * instead; once the stream has drained, a line says how many were lost. `write`, when given,
 * replaces the stream and its limit.
 */
export function jsonLogger(
  options: {
    level?: LogLevel;
    name?: string;
    write?: (line: string) => void;
    stream?: LogStream;
    maxBufferedBytes?: number;
  } = {},
): Logger {
  const min = ORDER[options.level ?? 'info'];
  const name = options.name ?? 'outpost';
  const write =
    options.write ??
    boundedWriter(
      options.stream ?? process.stderr,
      name,
      options.maxBufferedBytes ?? LOG_BUFFER_LIMIT_BYTES,
    );
  const log =
    (level: LogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (ORDER[level] < min) return;
      write(JSON.stringify({ t: new Date().toISOString(), level, name, msg, ...fields }));
    };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

function boundedWriter(
  stream: LogStream,
  name: string,
  maxBufferedBytes: number,
): (line: string) => void {
  let dropped = 0;
  let waiting = false;
  const sayDropped = (): void => {
    waiting = false;
    if (dropped === 0) return;
    const notice = {
      t: new Date().toISOString(),
      level: 'warn',
      name,
      msg: 'log lines dropped: the log stream was not being read',
      dropped,
    };
    dropped = 0;
    stream.write(Buffer.from(JSON.stringify(notice) + '\n'));
  };
  return (line) => {
    if (stream.writableLength > maxBufferedBytes) {
      dropped++;
      if (!waiting && stream.once) {
        waiting = true;
        stream.once('drain', sayDropped);
      }
      return;
    }
    if (dropped > 0) sayDropped();
    // Bytes, so that writableLength counts bytes (a string counts UTF-16 units on a socket).
    stream.write(Buffer.from(line + '\n'));
  };
}
