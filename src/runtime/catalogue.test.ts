import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import catalogueJson from '../../protocols/error-codes.json' with { type: 'json' };
import { ConfigError } from '../adapters/errors.js';
import { parseErrorCatalogue } from './catalogue.js';

function configError(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect((caught as ConfigError).code).toBe('OUTPOST_BAD_CONFIG');
  return caught as ConfigError;
}

const entry = { code: 10, severity: 'warning', immediate: false };

describe('parseErrorCatalogue: the shipped catalogue', () => {
  const catalogue = parseErrorCatalogue(catalogueJson);

  it('knows every code in protocols/error-codes.json', () => {
    expect(catalogue.size).toBe(catalogueJson.codes.length);
    expect(catalogue.size).toBe(18);
    for (const c of catalogueJson.codes) {
      expect(catalogue.lookup(c.code)).toEqual({
        code: c.code,
        name: c.name,
        severity: c.severity,
        immediate: c.immediate,
        subsystem: c.subsystem,
        text: c.text,
      });
    }
  });

  it('classifies alarm-class and batched codes as the file says', () => {
    expect(catalogue.lookup(1001)).toMatchObject({
      name: 'GEN_KV_OUT_OF_RANGE',
      severity: 'critical',
      immediate: true,
      subsystem: 'generator',
    });
    expect(catalogue.lookup(2001)).toMatchObject({
      name: 'TUBE_HEAT_WARNING',
      severity: 'warning',
      immediate: false,
      subsystem: 'tube',
    });
    expect(catalogue.lookup(3004)).toMatchObject({ severity: 'info', immediate: false });
  });

  it('treats an unknown code as alarm-class with severity error', () => {
    const info = catalogue.lookup(4242);
    expect(info).toMatchObject({
      code: 4242,
      name: 'E4242',
      severity: 'error',
      immediate: true,
      subsystem: 'unknown',
    });
    expect(info.text).toContain('4242');
  });
});

describe('parseErrorCatalogue: entries', () => {
  it('fills name, subsystem and text when the entry leaves them out', () => {
    const c = parseErrorCatalogue({ codes: [{ code: 77, severity: 'info', immediate: true }] });
    expect(c.lookup(77)).toEqual({
      code: 77,
      name: 'E77',
      severity: 'info',
      immediate: true,
      subsystem: 'unknown',
      text: '',
    });
  });

  it('an empty catalogue is valid and classifies every code as unknown', () => {
    const c = parseErrorCatalogue({ codes: [] });
    expect(c.size).toBe(0);
    expect(c.lookup(1)).toMatchObject({ immediate: true, severity: 'error' });
  });

  it('accepts the extremes of the code range', () => {
    const c = parseErrorCatalogue({
      codes: [
        { ...entry, code: 1 },
        { ...entry, code: 65535 },
      ],
    });
    expect(c.size).toBe(2);
    expect(c.lookup(65535).immediate).toBe(false);
  });
});

describe('parseErrorCatalogue: rejects bad input with the offending path', () => {
  const cases: Array<[string, unknown, string]> = [
    ['null', null, 'errorCatalogue'],
    ['a string', 'codes', 'errorCatalogue'],
    ['no codes', {}, 'errorCatalogue'],
    ['codes not an array', { codes: { 1: entry } }, 'errorCatalogue'],
    ['an entry that is null', { codes: [entry, null] }, 'errorCatalogue.codes[1]'],
    ['an entry that is a number', { codes: [7] }, 'errorCatalogue.codes[0]'],
    ['a missing code', { codes: [{ ...entry, code: undefined }] }, 'errorCatalogue.codes[0].code'],
    ['code 0', { codes: [{ ...entry, code: 0 }] }, 'errorCatalogue.codes[0].code'],
    ['code 65536', { codes: [{ ...entry, code: 65536 }] }, 'errorCatalogue.codes[0].code'],
    ['a fractional code', { codes: [{ ...entry, code: 1.5 }] }, 'errorCatalogue.codes[0].code'],
    ['a code as a string', { codes: [{ ...entry, code: '10' }] }, 'errorCatalogue.codes[0].code'],
    [
      'a duplicate code',
      { codes: [entry, { ...entry, severity: 'error' }] },
      'errorCatalogue.codes[1].code',
    ],
    [
      'an unknown severity',
      { codes: [{ ...entry, severity: 'fatal' }] },
      'errorCatalogue.codes[0].severity',
    ],
    [
      'a missing severity',
      { codes: [{ ...entry, severity: undefined }] },
      'errorCatalogue.codes[0].severity',
    ],
    [
      'immediate as a string',
      { codes: [{ ...entry, immediate: 'true' }] },
      'errorCatalogue.codes[0].immediate',
    ],
    [
      'a missing immediate',
      { codes: [{ ...entry, immediate: undefined }] },
      'errorCatalogue.codes[0].immediate',
    ],
  ];

  for (const [what, input, path] of cases) {
    it(`${what} → ${path}`, () => {
      expect(configError(() => parseErrorCatalogue(input)).path).toBe(path);
    });
  }

  it('uses the path it is given as the root', () => {
    const e = configError(() => parseErrorCatalogue({ codes: [{ code: 5 }] }, 'catalogue'));
    expect(e.path).toBe('catalogue.codes[0].severity');
  });

  it('any JSON either parses or throws a ConfigError', () => {
    const entryish = fc.record(
      {
        code: fc.oneof(fc.integer({ min: -1, max: 70000 }), fc.jsonValue()),
        severity: fc.oneof(fc.constantFrom('info', 'warning', 'error', 'critical'), fc.jsonValue()),
        immediate: fc.oneof(fc.boolean(), fc.jsonValue()),
        name: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ codes: fc.array(entryish, { maxLength: 4 }) })),
        (input) => {
          let catalogue;
          try {
            catalogue = parseErrorCatalogue(input);
          } catch (err) {
            expect(err).toBeInstanceOf(ConfigError);
            expect((err as ConfigError).path).toMatch(/^errorCatalogue/);
            return;
          }
          expect(catalogue.size).toBe((input as { codes: unknown[] }).codes.length);
          for (const raw of (input as { codes: Array<{ code: number; immediate: boolean }> })
            .codes) {
            expect(catalogue.lookup(raw.code).immediate).toBe(raw.immediate);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
