import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { SEALED_FORMAT, sealContents, unsealContents } from './sealed-format.js';
import { expectKeystoreError, forbiddenText, sampleContents } from './test-fixtures.js';

const key = () => new Uint8Array(randomBytes(32));

/** Seals arbitrary data the way the format does, independently of `sealContents`. */
function sealRaw(plaintext: Uint8Array, k: Uint8Array): Uint8Array {
  const nonce = nacl.randomBytes(24);
  const box = nacl.secretbox(plaintext, nonce, k);
  return Uint8Array.from([...Buffer.from('OPKS'), 1, ...nonce, ...box]);
}

function unsealError(file: Uint8Array, k: Uint8Array): unknown {
  try {
    unsealContents(file, k, 'test.keystore');
  } catch (err) {
    return err;
  }
  throw new Error('expected unsealContents to throw');
}

describe('sealed format', () => {
  it('round-trips contents and lays out the header as documented', () => {
    const c = sampleContents();
    const k = key();
    const file = sealContents(c, k);
    expect(Buffer.from(file.subarray(0, 4)).toString('latin1')).toBe('OPKS');
    expect(file[4]).toBe(1);
    expect(file.length).toBeGreaterThan(SEALED_FORMAT.headerLength + SEALED_FORMAT.overheadLength);
    expect(unsealContents(file, k, 'x')).toEqual(c);
  });

  it('uses a fresh nonce for every seal', () => {
    const c = sampleContents();
    const k = key();
    const nonces = new Set(
      Array.from({ length: 20 }, () =>
        Buffer.from(sealContents(c, k).subarray(5, 29)).toString('hex'),
      ),
    );
    expect(nonces.size).toBe(20);
  });

  it('a wrong key is KEYSTORE_UNSEAL_FAILED', () => {
    const c = sampleContents();
    const k = key();
    const other = key();
    expectKeystoreError(
      unsealError(sealContents(c, k), other),
      'KEYSTORE_UNSEAL_FAILED',
      forbiddenText({ keys: [k, other], contents: c }),
    );
  });

  it('every truncation is KEYSTORE_CORRUPT or KEYSTORE_UNSEAL_FAILED', () => {
    const c = sampleContents();
    const k = key();
    const file = sealContents(c, k);
    const forbidden = forbiddenText({ keys: [k], contents: c });
    for (let n = 0; n < file.length; n++) {
      const err = unsealError(file.subarray(0, n), k);
      expectKeystoreError(err, ['KEYSTORE_CORRUPT', 'KEYSTORE_UNSEAL_FAILED'], forbidden);
    }
  });

  it('rejects a bad magic and an unknown version as KEYSTORE_CORRUPT', () => {
    const k = key();
    const file = sealContents(sampleContents(), k);
    const badMagic = file.slice();
    badMagic[0] = 0x58;
    const v2 = file.slice();
    v2[4] = 2;
    expectKeystoreError(unsealError(badMagic, k), 'KEYSTORE_CORRUPT');
    expectKeystoreError(unsealError(v2, k), 'KEYSTORE_CORRUPT');
  });

  it('random bodies behind a valid header never unseal', () => {
    const k = key();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (body) => {
        const file = Uint8Array.from([...Buffer.from('OPKS'), 1, ...body]);
        expectKeystoreError(unsealError(file, k), ['KEYSTORE_CORRUPT', 'KEYSTORE_UNSEAL_FAILED']);
      }),
      { numRuns: 200 },
    );
  });

  describe('sealed payloads that decrypt but are malformed are KEYSTORE_CORRUPT', () => {
    const c = sampleContents();
    const id = c.identity as NonNullable<typeof c.identity>;
    const { deviceId: _omit, ...withoutDeviceId } = c;
    const cases: [string, () => Uint8Array][] = [
      [
        'identity.secretKey of 10 bytes',
        () => pack({ ...c, identity: { ...id, secretKey: new Uint8Array(10) } }),
      ],
      ['missing deviceId', () => pack(withoutDeviceId)],
      ['a string instead of a map', () => pack('hello')],
      [
        'releaseKeys holding a 31-byte key',
        () => pack({ ...c, releaseKeys: [new Uint8Array(31)] }),
      ],
      ['contents version 2', () => pack({ ...c, version: 2 })],
      ['trailing bytes after the map', () => Buffer.concat([pack(c), Buffer.from([0xc3])])],
      ['not MessagePack at all', () => Uint8Array.of(0xc1)],
      ['an empty plaintext', () => new Uint8Array(0)],
    ];
    it.each(cases)('%s', (_name, plaintext) => {
      const k = key();
      const err = expectKeystoreError(
        unsealError(sealRaw(plaintext(), k), k),
        'KEYSTORE_CORRUPT',
        forbiddenText({ keys: [k], contents: c }),
      );
      expect(err.cause).toBeUndefined();
    });
  });
});
