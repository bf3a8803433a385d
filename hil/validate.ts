/**
 * Small checkers for scenario JSON. Each takes the value and its JSON path and either returns
 * the typed value or throws {@link HilScenarioError} naming the path and what was expected.
 */
import { HilScenarioError } from './errors.js';

export class Checker {
  constructor(readonly source: string) {}

  fail(path: string, problem: string): never {
    throw new HilScenarioError(this.source, path, problem);
  }

  object(value: unknown, path: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(path, `must be an object, got ${describe(value)}`);
    return value as Record<string, unknown>;
  }

  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `must be an array, got ${describe(value)}`);
    return value;
  }

  /** Fails on any key not in `allowed` (a typo must not silently do nothing). */
  onlyKeys(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
    for (const key of Object.keys(o)) {
      if (!allowed.includes(key))
        this.fail(join(path, key), `unknown field; expected one of ${allowed.join(', ')}`);
    }
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string' || value.trim() === '')
      this.fail(path, `must be a non-empty string, got ${describe(value)}`);
    return value;
  }

  boolean(value: unknown, path: string): boolean {
    if (typeof value !== 'boolean')
      this.fail(path, `must be true or false, got ${describe(value)}`);
    return value;
  }

  number(
    value: unknown,
    path: string,
    range: { min?: number; max?: number; integer?: boolean; above?: number } = {},
  ): number {
    if (typeof value !== 'number' || !Number.isFinite(value))
      this.fail(path, `must be a number, got ${describe(value)}`);
    if (range.integer && !Number.isInteger(value))
      this.fail(path, `must be an integer, got ${value}`);
    if (range.above !== undefined && !(value > range.above))
      this.fail(path, `must be greater than ${range.above}, got ${value}`);
    if (range.min !== undefined && value < range.min)
      this.fail(path, `must be at least ${range.min}, got ${value}`);
    if (range.max !== undefined && value > range.max)
      this.fail(path, `must be at most ${range.max}, got ${value}`);
    return value;
  }

  /**
   * A duration: a number of milliseconds, or a string `"1500ms"`, `"2s"`, `"1.5m"`, `"24h"`
   * (with a leading `-` when `signed`).
   */
  duration(
    value: unknown,
    path: string,
    range: { min?: number; max?: number; signed?: boolean } = {},
  ): number {
    let ms: number;
    if (typeof value === 'number' && Number.isFinite(value)) {
      ms = value;
    } else if (typeof value === 'string') {
      const m = /^\s*(-)?(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
      if (!m)
        this.fail(path, `must be a duration like "1500ms", "2s", "1m", "24h", got "${value}"`);
      const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 'ms' | 's' | 'm' | 'h'];
      ms = Number(m[2]) * unit * (m[1] ? -1 : 1);
    } else {
      this.fail(path, `must be a duration (ms, or a string like "2s"), got ${describe(value)}`);
    }
    if (ms < 0 && !range.signed) this.fail(path, `must not be negative, got ${String(value)}`);
    const min = range.min ?? (range.signed ? -Infinity : 0);
    if (ms < min) this.fail(path, `must be at least ${min} ms, got ${ms} ms`);
    if (range.max !== undefined && Math.abs(ms) > range.max)
      this.fail(
        path,
        `must be at most ${range.max} ms${range.signed ? ' either way' : ''}, got ${ms} ms`,
      );
    return Math.round(ms);
  }

  oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
    if (typeof value !== 'string' || !(options as readonly string[]).includes(value))
      this.fail(path, `must be one of ${options.join(', ')}, got ${describe(value)}`);
    return value as T;
  }

  /** A hardware value: a literal or a string with `${VAR}` / `${VAR:-default}` references. */
  templated(value: unknown, path: string): string | number {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value !== 'string' || value === '')
      this.fail(path, `must be a string or a number, got ${describe(value)}`);
    const rest = value.replace(TEMPLATE, '');
    if (rest.includes('${'))
      this.fail(path, `has a malformed variable reference; write \${NAME} or \${NAME:-default}`);
    return value;
  }
}

/** `${NAME}` or `${NAME:-default}`. */
export const TEMPLATE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}
