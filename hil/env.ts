/**
 * Environment references in hardware rig values: `"${OUTPOST_HIL_MODBUS_HOST}"` is replaced by
 * that variable, `"${OUTPOST_HIL_MODBUS_PORT:-502}"` falls back to 502 when it is unset or empty.
 * A reference with no default to a variable that is not set makes the scenario SKIPPED, never
 * failed: a CI machine without the rig still passes.
 */
import { TEMPLATE } from './validate.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Variables `value` needs that are unset (references with a default never count). */
export function missingVariables(value: unknown, env: Env): string[] {
  if (typeof value === 'string') {
    const out: string[] = [];
    for (const m of value.matchAll(TEMPLATE)) {
      const name = m[1] as string;
      if (m[2] === undefined && (env[name] === undefined || env[name] === '')) out.push(name);
    }
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    return Object.values(value).flatMap((v) => missingVariables(v, env));
  }
  return [];
}

/** Replaces every reference in `value` (strings, and strings nested in objects). */
export function expand<T>(value: T, env: Env): T {
  if (typeof value === 'string') {
    return value.replace(TEMPLATE, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      return v === undefined || v === '' ? (fallback ?? '') : v;
    }) as T;
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, env)])) as T;
  }
  return value;
}
