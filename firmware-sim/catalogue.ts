/**
 * The XR-200 error-code catalogue, read from protocols/error-codes.json (the contract). The
 * controller refers to the codes it raises by their catalogue *name* and resolves the number
 * here, so a catalogue that renamed or dropped one of them fails loudly at load time.
 */
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import { SimUnknownErrorCodeError } from './errors.js';

export interface CatalogueEntry {
  readonly code: number;
  readonly name: string;
  readonly severity: string;
  /** Alarm-class: the agent sends it at once, bypassing telemetry batching. */
  readonly immediate: boolean;
  readonly subsystem: string;
  readonly text: string;
}

function buildCatalogue(json: {
  codes: readonly CatalogueEntry[];
}): ReadonlyMap<number, CatalogueEntry> {
  const byCode = new Map<number, CatalogueEntry>();
  for (const entry of json.codes) {
    if (!Number.isInteger(entry.code) || entry.code < 1 || entry.code > 0xffff) {
      throw new RangeError(`error catalogue: code ${entry.code} does not fit a 16-bit slot`);
    }
    if (byCode.has(entry.code))
      throw new RangeError(`error catalogue: duplicate code ${entry.code}`);
    byCode.set(entry.code, Object.freeze({ ...entry }));
  }
  return byCode;
}

/** Every catalogue entry by its 16-bit code. */
export const catalogue: ReadonlyMap<number, CatalogueEntry> = buildCatalogue(catalogueJson);

/** The catalogue entry for `code`; throws {@link SimUnknownErrorCodeError} if there is none. */
export function lookupCode(code: unknown): CatalogueEntry {
  const entry = typeof code === 'number' ? catalogue.get(code) : undefined;
  if (entry === undefined) throw new SimUnknownErrorCodeError(code);
  return entry;
}

/** The numeric code of the catalogue entry called `name`; throws if the catalogue lacks it. */
export function codeNamed(name: string): number {
  for (const entry of catalogue.values()) if (entry.name === name) return entry.code;
  throw new RangeError(`error catalogue has no entry named ${name}`);
}
