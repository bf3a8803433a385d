/**
 * One delivery scenario's world: a temp directory (spool, hub database, journals), a
 * throwaway PKI, the hub in a child process, the fault proxy in front of it, and the agent in
 * a child process dialling the proxy. `settle()` heals everything and drains the agent;
 * `history()` reads what happened; `close()` leaves nothing behind (processes, sockets, temp
 * files, a tmpfs mount) whatever state the run is in.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { createTestPki } from '../../hub/index.js';
import { startFaultProxy, type FaultProxy } from '../fault-proxy.js';
import { readHistory, type History } from './history.js';
import { AgentChild, atExit, HubChild } from './processes.js';
import type { AgentChildConfig, HubChildConfig } from './protocol.js';

const DEVICE_ID = 'delivery-device-1';
const CATALOGUE = new URL('../../protocols/error-codes.json', import.meta.url);

export type AgentOverrides = Partial<
  Omit<AgentChildConfig, 'deviceId' | 'hubUrl' | 'journal' | 'boot' | 'spoolDir' | 'errorCatalogue'>
>;

/** Defaults: a busy device (100 samples/s, an alarm change every 150 ms), fast timeouts. */
export const AGENT_DEFAULTS = {
  pollMs: 10,
  sendMs: 100,
  alarmEveryMs: 150,
  heartbeatMs: 500,
  handshakeTimeoutMs: 1500,
  backoff: { baseMs: 50, capMs: 400 },
  groupCommitMs: 5,
} satisfies Partial<AgentChildConfig>;

export class Rig {
  readonly dir: string;
  readonly dbPath: string;
  readonly hubJournal: string;
  readonly agentJournals: string[] = [];
  spoolDir: string;
  proxy!: FaultProxy;
  hub: HubChild | undefined;
  agent: AgentChild | undefined;
  /** Boots of the agent so far. */
  boots = 0;
  /** Agent processes that reported an uncaught exception (any boot). */
  readonly uncaught: string[] = [];
  /** Agent processes that died without being killed by the runner. */
  readonly unexpectedExits: string[] = [];
  readonly #hubConfig: HubChildConfig;
  readonly #agentBase: Omit<AgentChildConfig, 'hubUrl' | 'hubIdentityKey' | 'journal' | 'boot'>;
  #hubIdentityKey = '';
  #mount: string | undefined;
  readonly #expectedAgentDeaths = new WeakSet<AgentChild>();

  private constructor(
    o: Awaited<ReturnType<typeof createTestPki>>,
    identity: nacl.SignKeyPair,
    overrides: AgentOverrides,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'outpost-delivery-'));
    atExit.add(this.#removeFiles);
    this.dbPath = join(this.dir, 'hub.db');
    this.hubJournal = join(this.dir, 'hub.journal');
    this.spoolDir = join(this.dir, 'spool');
    const device = o.devices[DEVICE_ID]!;
    this.#hubConfig = {
      dbPath: this.dbPath,
      port: 0,
      tls: { cert: o.server.certPem, key: o.server.keyPem, ca: o.ca.certPem },
      deviceId: DEVICE_ID,
      devicePublicKey: Buffer.from(identity.publicKey).toString('base64'),
      heartbeatMs: 500,
      journal: this.hubJournal,
    };
    this.#agentBase = {
      ...AGENT_DEFAULTS,
      ...overrides,
      deviceId: DEVICE_ID,
      caPem: o.ca.certPem,
      certPem: device.certPem,
      keyPem: device.keyPem,
      identitySecretKey: Buffer.from(identity.secretKey).toString('base64'),
      spoolDir: this.spoolDir,
      errorCatalogue: JSON.parse(readFileSync(CATALOGUE, 'utf8')) as unknown,
    };
  }

  static async create(overrides: AgentOverrides = {}): Promise<Rig> {
    const pki = await createTestPki({ deviceIds: [DEVICE_ID], hubName: 'outpost-delivery-hub' });
    const rig = new Rig(pki, nacl.sign.keyPair(), overrides);
    try {
      await rig.startHub();
      rig.proxy = await startFaultProxy({ target: { port: rig.hub!.port } });
    } catch (err) {
      await rig.close();
      throw err;
    }
    return rig;
  }

  get deviceId(): string {
    return DEVICE_ID;
  }

  /**
   * Puts the spool on a tmpfs of `bytes` (a real full disk). Needs root; returns false (and
   * changes nothing) where mounting is not allowed, or with OUTPOST_DELIVERY_NO_MOUNT=1.
   */
  mountSmallDisk(bytes: number): boolean {
    if (process.env.OUTPOST_DELIVERY_NO_MOUNT === '1') return false;
    const at = join(this.dir, 'small-disk');
    try {
      execFileSync('mkdir', ['-p', at]);
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', at], {
        stdio: 'ignore',
      });
    } catch {
      return false;
    }
    this.#mount = at;
    this.spoolDir = join(at, 'spool');
    this.#agentBase.spoolDir = this.spoolDir;
    return true;
  }

  async startHub(extra: Partial<HubChildConfig> = {}): Promise<HubChild> {
    const port = this.hub?.port ?? 0;
    this.hub = await HubChild.start({ ...this.#hubConfig, port, ...extra });
    this.#hubIdentityKey = this.hub.identityKey;
    return this.hub;
  }

  /** Starts the next boot of the agent on the same spool directory. */
  async startAgent(overrides: AgentOverrides = {}, mayDie = false): Promise<AgentChild> {
    this.boots++;
    const journal = join(this.dir, `agent-${this.boots}.journal`);
    this.agentJournals.push(journal);
    const agent = await AgentChild.start(
      {
        ...this.#agentBase,
        ...overrides,
        hubUrl: `wss://127.0.0.1:${this.proxy.port}/v1/tunnel`,
        hubIdentityKey: this.#hubIdentityKey,
        journal,
        boot: this.boots,
      },
      { mayDie },
    );
    const boot = this.boots;
    agent.on((m) => {
      if (m.t === 'uncaught') this.uncaught.push(`boot ${boot}: ${m.name}: ${m.message}`);
    });
    void agent.exited.then((e) => {
      if (!this.#expectedAgentDeaths.has(agent) && e.signal !== 'SIGKILL' && e.code !== 0)
        this.unexpectedExits.push(`boot ${boot}: code ${e.code} signal ${e.signal}`);
    });
    this.agent = agent;
    return agent;
  }

  /** SIGKILL the agent (expected death). */
  async killAgent(): Promise<void> {
    if (!this.agent) return;
    this.#expectedAgentDeaths.add(this.agent);
    await this.agent.kill();
  }

  /**
   * Heals the network, makes sure a hub and an agent run, lets the agent flush and drain,
   * stops both. Returns whether the agent drained everything it had.
   */
  async settle(
    drainTimeoutMs = 20_000,
  ): Promise<{ drained: boolean; queued: number; error?: string }> {
    this.proxy.heal();
    if (!this.hub?.alive) {
      await this.startHub();
      this.proxy.setTarget({ port: this.hub!.port });
    }
    if (!this.agent?.alive) await this.startAgent({ alarmEveryMs: 0 });
    const agent = this.agent!;
    this.#expectedAgentDeaths.add(agent);
    const r = (await agent.stop(drainTimeoutMs)) ?? { drained: false, queued: -1 };
    await this.hub?.stop();
    return r;
  }

  history(latencyFromMs?: number): History {
    return readHistory({
      agentJournals: this.agentJournals,
      hubJournal: this.hubJournal,
      dbPath: this.dbPath,
      deviceId: DEVICE_ID,
      ...(latencyFromMs === undefined ? {} : { latencyFromMs }),
    });
  }

  /** Kills and removes everything this rig started or made. */
  async close(): Promise<void> {
    await this.agent?.kill();
    await this.hub?.kill();
    await this.proxy?.close();
    atExit.delete(this.#removeFiles);
    if (process.env.OUTPOST_DELIVERY_KEEP === '1') {
      console.log(`  (kept ${this.dir} for inspection: OUTPOST_DELIVERY_KEEP=1)`);
      return;
    }
    this.#removeFiles();
  }

  /** Unmounts the small disk (if any) and deletes the temp directory; synchronous. */
  readonly #removeFiles = (): void => {
    if (this.#mount) {
      try {
        execFileSync('umount', [this.#mount], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', this.#mount], { stdio: 'ignore' });
        } catch {
          // Still mounted: rmSync below then fails on it, and says so.
        }
      }
      this.#mount = undefined;
    }
    rmSync(this.dir, { recursive: true, force: true });
  };
}
