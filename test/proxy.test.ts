import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { get as httpsGet, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSimulator, type Simulator } from '../firmware-sim/index.js';
import { createTestPki, startHub, type Hub } from '../hub/index.js';
import { createAgent, jsonLogger, modbusTcpAdapter, type Agent } from '../src/index.js';
import { TLS_POLICY, type TunnelError } from '../src/tunnel/index.js';
import { createProxyAgent, describeProxyFailure, type ProxyConfig } from '../src/tunnel/proxy.js';
import { catalogue, enrolIdentity, hubOptions, registerMap, waitFor } from './helpers.js';
import { findTinyproxy, startTinyproxy, TINYPROXY_PACKAGE, type Tinyproxy } from './tinyproxy.js';

const tinyproxyBin = findTinyproxy();
const installHint = `tinyproxy is not installed: apt-get install ${TINYPROXY_PACKAGE} (.ci/run installs it in CI)`;

if (!tinyproxyBin && process.env.CI === 'true') {
  describe('proxies', () => {
    it('needs tinyproxy in CI', () => {
      throw new Error(installHint);
    });
  });
} else if (!tinyproxyBin) {
  console.warn(`test/proxy.test.ts skipped: ${installHint}`);
}

const PROXY_VARS = [
  'https_proxy',
  'HTTPS_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'no_proxy',
  'NO_PROXY',
  'http_proxy',
  'HTTP_PROXY',
];
const USER = 'radiology';
const PASSWORD = 'Sup3r-S3cret-pw';

describe.skipIf(!tinyproxyBin)('the tunnel through a real tinyproxy on loopback', () => {
  let pki: Awaited<ReturnType<typeof createTestPki>>;
  let hub: Hub;
  let sim: Simulator;
  let open: Tinyproxy;
  let authed: Tinyproxy;
  let dir: string;
  const agents: Agent[] = [];
  const identities: Record<string, ReturnType<typeof enrolIdentity>> = {};
  const logLines: string[] = [];

  beforeAll(async () => {
    const deviceIds = ['XR200-P1', 'XR200-P2', 'XR200-P3', 'XR200-P4', 'XR200-P5', 'XR200-P6'];
    pki = await createTestPki({ deviceIds, hubName: 'test-hub' });
    [hub, sim, open, authed] = await Promise.all([
      startHub({ tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem } }),
      startSimulator({ seed: 5, controlPort: false }),
      startTinyproxy(),
      startTinyproxy({ basicAuth: { user: USER, password: PASSWORD } }),
    ]);
    for (const id of deviceIds) identities[id] = enrolIdentity(hub, id);
    dir = mkdtempSync(join(tmpdir(), 'outpost-pac-'));
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ drainTimeoutMs: 1000 })));
    vi.unstubAllEnvs();
  });
  afterAll(async () => {
    await Promise.all([hub?.close(), sim?.close(), open?.close(), authed?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function agentFor(deviceId: string, proxy: ProxyConfig): Agent {
    const agent = createAgent({
      identity: identities[deviceId]!.identity,
      adapter: modbusTcpAdapter({ host: '127.0.0.1', port: sim.modbusPort, registerMap }),
      errorCatalogue: catalogue,
      hub: hubOptions(hub, pki, deviceId),
      pollIntervalMs: 100,
      errorPollIntervalMs: 0,
      telemetry: { sendIntervalMs: 200 },
      tunnel: { agent: createProxyAgent(proxy, hub.url) },
      logger: jsonLogger({ level: 'debug', write: (l) => logLines.push(l) }),
    });
    agents.push(agent);
    return agent;
  }

  /** Starts the agent and waits until the hub has stored telemetry from it. */
  async function delivers(agent: Agent): Promise<void> {
    const before = hub.store.counts(agent.deviceId).samples;
    await agent.start();
    expect(await waitFor(() => agent.stats().tunnel === 'open')).toBe(true);
    expect(await waitFor(() => hub.store.counts(agent.deviceId).samples >= before + 3)).toBe(true);
    expect(hub.isConnected(agent.deviceId)).toBe(true);
  }

  const connects = (p: Tinyproxy): number => p.connects('127.0.0.1', hub.port);

  it('opens the mutually authenticated tunnel through the proxy and stores telemetry', async () => {
    const before = connects(open);
    await delivers(agentFor('XR200-P1', { mode: 'url', url: open.url }));
    // The hub identifies the device by its client certificate and the inner handshake is bound
    // to the TLS session (exporter), so TLS with the client certificate ran end to end.
    expect(connects(open)).toBe(before + 1);
  });

  // The client certificate's passage is proven by the tunnel opening at all (case above): the
  // hub refuses the WebSocket upgrade without a verified one.
  it('carries the TLS options through CONNECT to tls.connect (policy, servername, CA)', async () => {
    const agent = createProxyAgent({ mode: 'url', url: open.url }, hub.url)!;
    const d = pki.devices['XR200-P1']!;
    const base: RequestOptions = {
      host: '127.0.0.1',
      port: hub.port,
      path: '/healthz',
      agent,
      ca: pki.ca.certPem,
      cert: d.certPem,
      key: d.keyPem,
      servername: 'localhost',
      ...TLS_POLICY,
    };
    const ok = await healthz(base);
    expect(ok).toMatchObject({ status: 200, protocol: 'TLSv1.3' });
    expect(['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']).toContain(ok.cipher);
    // Each option reaches the TLS layer behind the proxy: change one and the outcome changes.
    const tlsErrors = hub.stats().tlsErrors;
    expect((await healthz({ ...base, ciphers: 'TLS_AES_128_GCM_SHA256' })).error).toBeDefined();
    expect(await waitFor(() => hub.stats().tlsErrors > tlsErrors)).toBe(true);
    expect((await healthz({ ...base, servername: 'not-the-hub.example' })).error).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    expect((await healthz({ ...base, ca: pki.server.certPem })).error).toMatch(/CERT|SIGNATURE/);
  });

  it('authenticates to the proxy with Basic credentials', async () => {
    const before = connects(authed);
    const url = `http://${USER}:${PASSWORD}@127.0.0.1:${authed.port}`;
    await delivers(agentFor('XR200-P2', { mode: 'url', url }));
    expect(connects(authed)).toBe(before + 1);
  });

  it('reports wrong or missing proxy credentials as PROXY_AUTH_FAILED without leaking the password', async () => {
    const wrong = `wrong-${PASSWORD}`;
    for (const [url, status] of [
      [`http://${USER}:${wrong}@127.0.0.1:${authed.port}`, 401], // tinyproxy: bad credentials
      [authed.url, 407], // none given
    ] as const) {
      const agent = agentFor('XR200-P3', { mode: 'url', url });
      const downs: TunnelError[] = [];
      agent.on('tunnel-down', (e) => downs.push(e));
      await agent.start();
      expect(await waitFor(() => downs.length > 0)).toBe(true);
      expect(agent.stats().tunnel).not.toBe('open');
      const failure = describeProxyFailure(downs[0]);
      expect(failure?.code).toBe('PROXY_AUTH_FAILED');
      expect(failure?.status).toBe(status);
      for (const text of [chainText(downs[0]), logLines.join('\n')]) {
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(PASSWORD);
      }
      await agent.stop({ drainTimeoutMs: 0 });
    }
    expect(hub.isConnected('XR200-P3')).toBe(false);
  });

  it('follows HTTPS_PROXY, and goes direct when NO_PROXY names the hub', async () => {
    for (const name of PROXY_VARS) vi.stubEnv(name, undefined);
    vi.stubEnv('HTTPS_PROXY', open.url);
    const viaEnv = connects(open);
    await delivers(agentFor('XR200-P4', { mode: 'env' }));
    expect(connects(open)).toBe(viaEnv + 1);
    await agents.pop()!.stop({ drainTimeoutMs: 1000 });

    vi.stubEnv('NO_PROXY', '127.0.0.1');
    expect(createProxyAgent({ mode: 'env' }, hub.url)).toBeUndefined();
    const direct = connects(open);
    await delivers(agentFor('XR200-P4', { mode: 'env' }));
    expect(connects(open)).toBe(direct);
  });

  it('follows a PAC file: PROXY for the hub goes through the proxy, DIRECT goes direct', async () => {
    const proxied = writePac(
      'proxied.pac',
      `function FindProxyForURL(url, host) {
        if (host === '127.0.0.1' && shExpMatch(url, 'https://*/v1/tunnel')) return 'PROXY 127.0.0.1:${open.port}';
        return 'DIRECT';
      }`,
    );
    const before = connects(open);
    await delivers(agentFor('XR200-P5', { mode: 'pac', pacUrl: proxied }));
    expect(connects(open)).toBe(before + 1);
    await agents.pop()!.stop({ drainTimeoutMs: 1000 });

    const direct = writePac(
      'direct.pac',
      `function FindProxyForURL(url, host) { return 'DIRECT'; }`,
    );
    await delivers(agentFor('XR200-P5', { mode: 'pac', pacUrl: direct }));
    expect(connects(open)).toBe(before + 1);
  });

  it('loads a PAC file served over HTTP', async () => {
    let fetched = 0;
    const pac = `function FindProxyForURL(url, host) { return 'PROXY 127.0.0.1:${open.port}; DIRECT'; }`;
    const server = createServer((_req, res) => {
      fetched++;
      res.writeHead(200, { 'content-type': 'application/x-ns-proxy-autoconfig' });
      res.end(pac);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const before = connects(open);
      const pacUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/proxy.pac`;
      await delivers(agentFor('XR200-P6', { mode: 'pac', pacUrl }));
      expect(fetched).toBeGreaterThanOrEqual(1);
      expect(connects(open)).toBe(before + 1);
    } finally {
      await closeServer(server);
    }
  });

  function writePac(name: string, body: string): string {
    const file = join(dir, name);
    writeFileSync(file, body);
    return pathToFileURL(file).href;
  }
});

interface Healthz {
  status?: number;
  protocol?: string | null;
  cipher?: string;
  error?: string;
}

function healthz(options: RequestOptions): Promise<Healthz> {
  return new Promise((resolve) => {
    const req = httpsGet(options, (res) => {
      const socket = res.socket as TLSSocket;
      const result = {
        status: res.statusCode,
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().standardName,
      };
      res.resume();
      res.on('end', () => resolve(result));
    });
    req.on('error', (e: Error & { code?: string }) => resolve({ error: e.code ?? e.message }));
  });
}

/** Every message and stack along the error's cause chain. */
function chainText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error; e = e.cause) parts.push(e.message, e.stack ?? '');
  return parts.join('\n');
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}
