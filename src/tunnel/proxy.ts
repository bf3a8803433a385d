import { Agent as HttpAgent, type ClientRequest, type RequestOptions } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AgentConnectOpts } from 'agent-base';
// Types only: the packages themselves are imported at the first proxied connection.
import type * as HttpsProxyAgentModule from 'https-proxy-agent';
import type * as PacProxyAgentModule from 'pac-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';

/**
 * How the agent reaches the hub: directly, or through an HTTP proxy with `CONNECT`.
 *
 * - `none`: always direct.
 * - `env`: the proxy named by `https_proxy`, `HTTPS_PROXY`, `all_proxy` or `ALL_PROXY` (first
 *   one set, in that order; for a `ws://` target `http_proxy`/`HTTP_PROXY` instead of the
 *   `https_` pair), unless `no_proxy`/`NO_PROXY` excludes the hub. `NO_PROXY` is a comma- or
 *   space-separated list: `*` (never proxy), `host` (that exact host name or IP), `.example.org`
 *   or `*.example.org` (any name ending so), each optionally with `:port`; no CIDR ranges. A
 *   value without a scheme (`proxy:3128`) means `http://proxy:3128`. The environment is read
 *   once, by {@link createProxyAgent}.
 * - `url`: this proxy: `http://[user:password@]host:port` (or `https://` for TLS to the proxy,
 *   checked against the system CA store), with reserved characters in the user name and
 *   password percent-encoded. Credentials go as `Proxy-Authorization: Basic`.
 * - `pac`: a proxy auto-config file at `file:///path/proxy.pac`, `http://…` or `https://…`.
 *   It is (re)loaded at each connection attempt (a file only when its mtime changed, over HTTP
 *   when the cached copy is stale). `FindProxyForURL(url, host)` is called with
 *   `url = https://<hub host>/<path>` (no port) and the hub's host name; it may return
 *   `DIRECT`, `PROXY host:port`, `HTTPS host:port`, `SOCKS host:port`, or several separated by
 *   `;`, tried in order (an empty result means `DIRECT`). Proxies chosen by a PAC file are
 *   used without credentials. When the file cannot be loaded or its script fails, the
 *   connection attempt fails with `PROXY_PAC_FAILED` and the tunnel retries with its backoff:
 *   there is no silent fallback to a direct connection. `myIpAddress()` answers from the
 *   local interfaces (no packet is sent to learn it).
 */
export type ProxyConfig =
  | { mode: 'none' }
  | { mode: 'env' }
  | { mode: 'url'; url: string }
  | { mode: 'pac'; pacUrl: string };

export interface ProxyAgentOptions {
  /**
   * Deadline for the proxy phase: loading the PAC file, reaching the proxy and its answer to
   * `CONNECT`. Default 30 s. (A request's own timeout only starts once the agent hands over a
   * socket, so a proxy that accepts and never answers would otherwise stall the dial.)
   */
  connectTimeoutMs?: number;
}

export type ProxyErrorCode =
  | 'PROXY_BAD_CONFIG'
  | 'PROXY_AUTH_FAILED'
  | 'PROXY_CONNECT_FAILED'
  | 'PROXY_PAC_FAILED'
  | 'PROXY_TIMEOUT';

/** A proxy problem. Messages and causes never hold proxy passwords. */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  /** The proxy's HTTP status in answer to `CONNECT`, when it gave one. */
  readonly status: number | undefined;
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const URL_SHAPE = 'expected http://[user:password@]host:port';

/**
 * The `http.Agent` to hand to the tunnel (`tunnel.agent`) for reaching `targetUrl`
 * (`wss://hub:443/...`), or `undefined` for a direct connection. The proxy packages
 * (`https-proxy-agent`, `pac-proxy-agent` with its JavaScript sandbox) are loaded at the first
 * connection through the agent, never on a device without a proxy. The agent sends `CONNECT`
 * to the proxy, then runs TLS end to end with the hub using the request's own TLS options
 * (CA, client certificate and key, servername, minimum version, ciphers): the proxy relays
 * bytes and sees no plaintext. Failures of the proxy phase reject with a {@link ProxyError}
 * (see {@link describeProxyFailure}). Throws `PROXY_BAD_CONFIG` for an unusable config.
 */
export function createProxyAgent(
  config: ProxyConfig,
  targetUrl: string,
  options: ProxyAgentOptions = {},
): HttpAgent | undefined {
  const target = parseTarget(targetUrl);
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new ProxyError('PROXY_BAD_CONFIG', `connectTimeoutMs must be a positive number of ms`);
  const mode = (config as { mode?: unknown } | undefined)?.mode;
  switch (mode) {
    case 'none':
      return undefined;
    case 'url':
      return new LazyProxyAgent(
        'proxy',
        parseProxyUrl((config as { url?: unknown }).url, 'proxy URL'),
        target,
        timeoutMs,
      );
    case 'env': {
      const found = proxyFromEnv(target);
      return (
        found &&
        new LazyProxyAgent('proxy', parseProxyUrl(found.url, found.source), target, timeoutMs)
      );
    }
    case 'pac':
      return new LazyProxyAgent(
        'pac',
        parsePacUrl((config as { pacUrl?: unknown }).pacUrl),
        target,
        timeoutMs,
      );
    default:
      throw new ProxyError(
        'PROXY_BAD_CONFIG',
        `proxy mode ${JSON.stringify(mode)} is not one of "none", "env", "url", "pac"`,
      );
  }
}

/**
 * The {@link ProxyError} behind a tunnel or socket error (searching its `cause` chain), or
 * `undefined` when the failure was not the proxy's (the hub refused, TLS failed, …).
 */
export function describeProxyFailure(err: unknown): ProxyError | undefined {
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    if (e instanceof ProxyError) return e;
    seen.add(e);
  }
  return undefined;
}

/** `http://user:***@host:port`: the URL with its password masked, even when it does not parse. */
export function redactProxyUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)@/i.exec(url);
  if (!m) return url;
  const userinfo = m[2] ?? '';
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? userinfo : `${userinfo.slice(0, colon)}:***`;
  return `${m[1] ?? ''}${user}@${url.slice(m[0].length)}`;
}

function parseTarget(targetUrl: string): URL {
  let url: URL;
  try {
    url = new URL(targetUrl);
  } catch {
    throw new ProxyError(
      'PROXY_BAD_CONFIG',
      `hub URL ${redactProxyUrl(targetUrl)} is not a valid URL`,
    );
  }
  if (!['wss:', 'https:', 'ws:', 'http:'].includes(url.protocol))
    throw new ProxyError(
      'PROXY_BAD_CONFIG',
      `hub URL scheme ${url.protocol} cannot go through a proxy`,
    );
  return url;
}

function parseProxyUrl(value: unknown, source: string): URL {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ProxyError('PROXY_BAD_CONFIG', `${source} is empty; ${URL_SHAPE}`);
  const shown = redactProxyUrl(value);
  if (!value.includes('://'))
    throw new ProxyError('PROXY_BAD_CONFIG', `${source} "${shown}" has no scheme; ${URL_SHAPE}`);
  let url: URL;
  try {
    url = new URL(value); // no `cause`: the URL parser's error carries the input, password and all
  } catch {
    throw new ProxyError(
      'PROXY_BAD_CONFIG',
      `${source} "${shown}" is not a valid URL; ${URL_SHAPE}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ProxyError(
      'PROXY_BAD_CONFIG',
      `${source} "${shown}" uses ${url.protocol}//, which is not supported; the agent speaks HTTP CONNECT: ${URL_SHAPE}`,
    );
  if (url.hostname === '')
    throw new ProxyError('PROXY_BAD_CONFIG', `${source} "${shown}" names no host; ${URL_SHAPE}`);
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new ProxyError(
      'PROXY_BAD_CONFIG',
      `${source} "${shown}" has a user name or password that is not valid percent-encoding (write %25 for %)`,
    );
  }
  return url;
}

function parsePacUrl(value: unknown): URL {
  const shown = typeof value === 'string' ? redactProxyUrl(value) : String(value);
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || !['file:', 'http:', 'https:'].includes(url.protocol))
    throw new ProxyError(
      'PROXY_BAD_CONFIG',
      `PAC URL "${shown}" is not a file:///path, http:// or https:// URL`,
    );
  return url;
}

/** The proxy the environment names for `target`, or undefined when none or NO_PROXY excludes it. */
function proxyFromEnv(target: URL): { url: string; source: string } | undefined {
  const scheme = target.protocol === 'wss:' || target.protocol === 'https:' ? 'https' : 'http';
  const asHttp = new URL(target.href);
  asHttp.protocol = `${scheme}:`;
  // proxy-from-env reads `<scheme>_proxy` then `all_proxy` (lower case first) and applies NO_PROXY.
  const chosen = getProxyForUrl(asHttp.href);
  if (chosen === '') return undefined;
  const names = [`${scheme}_proxy`, `${scheme.toUpperCase()}_PROXY`, 'all_proxy', 'ALL_PROXY'];
  const source = names.find((n) => process.env[n]) ?? names[0]!;
  const raw = process.env[source] ?? chosen;
  // It gives a scheme-less value the target's scheme; curl and most tools read it as http://.
  return { url: raw.includes('://') ? chosen : `http://${raw}`, source: `proxy from ${source}` };
}

type ConnectReply = { statusCode: number; statusText: string };

/** `http.Agent#addRequest`: how a `ClientRequest` asks its agent for a socket (untyped in @types/node). */
interface AddRequest {
  addRequest(req: ClientRequest, options: RequestOptions & { secureEndpoint?: boolean }): void;
}

/**
 * What {@link createProxyAgent} returns: an `http.Agent` that loads the proxy packages at its
 * first request and hands every request to the real proxy agent built from them. Until then
 * it holds nothing but the parsed configuration.
 */
export class LazyProxyAgent extends HttpAgent {
  /** `proxy`: HTTP CONNECT through `url`; `pac`: the proxy a PAC file at `url` picks. */
  readonly kind: 'proxy' | 'pac';
  readonly url: URL;
  readonly #timeoutMs: number;
  #inner: Promise<HttpAgent> | undefined;

  /** `https:` for a `wss://` or `https://` hub: ClientRequest checks it against its own. */
  readonly protocol: 'https:' | 'http:';

  constructor(kind: 'proxy' | 'pac', url: URL, target: URL, timeoutMs: number) {
    super();
    this.kind = kind;
    this.url = url;
    this.#timeoutMs = timeoutMs;
    const secure = target.protocol === 'wss:' || target.protocol === 'https:';
    this.protocol = secure ? 'https:' : 'http:';
    (this as unknown as { defaultPort: number }).defaultPort = secure ? 443 : 80;
  }

  /** Whether the proxy packages were loaded for this agent (its first request came). */
  get loaded(): boolean {
    return this.#inner !== undefined;
  }

  addRequest(req: ClientRequest, options: RequestOptions): void {
    this.#inner ??= buildProxyAgent(this.kind, this.url, this.#timeoutMs);
    this.#inner.then(
      // agent-base guesses TLS from the call stack when not told; this call has none left.
      (inner) =>
        (inner as unknown as AddRequest).addRequest(req, {
          ...options,
          secureEndpoint: this.protocol === 'https:',
        }),
      (err: unknown) =>
        req.destroy(
          new ProxyError(
            'PROXY_CONNECT_FAILED',
            `cannot load the proxy support (${errorText(err)}); is the package installed?`,
            { cause: err },
          ),
        ),
    );
  }

  override destroy(): void {
    super.destroy();
    void this.#inner?.then((inner) => inner.destroy()).catch(() => undefined);
  }
}

/** Loads the proxy packages (once) and builds the real agent for one {@link LazyProxyAgent}. */
async function buildProxyAgent(
  kind: 'proxy' | 'pac',
  url: URL,
  timeoutMs: number,
): Promise<HttpAgent> {
  if (kind === 'proxy') {
    const { HttpsProxyAgent } = await import('https-proxy-agent');
    return new (guardedHttpsProxyAgentClass(HttpsProxyAgent))(url, timeoutMs);
  }
  const pac = await import('pac-proxy-agent');
  return new (guardedPacProxyAgentClass(pac))(url, timeoutMs);
}

type HttpsProxyAgentCtor = typeof HttpsProxyAgentModule.HttpsProxyAgent;
type PacModule = typeof PacProxyAgentModule;

function guardedHttpsProxyAgentClass(Base: HttpsProxyAgentCtor) {
  return class GuardedHttpsProxyAgent extends Base<string> {
    constructor(
      proxy: URL,
      private readonly timeoutMs: number,
    ) {
      super(proxy);
    }

    override async connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
      const hasCredentials = this.proxy.username !== '' || this.proxy.password !== '';
      return guarded(req, opts, {
        timeoutMs: this.timeoutMs,
        via: () => redactProxyUrl(this.proxy.href),
        authHint: hasCredentials
          ? 'rejected the configured credentials; check the proxy user name and password'
          : 'requires a user name and password; put them in the proxy URL: http://user:password@host:port',
        connect: () => super.connect(req, opts),
      });
    }
  };
}

function guardedPacProxyAgentClass({ PacProxyAgent, sanitizeProxyResultCredentials }: PacModule) {
  type Resolver = Awaited<ReturnType<InstanceType<typeof PacProxyAgent<string>>['getResolver']>>;
  return class GuardedPacProxyAgent extends PacProxyAgent<string> {
    readonly #shown: string;
    constructor(
      pacUrl: URL,
      private readonly timeoutMs: number,
    ) {
      super(pacUrl, { sandbox: { myIpAddress: localAddress } });
      this.#shown = redactProxyUrl(pacUrl.href);
    }

    override async getResolver(): Promise<Resolver> {
      let resolver: Resolver;
      try {
        resolver = await super.getResolver();
      } catch (err) {
        throw new ProxyError(
          'PROXY_PAC_FAILED',
          `cannot load the PAC file ${this.#shown} (${errorText(err)}); check that it exists and is valid JavaScript`,
          { cause: err },
        );
      }
      return async (url, host) => {
        try {
          return await resolver(url, host);
        } catch (err) {
          throw new ProxyError(
            'PROXY_PAC_FAILED',
            `FindProxyForURL in the PAC file ${this.#shown} failed (${errorText(err)})`,
            { cause: err },
          );
        }
      };
    }

    override async connect(
      req: ClientRequest,
      opts: AgentConnectOpts,
    ): Promise<HttpAgent | Socket> {
      let chosen = 'chosen';
      req.on('proxy', (e: { proxy?: unknown }) => {
        if (typeof e.proxy === 'string' && !e.proxy.includes('://'))
          chosen = sanitizeProxyResultCredentials(e.proxy);
      });
      return guarded(req, opts, {
        timeoutMs: this.timeoutMs,
        via: () => `${chosen} (from PAC file ${this.#shown})`,
        authHint:
          'requires authentication, and proxies chosen by a PAC file are used without credentials; configure the proxy URL instead',
        connect: () => super.connect(req, opts),
      });
    }
  };
}

/**
 * Runs the proxy phase of a connection with a deadline, and turns a refused `CONNECT` (which
 * https-proxy-agent hands back as a socket replaying the proxy's reply, so that the HTTP client
 * would report it as if the hub had answered) into a {@link ProxyError}.
 */
async function guarded<T extends Duplex | HttpAgent>(
  req: ClientRequest,
  opts: AgentConnectOpts,
  g: { timeoutMs: number; via: () => string; authHint: string; connect: () => Promise<T> },
): Promise<T> {
  const target = `${opts.host ?? '?'}:${opts.port ?? '?'}`;
  let reply: ConnectReply | undefined;
  const onReply = (r: ConnectReply): void => {
    reply = r;
  };
  req.on('proxyConnect', onReply);
  let socket: T;
  try {
    socket = await withDeadline(
      g.connect(),
      g.timeoutMs,
      () =>
        new ProxyError(
          'PROXY_TIMEOUT',
          `proxy ${g.via()} did not connect to ${target} within ${g.timeoutMs} ms`,
        ),
    );
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw new ProxyError(
      'PROXY_CONNECT_FAILED',
      `proxy ${g.via()} failed before connecting to ${target} (${errorText(err)})`,
      { cause: err },
    );
  } finally {
    req.off('proxyConnect', onReply);
  }
  if (reply === undefined || reply.statusCode === 200) return socket;
  socket.destroy();
  const { statusCode: status, statusText } = reply;
  const http = `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 407 || status === 401)
    throw new ProxyError('PROXY_AUTH_FAILED', `proxy ${g.via()} ${g.authHint} (${http})`, {
      status,
    });
  const hint =
    status >= 500
      ? 'the proxy could not reach the hub; check the hub address and the proxy’s own outbound access'
      : `ask the network team to allow outbound connections to ${target} through the proxy`;
  throw new ProxyError(
    'PROXY_CONNECT_FAILED',
    `proxy ${g.via()} refused CONNECT to ${target} (${http}); ${hint}`,
    { status },
  );
}

function withDeadline<T extends Duplex | HttpAgent>(
  work: Promise<T>,
  ms: number,
  late: () => ProxyError,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(late());
    }, ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        if (expired) value.destroy();
        else resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!expired) reject(err);
      },
    );
  });
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code)
    ? `${code}: ${err.message}`
    : err.message;
}

/** PAC `myIpAddress()`: the first non-internal IPv4 address (pac-resolver's own dials 8.8.8.8). */
function localAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}
