import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TunnelError } from './errors.js';
import {
  createProxyAgent,
  describeProxyFailure,
  LazyProxyAgent,
  ProxyError,
  redactProxyUrl,
  type ProxyConfig,
} from './proxy.js';

const HUB = 'wss://hub.example-oem.com/v1/tunnel';

function badConfig(config: unknown, target = HUB): ProxyError {
  try {
    createProxyAgent(config as ProxyConfig, target);
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('PROXY_BAD_CONFIG');
    return err as ProxyError;
  }
  throw new Error(`accepted ${JSON.stringify(config)}`);
}

function proxyOf(agent: HttpAgent | undefined): string | undefined {
  if (agent === undefined) return undefined;
  expect(agent).toBeInstanceOf(LazyProxyAgent);
  expect((agent as LazyProxyAgent).kind).toBe('proxy');
  return (agent as LazyProxyAgent).url.href;
}

describe('createProxyAgent config', () => {
  it('returns undefined (direct) for mode none, and an http.Agent for a proxy URL', () => {
    expect(createProxyAgent({ mode: 'none' }, HUB)).toBeUndefined();
    expect(proxyOf(createProxyAgent({ mode: 'url', url: 'http://proxy.lan:3128' }, HUB))).toBe(
      'http://proxy.lan:3128/',
    );
    expect(createProxyAgent({ mode: 'url', url: 'https://proxy.lan' }, HUB)).toBeInstanceOf(
      HttpAgent,
    );
    expect(
      createProxyAgent({ mode: 'pac', pacUrl: 'file:///etc/outpost/proxy.pac' }, HUB),
    ).toBeInstanceOf(HttpAgent);
  });

  it('refuses unusable configs with a message a technician can act on', () => {
    expect(badConfig({ mode: 'socks' }).message).toMatch(/"none", "env", "url", "pac"/);
    expect(badConfig(undefined).message).toMatch(/proxy mode/);
    expect(badConfig({ mode: 'url', url: '' }).message).toMatch(/empty; expected http:\/\//);
    expect(badConfig({ mode: 'url' }).message).toMatch(/empty/);
    expect(badConfig({ mode: 'url', url: 'proxy.lan:3128' }).message).toMatch(/no scheme/);
    expect(badConfig({ mode: 'url', url: 'socks5://proxy.lan:1080' }).message).toMatch(
      /socks5:\/\/, which is not supported.*HTTP CONNECT/,
    );
    expect(badConfig({ mode: 'url', url: 'http://' }).message).toMatch(/not a valid URL/);
    expect(badConfig({ mode: 'url', url: 'http://u:100%zz@proxy.lan' }).message).toMatch(
      /percent-encoding/,
    );
    expect(badConfig({ mode: 'pac', pacUrl: 'proxy.pac' }).message).toMatch(/file:\/\/\/path/);
    expect(badConfig({ mode: 'pac', pacUrl: 'ftp://x/proxy.pac' }).message).toMatch(/PAC URL/);
    expect(badConfig({ mode: 'none' }, 'ftp://hub').message).toMatch(/hub URL scheme ftp:/);
    expect(badConfig({ mode: 'none' }, 'not a url').message).toMatch(/hub URL/);
    expect(() => createProxyAgent({ mode: 'none' }, HUB, { connectTimeoutMs: 0 })).toThrow(
      /connectTimeoutMs/,
    );
  });

  it('never puts the proxy password in an error', () => {
    for (const url of [
      'http://tech:hunter2@proxy lan:3128', // unparseable
      'socks5://tech:hunter2@proxy.lan:1080',
      'http://tech:hunter2%zz@proxy.lan',
      'tech:hunter2@proxy.lan:3128',
    ]) {
      const err = badConfig({ mode: 'url', url });
      expect(err.message).not.toContain('hunter2');
      expect(err.message).toContain('tech:***@');
      expect(err.cause).toBeUndefined();
    }
  });
});

describe('env mode', () => {
  const VARS = ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];
  const VARS_HTTP = ['http_proxy', 'HTTP_PROXY', 'wss_proxy', 'WSS_PROXY'];
  const env = (vars: Record<string, string>): string | undefined => {
    for (const name of [...VARS, ...VARS_HTTP]) vi.stubEnv(name, undefined);
    for (const [name, value] of Object.entries(vars)) vi.stubEnv(name, value);
    return proxyOf(createProxyAgent({ mode: 'env' }, HUB));
  };
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('uses HTTPS_PROXY, https_proxy first, then ALL_PROXY; HTTP_PROXY does not apply to wss://', () => {
    expect(env({})).toBeUndefined();
    expect(env({ HTTPS_PROXY: 'http://a:3128' })).toBe('http://a:3128/');
    expect(env({ https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' })).toBe(
      'http://lower:1/',
    );
    expect(env({ ALL_PROXY: 'http://all:3' })).toBe('http://all:3/');
    expect(env({ all_proxy: 'http://all:3', HTTPS_PROXY: 'http://a:4' })).toBe('http://a:4/');
    expect(env({ HTTP_PROXY: 'http://plain:5', http_proxy: 'http://plain:5' })).toBeUndefined();
  });

  it('reads a value without a scheme as http://, as curl does', () => {
    expect(env({ HTTPS_PROXY: 'proxy.lan:3128' })).toBe('http://proxy.lan:3128/');
    expect(env({ HTTPS_PROXY: 'u:p@proxy.lan:3128' })).toBe('http://u:p@proxy.lan:3128/');
  });

  it('honours NO_PROXY: exact hosts, suffixes, ports and *', () => {
    const P = { HTTPS_PROXY: 'http://proxy.lan:3128' };
    expect(env({ ...P, NO_PROXY: 'hub.example-oem.com' })).toBeUndefined();
    expect(env({ ...P, no_proxy: 'localhost, .example-oem.com' })).toBeUndefined();
    expect(env({ ...P, NO_PROXY: '*.example-oem.com' })).toBeUndefined();
    expect(env({ ...P, NO_PROXY: '*' })).toBeUndefined();
    expect(env({ ...P, NO_PROXY: 'hub.example-oem.com:443' })).toBeUndefined();
    expect(env({ ...P, NO_PROXY: 'hub.example-oem.com:8443' })).toBe('http://proxy.lan:3128/');
    expect(env({ ...P, NO_PROXY: 'example-oem.com' })).toBe('http://proxy.lan:3128/'); // exact only
    expect(env({ ...P, NO_PROXY: 'other.org,10.0.0.1' })).toBe('http://proxy.lan:3128/');
  });

  it('names the variable when its value is unusable, without the password', () => {
    for (const name of [...VARS, ...VARS_HTTP]) vi.stubEnv(name, undefined);
    vi.stubEnv('ALL_PROXY', 'socks5://tech:hunter2@proxy.lan:1080');
    const err = badConfig({ mode: 'env' });
    expect(err.message).toContain('ALL_PROXY');
    expect(err.message).not.toContain('hunter2');
  });
});

describe('redactProxyUrl', () => {
  it('masks the password and keeps everything else', () => {
    expect(redactProxyUrl('http://tech:hunter2@proxy.lan:3128')).toBe(
      'http://tech:***@proxy.lan:3128',
    );
    expect(redactProxyUrl('http://tech@proxy.lan:3128/')).toBe('http://tech@proxy.lan:3128/');
    expect(redactProxyUrl('http://proxy.lan:3128')).toBe('http://proxy.lan:3128');
    expect(redactProxyUrl('http://[::1]:3128')).toBe('http://[::1]:3128');
    expect(redactProxyUrl('http://proxy.lan/a@b')).toBe('http://proxy.lan/a@b');
    expect(redactProxyUrl('tech:hunter2@proxy.lan:3128')).toBe('tech:***@proxy.lan:3128');
    // Unparseable, with '@' and ':' inside the password.
    expect(redactProxyUrl('http://tech:hu@n:ter 2@proxy.lan:3128')).toBe(
      'http://tech:***@proxy.lan:3128',
    );
    expect(redactProxyUrl('PROXY tech:hunter2@proxy.lan:3128')).not.toContain('hunter2');
  });
});

describe('describeProxyFailure', () => {
  it('finds the ProxyError in a cause chain, and nothing in other errors', () => {
    const proxy = new ProxyError('PROXY_AUTH_FAILED', 'x', { status: 407 });
    expect(describeProxyFailure(proxy)).toBe(proxy);
    const tunnel = new TunnelError('TUNNEL_CONNECT_FAILED', 'y', { cause: proxy });
    expect(describeProxyFailure(new Error('z', { cause: tunnel }))).toBe(proxy);
    expect(describeProxyFailure(new TunnelError('TUNNEL_TLS_REJECTED', 'w'))).toBeUndefined();
    expect(describeProxyFailure('string')).toBeUndefined();
    expect(describeProxyFailure(undefined)).toBeUndefined();
    const loop = new Error('a');
    loop.cause = new Error('b', { cause: loop });
    expect(describeProxyFailure(loop)).toBeUndefined();
  });
});

/** An in-process CONNECT proxy that answers as told, for the failure paths. */
describe('proxy phase failures (in-process CONNECT proxy on loopback)', () => {
  let proxy: Server;
  let port: number;
  let answer: (req: IncomingMessage, socket: Socket) => void;
  const seen: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  let dir: string;

  beforeAll(async () => {
    proxy = createServer();
    proxy.on('connect', (req: IncomingMessage, socket: Socket) => {
      seen.push(req);
      socket.on('error', () => undefined);
      sockets.add(socket);
      answer(req, socket);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    port = (proxy.address() as AddressInfo).port;
    dir = mkdtempSync(join(tmpdir(), 'outpost-proxy-unit-'));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy(); // CONNECT sockets are detached from the server
    await new Promise((r) => proxy.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const reply =
    (status: string) =>
    (_req: IncomingMessage, socket: Socket): void => {
      socket.end(`HTTP/1.1 ${status}\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n`);
    };

  /** Dials a TLS endpoint through the agent; resolves with the request's error. */
  function dial(config: ProxyConfig, connectTimeoutMs?: number): Promise<unknown> {
    const agent = createProxyAgent(config, 'wss://127.0.0.1:9/v1/tunnel', { connectTimeoutMs });
    return new Promise((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port: 9, path: '/v1/tunnel', agent });
      req.on('error', resolve);
      req.on('response', () => resolve(new Error('unexpected response')));
      req.end();
    });
  }

  it('maps 407 to PROXY_AUTH_FAILED and sends percent-decoded Basic credentials', async () => {
    answer = reply('407 Proxy Authentication Required');
    const err = await dial({ mode: 'url', url: `http://te%40ch:p%3Ass@127.0.0.1:${port}` });
    const failure = describeProxyFailure(err);
    expect(failure).toMatchObject({ code: 'PROXY_AUTH_FAILED', status: 407 });
    expect(failure?.message).toMatch(/rejected the configured credentials/);
    expect(failure?.message).not.toContain('p%3Ass');
    expect(failure?.message).not.toContain('p:ss');
    const req = seen.at(-1)!;
    expect(req.url).toBe('127.0.0.1:9');
    expect(req.headers['proxy-authorization']).toBe(
      `Basic ${Buffer.from('te@ch:p:ss').toString('base64')}`,
    );
  });

  it('tells a proxy that wants credentials from one that refuses the destination', async () => {
    answer = reply('407 Proxy Authentication Required');
    const auth = describeProxyFailure(await dial({ mode: 'url', url: `http://127.0.0.1:${port}` }));
    expect(auth?.message).toMatch(/requires a user name and password; put them in the proxy URL/);
    answer = reply('403 Forbidden');
    const refused = describeProxyFailure(
      await dial({ mode: 'url', url: `http://127.0.0.1:${port}` }),
    );
    expect(refused).toMatchObject({ code: 'PROXY_CONNECT_FAILED', status: 403 });
    expect(refused?.message).toMatch(/refused CONNECT to 127\.0\.0\.1:9 \(HTTP 403 Forbidden\)/);
  });

  it('reports an unreachable proxy as PROXY_CONNECT_FAILED', async () => {
    const err = describeProxyFailure(await dial({ mode: 'url', url: 'http://127.0.0.1:1' }));
    expect(err?.code).toBe('PROXY_CONNECT_FAILED');
    expect(err?.message).toMatch(/ECONNREFUSED/);
  });

  it('gives up on a proxy that never answers CONNECT (PROXY_TIMEOUT)', async () => {
    answer = () => undefined; // accept, say nothing
    const started = Date.now();
    const err = describeProxyFailure(
      await dial({ mode: 'url', url: `http://127.0.0.1:${port}` }, 200),
    );
    expect(err?.code).toBe('PROXY_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports a PAC file that cannot be loaded or fails as PROXY_PAC_FAILED', async () => {
    const missing = pathToFileURL(join(dir, 'missing.pac')).href;
    const notFound = describeProxyFailure(await dial({ mode: 'pac', pacUrl: missing }));
    expect(notFound?.code).toBe('PROXY_PAC_FAILED');
    expect(notFound?.message).toContain(missing);

    const throwing = join(dir, 'throws.pac');
    writeFileSync(throwing, 'function FindProxyForURL(url, host) { throw new Error("boom"); }');
    const failed = describeProxyFailure(
      await dial({ mode: 'pac', pacUrl: pathToFileURL(throwing).href }),
    );
    expect(failed?.code).toBe('PROXY_PAC_FAILED');
    expect(failed?.message).toMatch(/FindProxyForURL/);
  });

  it('uses the proxy a PAC file picks, with myIpAddress() answered locally', async () => {
    answer = reply('403 Forbidden');
    const pac = join(dir, 'pick.pac');
    writeFileSync(
      pac,
      `function FindProxyForURL(url, host) {
        var ok = /^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(myIpAddress()) && host === '127.0.0.1';
        return ok ? 'PROXY 127.0.0.1:1; PROXY 127.0.0.1:${port}' : 'DIRECT';
      }`,
    );
    const err = describeProxyFailure(await dial({ mode: 'pac', pacUrl: pathToFileURL(pac).href }));
    // The first proxy is down, the second answers: its refusal is what is reported.
    expect(err).toMatchObject({ code: 'PROXY_CONNECT_FAILED', status: 403 });
    expect(err?.message).toContain(`PROXY 127.0.0.1:${port} (from PAC file file://`);
  });
});
