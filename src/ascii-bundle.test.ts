/**
 * The library's code must bundle to ASCII only. V8 keeps the source text of every script for
 * lazy compilation, as a one-byte string when every character is Latin-1 and as a two-byte
 * string otherwise: one em dash in a comment esbuild keeps (JSDoc on class members) or in a
 * regular expression doubles the memory of the agent's whole chunk (about 0.4 MiB of heap).
 * Escape such characters in regular expressions (`\u2014`) and keep them out of class-member
 * comments; string literals are escaped by esbuild.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../', import.meta.url));

describe('library bundle', () => {
  it('is ASCII only (V8 then holds its source as a one-byte string)', () => {
    const r = spawnSync(
      `${REPO}node_modules/.bin/esbuild`,
      [
        'src/index.ts',
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--target=node20',
        '--packages=external',
        '--log-level=warning',
      ],
      { cwd: REPO, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    expect(r.status, r.stderr).toBe(0);
    const offending = r.stdout
      .split('\n')
      .map((line, i) => [i + 1, line] as const)
      .filter(([, line]) => /[\u0080-\uffff]/.test(line))
      .map(([n, line]) => `${n}: ${line.trim().slice(0, 100)}`);
    expect(offending).toEqual([]);
  });
});
