/** Typed reads of hardware link values, which arrive as strings after `${VAR}` expansion. */
import type { Checker } from '../validate.js';

export function stringField(check: Checker, value: unknown, path: string): string {
  return check.string(typeof value === 'number' ? String(value) : value, path);
}

export function intField(
  check: Checker,
  value: unknown,
  path: string,
  min: number,
  max: number,
): number {
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  return check.number(n, path, { integer: true, min, max });
}
