import { randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { renewProofInput, type Frame } from '../codec/index.js';
import type { TunnelClient } from '../tunnel/client.js';
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from './logger.js';
import { generateTlsKey, type TlsKeyType } from './tls-key.js';

export interface TlsCredential {
  certPem: string;
  keyPem: string;
  notAfterMs: number;
}

export interface RotationOptions {
  /** Renew when this share of the certificate's lifetime has passed. Default 0.5. */
  renewAt?: number;
  /**
   * Plus a random share of the lifetime up to this much, so a fleet enrolled together does not
   * renew in one spike. Default 0.1.
   */
  jitter?: number;
  /** Retry delay after a failed renewal. Default 60 s. */
  retryMs?: number;
  /** How long to wait for the hub's answer. Default 30 s. */
  answerTimeoutMs?: number;
  /**
   * Persists a new credential (e.g. into the sealed keystore) BEFORE the agent uses it. If it
   * throws, the agent keeps the old credential and retries later.
   */
  persist?: (credential: TlsCredential) => Promise<void>;
  /** Type of each new TLS key. Default Ed25519 (see {@link TlsKeyType}). */
  tlsKeyType?: TlsKeyType;
}

/** Longest single timer Node allows (about 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Renews the device's TLS client certificate over the live tunnel, make-before-break: a new key
 * is generated on the device, the hub issues a certificate for it, the agent checks and
 * persists it, and only then uses it for the next connection. The tunnel in use is never
 * dropped for a rotation; the hub keeps accepting the old certificate for an overlap window.
 */
export class CredentialRotator {
  readonly #o: Required<Omit<RotationOptions, 'persist' | 'tlsKeyType'>> &
    Pick<RotationOptions, 'persist' | 'tlsKeyType'>;
  readonly #tunnel: TunnelClient;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #deviceId: string;
  readonly #random: () => number;
  readonly #onRenewed: (c: TlsCredential) => void;
  #current: X509Certificate;
  #timer: TimerHandle | undefined;
  #pending: { requestId: string; key: KeyObject; timeout: TimerHandle } | undefined;
  #wanted = false;
  #stopped = false;
  renewals = 0;

  constructor(o: {
    tunnel: TunnelClient;
    clock: Clock;
    logger: Logger;
    deviceId: string;
    certPem: string | Buffer;
    options: RotationOptions;
    random?: () => number;
    onRenewed: (c: TlsCredential) => void;
  }) {
    this.#o = { renewAt: 0.5, jitter: 0.1, retryMs: 60_000, answerTimeoutMs: 30_000, ...o.options };
    this.#tunnel = o.tunnel;
    this.#clock = o.clock;
    this.#log = o.logger;
    this.#deviceId = o.deviceId;
    this.#random = o.random ?? Math.random;
    this.#onRenewed = o.onRenewed;
    this.#current = new X509Certificate(o.certPem);
    o.tunnel.on('credential', (f) => this.#onFrame(f));
    o.tunnel.on('state', (s) => {
      if (s === 'open' && this.#wanted && !this.#pending) this.#request();
    });
  }

  /** When the next renewal is due (Unix ms), from the current certificate's validity. */
  get nextRenewalAtMs(): number {
    const from = Date.parse(this.#current.validFrom);
    const to = Date.parse(this.#current.validTo);
    const life = Math.max(0, to - from);
    return from + life * this.#o.renewAt + life * this.#o.jitter * this.#random();
  }

  start(): void {
    this.#schedule(this.nextRenewalAtMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#pending) this.#clock.clearTimeout(this.#pending.timeout);
    this.#pending = undefined;
  }

  /** Renews now (the hub's RotateNow, or an operator). */
  renewNow(): void {
    this.#wanted = true;
    if (this.#tunnel.state === 'open' && !this.#pending) this.#request();
  }

  #schedule(atMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    const delay = Math.max(0, atMs - this.#clock.now());
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#clock.now() >= atMs - 1000) this.renewNow();
        else this.#schedule(atMs);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  #request(): void {
    if (this.#stopped) return;
    const { privateKey, spki, prove } = generateTlsKey(this.#o.tlsKeyType);
    const requestId = randomBytes(12).toString('base64url');
    const proof = prove(renewProofInput(this.#deviceId, requestId, spki));
    const timeout = this.#clock.setTimeout(
      () => this.#failed('the hub did not answer the renewal request'),
      this.#o.answerTimeoutMs,
    );
    this.#pending = { requestId, key: privateKey, timeout };
    const sent = this.#tunnel.sendControl({
      type: 'renewCredential',
      renewCredential: { requestId, tlsPublicKey: spki, proof },
    });
    if (!sent) this.#failed('the tunnel closed before the renewal request could be sent');
    else this.#log.info('certificate renewal requested', { deviceId: this.#deviceId });
  }

  #failed(why: string): void {
    if (this.#pending) this.#clock.clearTimeout(this.#pending.timeout);
    this.#pending = undefined;
    this.#log.warn('certificate renewal failed; will retry', {
      reason: why,
      retryMs: this.#o.retryMs,
    });
    this.#schedule(this.#clock.now() + this.#o.retryMs);
  }

  #onFrame(frame: Extract<Frame, { type: 'credentialIssued' | 'rotateNow' }>): void {
    if (frame.type === 'rotateNow') {
      this.#log.info('hub asked for a certificate renewal', { reason: frame.rotateNow.reason });
      this.renewNow();
      return;
    }
    const pending = this.#pending;
    const issued = frame.credentialIssued;
    if (!pending || issued.requestId !== pending.requestId) {
      this.#log.warn('ignoring a certificate this agent did not ask for');
      return;
    }
    this.#clock.clearTimeout(pending.timeout);
    this.#pending = undefined;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(issued.certificatePem ?? '');
    } catch {
      this.#failed('the hub sent an unreadable certificate');
      return;
    }
    const problem = this.#check(cert, pending.key);
    if (problem) {
      this.#failed(problem);
      return;
    }
    const credential: TlsCredential = {
      certPem: cert.toString(),
      keyPem: pending.key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      notAfterMs: Date.parse(cert.validTo),
    };
    void (this.#o.persist ?? (() => Promise.resolve()))(credential).then(
      () => {
        this.#current = cert;
        this.#wanted = false;
        this.renewals++;
        this.#onRenewed(credential);
        this.#log.info('certificate renewed', { deviceId: this.#deviceId, notAfter: cert.validTo });
        this.#schedule(this.nextRenewalAtMs);
      },
      (err: unknown) =>
        this.#failed(
          `could not persist the new certificate (${err instanceof Error ? err.message : String(err)})`,
        ),
    );
  }

  /** Why an issued certificate is unacceptable, or undefined. */
  #check(cert: X509Certificate, key: KeyObject): string | undefined {
    if (!cert.checkPrivateKey(key))
      return 'the issued certificate is not for the key this agent generated';
    const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1];
    if (cn !== this.#deviceId) return `the issued certificate names "${cn ?? ''}", not this device`;
    if (cert.issuer !== this.#current.issuer)
      return 'the issued certificate comes from another issuer than the current one';
    if (Date.parse(cert.validTo) <= this.#clock.now())
      return 'the issued certificate has already expired';
    return undefined;
  }
}
