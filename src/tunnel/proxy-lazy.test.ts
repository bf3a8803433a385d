import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Records which proxy packages were imported. A vi.mock factory runs when the module is first
// imported, so the flags say whether (and when) the library loaded them.
const loaded = vi.hoisted(() => ({ https: 0, pac: 0 }));
vi.mock('https-proxy-agent', async (importOriginal) => {
  loaded.https++;
  return importOriginal();
});
vi.mock('pac-proxy-agent', async (importOriginal) => {
  loaded.pac++;
  return importOriginal();
});

describe('proxy packages load lazily', () => {
  let proxy: Server;
  let proxyUrl: string;
  const connects: string[] = [];

  beforeAll(async () => {
    // A CONNECT proxy that refuses everything: enough to see the request reach it.
    proxy = createServer();
    proxy.on('connect', (req: { url?: string }, socket: Socket) => {
      connects.push(req.url ?? '');
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => proxy.close(() => resolve())));

  it('loads neither package with the library, nor for a direct or PAC-less agent, until a request goes through a proxy', async () => {
    const lib = await import('../index.js');
    const agent = lib.createAgent; // the whole public API is loaded
    expect(agent).toBeTypeOf('function');
    expect(lib.createProxyAgent({ mode: 'none' }, 'wss://hub.example.org/')).toBeUndefined();
    const viaProxy = lib.createProxyAgent({ mode: 'url', url: proxyUrl }, 'http://hub.test:80/');
    const viaPac = lib.createProxyAgent(
      { mode: 'pac', pacUrl: 'file:///nonexistent/proxy.pac' },
      'wss://hub.test/',
    );
    expect(loaded).toEqual({ https: 0, pac: 0 });

    // The first request through the proxy agent loads https-proxy-agent, and only that.
    const err = await new Promise<unknown>((resolve) => {
      const req = request({ host: 'hub.test', port: 80, path: '/', agent: viaProxy });
      req.on('error', resolve);
      req.on('response', (res) => resolve(res.statusCode));
      req.end();
    });
    expect(lib.describeProxyFailure(err)?.code).toBe('PROXY_CONNECT_FAILED');
    expect(connects).toEqual(['hub.test:80']);
    expect(loaded).toEqual({ https: 1, pac: 0 });
    viaProxy?.destroy();
    viaPac?.destroy();
  });
});
