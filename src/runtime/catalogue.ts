import { ConfigError } from '../adapters/errors.js';

export type Severity = 'info' | 'warning' | 'error' | 'critical';

export interface ErrorCodeInfo {
  code: number;
  name: string;
  severity: Severity;
  /** Alarm-class: sent at once, bypassing telemetry batching. */
  immediate: boolean;
  subsystem: string;
  text: string;
}

export interface ErrorCatalogue {
  lookup(code: number): ErrorCodeInfo;
  readonly size: number;
}

const SEVERITIES: readonly Severity[] = ['info', 'warning', 'error', 'critical'];

/**
 * Parses an error-code catalogue (the format of protocols/error-codes.json). A code the
 * catalogue does not know is treated as alarm-class with severity `error`: an unknown fault on
 * a medical device is worth a look now rather than at the next batch.
 */
export function parseErrorCatalogue(input: unknown, path = 'errorCatalogue'): ErrorCatalogue {
  const root = input as { codes?: unknown } | null;
  if (typeof root !== 'object' || root === null || !Array.isArray(root.codes)) {
    throw new ConfigError('must be an object with a "codes" array', path);
  }
  const byCode = new Map<number, ErrorCodeInfo>();
  root.codes.forEach((raw: unknown, i: number) => {
    const p = `${path}.codes[${i}]`;
    const c = raw as Partial<Record<keyof ErrorCodeInfo, unknown>> | null;
    if (typeof c !== 'object' || c === null) throw new ConfigError('must be an object', p);
    if (typeof c.code !== 'number' || !Number.isInteger(c.code) || c.code < 1 || c.code > 65535) {
      throw new ConfigError('must be an integer from 1 to 65535', `${p}.code`);
    }
    if (byCode.has(c.code)) throw new ConfigError(`duplicate code ${c.code}`, `${p}.code`);
    if (typeof c.severity !== 'string' || !SEVERITIES.includes(c.severity as Severity)) {
      throw new ConfigError(`must be one of ${SEVERITIES.join(', ')}`, `${p}.severity`);
    }
    if (typeof c.immediate !== 'boolean')
      throw new ConfigError('must be true or false', `${p}.immediate`);
    byCode.set(c.code, {
      code: c.code,
      name: typeof c.name === 'string' ? c.name : `E${c.code}`,
      severity: c.severity as Severity,
      immediate: c.immediate,
      subsystem: typeof c.subsystem === 'string' ? c.subsystem : 'unknown',
      text: typeof c.text === 'string' ? c.text : '',
    });
  });
  return {
    size: byCode.size,
    lookup: (code) =>
      byCode.get(code) ?? {
        code,
        name: `E${code}`,
        severity: 'error',
        immediate: true,
        subsystem: 'unknown',
        text: `Error code ${code} is not in the catalogue`,
      },
  };
}
