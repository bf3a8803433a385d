/**
 * Helpers of the serial service-port tests (test/serial*.test.ts): tool checks that skip locally
 * and fail in CI, and a bounded wait for a rejection.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AdapterError } from '../src/index.js';

/** A program a test needs, and the Debian package that has it. */
export interface Tool {
  bin: string;
  pkg: string;
}

export const SOCAT: Tool = { bin: 'socat', pkg: 'socat' };
export const TIO: Tool = { bin: 'tio', pkg: 'tio' };
export const PICOCOM: Tool = { bin: 'picocom', pkg: 'picocom' };
export const TMUX: Tool = { bin: 'tmux', pkg: 'tmux' };

export function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Why the tools are unusable (naming the Debian packages), or null when all are there. */
export function missingTools(tools: readonly Tool[]): string | null {
  const missing = tools.filter((t) => !onPath(t.bin));
  if (missing.length === 0) return null;
  const pkgs = missing.map((t) => t.pkg).join(' ');
  return `needs ${missing.map((t) => t.bin).join(', ')} (Debian package${missing.length > 1 ? 's' : ''} ${pkgs}: apt-get install -y ${pkgs})`;
}

/**
 * `describe`, when the tools are there. Without them: skipped with a message locally, and a
 * failing test naming the packages when CI=true (so CI never passes by skipping).
 */
export function describeWithTools(name: string, tools: readonly Tool[], body: () => void): void {
  const missing = missingTools(tools);
  if (missing === null) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has its tools', () => {
        throw new Error(`${name} ${missing}`);
      });
    });
  } else {
    console.warn(`skipped "${name}": it ${missing}`);
    describe.skip(name, body);
  }
}

/** The AdapterError a promise rejects with (fails the test if it resolves or throws another). */
export async function adapterFailure(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AdapterError);
    return err as AdapterError;
  }
  throw new Error('expected an AdapterError, the call succeeded');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
