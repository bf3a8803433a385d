/**
 * What loading the agent library costs in modules: the packages a device needs only in some
 * configurations (proxy support with its PAC sandbox, Modbus, serial ports and their native
 * binding, the native msgpack string extractor) must not load with src/index.ts. Checked in a fresh Node process, as an OEM's process would
 * load it (the test runner has loaded everything already).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../', import.meta.url));

const PROBE = `
import { createRequire } from 'node:module';
const lib = await import('./src/index.ts');
const require = createRequire(import.meta.url);
const report = process.report.getReport();
console.log(JSON.stringify({
  exports: Object.keys(lib).length,
  cjs: Object.keys(require.cache),
  shared: report.sharedObjects,
}));
`;

describe('modules the agent library loads', () => {
  it('loads no proxy package, PAC sandbox, serial or Modbus package, or native addon up front', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const probe = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      exports: number;
      cjs: string[];
      shared: string[];
    };
    expect(probe.exports).toBeGreaterThan(20);
    const loaded = [...probe.cjs, ...probe.shared].join('\n');
    for (const pkg of [
      'msgpackr-extract', // native addon; root 'msgpackr' import on Node
      'esprima', // pac-proxy-agent → pac-resolver → degenerator
      'escodegen',
      'ast-types',
      'quickjs',
      'basic-ftp', // pac-proxy-agent → get-uri
      'modbus-serial', // loaded at the first Modbus connection
      'serialport', // loaded when a serial port is opened (or by modbus-serial)
      '@serialport/bindings-cpp',
      'tweetnacl', // signing is node:crypto; the keystore loads it when it seals or opens
    ]) {
      expect(loaded, pkg).not.toContain(`/node_modules/${pkg}`);
    }
  });
});
