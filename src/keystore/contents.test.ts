import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyContents, validateContents, type KeystoreContents } from './contents.js';
import { KeystoreError } from './errors.js';
import { expectKeystoreError, forbiddenText, sampleContents } from './test-fixtures.js';

function invalid(value: unknown, code: 'KEYSTORE_CORRUPT' | 'KEYSTORE_INVALID_CONTENTS') {
  try {
    validateContents(value, code);
  } catch (err) {
    return err;
  }
  throw new Error('expected validateContents to throw');
}

describe('validateContents', () => {
  it('accepts full contents and returns an independent deep copy', () => {
    const c = sampleContents();
    const v = validateContents(c);
    expect(v).toEqual(c);
    expect(v.identity?.secretKey).not.toBe(c.identity?.secretKey);
    expect(v.releaseKeys[0]).not.toBe(c.releaseKeys[0]);
    v.identity?.secretKey.fill(0);
    expect(c.identity?.secretKey.some((b) => b !== 0)).toBe(true);
  });

  it('accepts minimal contents and drops optional fields set to undefined', () => {
    const min = { version: 1, deviceId: 'd', caPems: [], releaseKeys: [], updatedAtMs: 0 };
    expect(validateContents({ ...min, tls: undefined, identity: undefined })).toEqual(min);
    expect(Object.keys(validateContents({ ...min, tls: undefined }))).not.toContain('tls');
  });

  it('copies Buffers into plain Uint8Arrays', () => {
    const c = sampleContents();
    const v = validateContents({ ...c, hubIdentityKey: Buffer.from(c.hubIdentityKey ?? []) });
    expect(Object.getPrototypeOf(v.hubIdentityKey)).toBe(Uint8Array.prototype);
  });

  const c = sampleContents();
  const id = c.identity as NonNullable<KeystoreContents['identity']>;
  const cases: [string, unknown][] = [
    ['not an object', 'contents'],
    ['an array', [c]],
    ['version 2', { ...c, version: 2 }],
    ['missing deviceId', { ...c, deviceId: undefined }],
    ['empty deviceId', { ...c, deviceId: '' }],
    ['overlong deviceId', { ...c, deviceId: 'x'.repeat(257) }],
    [
      'identity.secretKey of 10 bytes',
      { ...c, identity: { ...id, secretKey: new Uint8Array(10) } },
    ],
    ['identity.publicKey as number[]', { ...c, identity: { ...id, publicKey: [...id.publicKey] } }],
    [
      'identity.secretKey of another key pair',
      { ...c, identity: { ...id, secretKey: sampleContents().identity?.secretKey } },
    ],
    ['identity with an extra field', { ...c, identity: { ...id, seed: new Uint8Array(32) } }],
    ['tls.keyPem not PEM', { ...c, tls: { ...c.tls, keyPem: 'hello' } }],
    ['tls.notAfterMs negative', { ...c, tls: { ...c.tls, notAfterMs: -1 } }],
    ['tls.notAfterMs fractional', { ...c, tls: { ...c.tls, notAfterMs: 1.5 } }],
    ['previousTls null', { ...c, previousTls: null }],
    ['caPems not an array', { ...c, caPems: c.caPems[0] }],
    ['too many caPems', { ...c, caPems: Array(33).fill(c.caPems[0]) }],
    ['spkiPin not base64 of 32 bytes', { ...c, spkiPins: ['abc='] }],
    ['hubIdentityKey of 31 bytes', { ...c, hubIdentityKey: new Uint8Array(31) }],
    ['hubIdentityKey as Int8Array', { ...c, hubIdentityKey: new Int8Array(32) }],
    ['releaseKeys holding a string', { ...c, releaseKeys: ['k'] }],
    ['missing releaseKeys', { ...c, releaseKeys: undefined }],
    ['updatedAtMs a string', { ...c, updatedAtMs: '1' }],
    ['an unknown top-level field', { ...c, extra: 1 }],
  ];
  it.each(cases)('rejects %s as KEYSTORE_CORRUPT without echoing values', (_name, value) => {
    expectKeystoreError(
      invalid(value, 'KEYSTORE_CORRUPT'),
      'KEYSTORE_CORRUPT',
      forbiddenText({ contents: c }),
    );
  });

  it('uses the code it is given, and names unknown fields only for a mutator', () => {
    const err = invalid({ ...c, sneaky: 1 }, 'KEYSTORE_INVALID_CONTENTS') as KeystoreError;
    expect(err.code).toBe('KEYSTORE_INVALID_CONTENTS');
    expect(err.message).toContain('sneaky');
    expect((invalid({ ...c, sneaky: 1 }, 'KEYSTORE_CORRUPT') as Error).message).not.toContain(
      'sneaky',
    );
  });

  it('never throws anything but KEYSTORE_CORRUPT on arbitrary input', () => {
    const nearlyValid = fc.record(
      {
        version: fc.oneof(fc.constant(1), fc.anything()),
        deviceId: fc.oneof(fc.string(), fc.anything()),
        identity: fc.anything({ withTypedArray: true }),
        caPems: fc.array(fc.oneof(fc.string(), fc.constant('-----BEGIN X-----'))),
        releaseKeys: fc.array(fc.uint8Array({ minLength: 30, maxLength: 34 })),
        updatedAtMs: fc.oneof(fc.nat(), fc.double()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.anything({ withTypedArray: true }), nearlyValid), (value) => {
        try {
          validateContents(value);
        } catch (err) {
          expect(err).toBeInstanceOf(KeystoreError);
          expect((err as KeystoreError).code).toBe('KEYSTORE_CORRUPT');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('copyContents', () => {
  it('is deep: changing the copy leaves the original alone', () => {
    const c = sampleContents();
    const copy = copyContents(c);
    expect(copy).toEqual(c);
    copy.releaseKeys[0]?.fill(0);
    copy.caPems.push('x');
    if (copy.tls) copy.tls.notAfterMs = 0;
    expect(copy).not.toEqual(c);
    expect(c.releaseKeys[0]?.some((b) => b !== 0)).toBe(true);
    expect(c.caPems).toHaveLength(1);
    expect(c.tls?.notAfterMs).toBe(1_900_000_000_000);
  });
});

describe('the leak check used by these tests', () => {
  it('catches a secret key leaked in hex, base64 or via a cause', () => {
    const c = sampleContents();
    const forbidden = forbiddenText({ contents: c });
    const sk = Buffer.from(c.identity?.secretKey ?? []);
    for (const leak of [
      new KeystoreError('KEYSTORE_CORRUPT', `bad ${sk.toString('hex')}`),
      new KeystoreError('KEYSTORE_CORRUPT', `bad ${sk.subarray(0, 20).toString('base64')}`),
      new KeystoreError('KEYSTORE_CORRUPT', 'bad', { cause: new Error(c.deviceId) }),
    ]) {
      expect(() => expectKeystoreError(leak, 'KEYSTORE_CORRUPT', forbidden)).toThrow(/leaks/);
    }
  });
});
