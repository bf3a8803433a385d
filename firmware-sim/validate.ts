import { SimBadArgumentError } from './errors.js';

/**
 * Returns `value` if it is a finite number in [min, max] (and an integer when asked);
 * throws SimBadArgumentError naming `what` otherwise.
 */
export function checkNumber(
  what: string,
  value: unknown,
  min: number,
  max: number,
  integer = false,
): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new SimBadArgumentError(
      `${what} must be a number in ${min}..${max}, got ${String(value)}`,
    );
  }
  if (integer && !Number.isInteger(value))
    throw new SimBadArgumentError(`${what} must be an integer`);
  return value;
}
