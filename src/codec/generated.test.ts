import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The .proto is the source of truth: the committed static codec must be what it generates.
describe('generated codec', () => {
  it('is current with protocols/outpost/v1/outpost.proto (run `npm run gen` if this fails)', () => {
    const out = mkdtempSync(join(tmpdir(), 'outpost-gen-'));
    try {
      execFileSync(process.execPath, ['scripts/gen-proto.mjs'], {
        env: { ...process.env, OUTPOST_GEN_OUT: out },
      });
      for (const file of ['outpost.js', 'outpost.d.ts']) {
        expect(readFileSync(join(out, file), 'utf8'), file).toBe(
          readFileSync(join('src/codec/gen', file), 'utf8'),
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
