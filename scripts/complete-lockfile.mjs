// Adds the lockfile entries npm 11 leaves out for platform-specific optional dependencies
// (e.g. @rollup/rollup-darwin-arm64 on a linux-x64 machine) but then demands in `npm ci`
// ("Missing: ... from lock file"; see npm/cli#8726, #8805). Run after `npm install` changes the
// lockfile: `node scripts/complete-lockfile.mjs`. Needs the npm registry; changes nothing else.
// Registry mirrors may not carry every platform build (404): such an entry is written from the
// parent's exact version and the platform in the package name, with no integrity. npm never
// fetches it on a machine whose platform does not match, which is the only place it is needed.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const path = 'package-lock.json';
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

/** Where Node would resolve `name` from the package at `from` (walking up node_modules). */
function resolves(from, name) {
  let dir = from;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return true;
    if (!dir) return false;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
}

function lookup(name, range) {
  try {
    const view = JSON.parse(
      execFileSync(
        'npm',
        [
          'view',
          `${name}@${range}`,
          '--json',
          'version',
          'dist.integrity',
          'license',
          'os',
          'cpu',
          'libc',
          'engines',
        ],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      ),
    );
    return Array.isArray(view) ? view.at(-1) : view;
  } catch {
    if (!/^\d+\.\d+\.\d+/.test(range))
      throw new Error(`${name}@${range} is not in the registry and the range is not exact`);
    return { version: range, ...platformOf(name) };
  }
}

/** os/cpu/libc from a platform package name such as rollup-linux-arm-musleabihf or x-win32-x64-msvc. */
function platformOf(name) {
  const oses = [
    'android',
    'darwin',
    'freebsd',
    'linux',
    'openbsd',
    'openharmony',
    'sunos',
    'win32',
    'netbsd',
    'aix',
  ];
  const parts = name.split('/').at(-1).split('-');
  const i = parts.findIndex((p) => oses.includes(p));
  if (i < 0) throw new Error(`cannot tell the platform of ${name}`);
  const out = { os: [parts[i]], cpu: [parts[i + 1]] };
  const abi = parts.slice(i + 2).join('-');
  if (abi.includes('musl')) out.libc = ['musl'];
  else if (abi.includes('gnu') && parts[i] === 'linux') out.libc = ['glibc'];
  return out;
}

let added = 0;
for (const [location, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    if (resolves(location, name)) continue;
    const target = `node_modules/${name}`;
    if (packages[target]) {
      console.warn(`skip ${name}@${range} for ${location}: another version is hoisted`);
      continue;
    }
    const v = lookup(name, range);
    packages[target] = {
      version: v.version,
      ...(v['dist.integrity'] ? { integrity: v['dist.integrity'] } : {}),
      ...(v.cpu ? { cpu: v.cpu } : {}),
      ...(entry.dev ? { dev: true } : {}),
      ...(v.engines ? { engines: v.engines } : {}),
      ...(v.libc ? { libc: v.libc } : {}),
      ...(v.license ? { license: v.license } : {}),
      optional: true,
      ...(v.os ? { os: v.os } : {}),
    };
    added++;
    console.log(`added ${target}@${v.version}`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) =>
    a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  ),
);
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`${added} entries added`);
