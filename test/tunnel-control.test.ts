/**
 * What the hub can do to a live tunnel, and how the tunnel lives: revocation, redirects,
 * commands, dead-peer detection, and that the agent process never listens on a port.
 * Real TLS 1.3 on loopback, real hubs, real agents against the firmware simulator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../hub/index.js';
import { type Agent, type TunnelError } from '../src/index.js';
import type { AgentProcessConfig } from './fixtures/agent-process.js';
import { enrolIdentity, waitFor } from './helpers.js';
import { hubBed } from './hub-bed.js';
import { startTcpRelay } from './relay.js';

const IDS = [
  'TC-REVOKE',
  'TC-REDIR',
  'TC-LATER',
  'TC-BADURL',
  'TC-CMD',
  'TC-HEART',
  'TC-HSDEAD',
  'TC-PROCESS',
];

const bed = hubBed({ deviceIds: IDS, seed: 21 });
const { hubWith, agentFor, cleanups } = bed;

/** Timestamps (performance.now) of a hub's connect/disconnect events for one device. */
function hubLog(hub: Hub, deviceId: string) {
  const log = {
    connected: [] as number[],
    disconnected: [] as Array<{ at: number; code: number }>,
  };
  hub.on('connected', (id) => {
    if (id === deviceId) log.connected.push(performance.now());
  });
  hub.on('disconnected', (e) => {
    if (e.deviceId === deviceId) log.disconnected.push({ at: performance.now(), code: e.code });
  });
  return log;
}

function agentLog(agent: Agent) {
  const log = { downs: [] as Array<{ at: number; error: TunnelError }>, states: [] as string[] };
  agent.on('tunnel-down', (error) => log.downs.push({ at: performance.now(), error }));
  agent.on('tunnel-state', (s) => log.states.push(s));
  return log;
}

async function startAndStream(agent: Agent, hub: Hub, samples = 2): Promise<void> {
  const before = hub.store.counts(agent.deviceId).samples;
  await agent.start();
  expect(await waitFor(() => agent.stats().tunnel === 'open', 5000)).toBe(true);
  expect(
    await waitFor(() => hub.store.counts(agent.deviceId).samples >= before + samples, 5000),
  ).toBe(true);
}

describe('revocation', () => {
  it('closes the live tunnel within 1 s (4410) and refuses every reconnect', async () => {
    const id = 'TC-REVOKE';
    const hub = await hubWith();
    const keys = enrolIdentity(hub, id);
    const agent = agentFor(id, keys.identity, { url: hub.url, identityKey: keys.identityKey });
    const hubEvents = hubLog(hub, id);
    const agentEvents = agentLog(agent);
    await startAndStream(agent, hub);
    expect(hub.isConnected(id)).toBe(true);

    const t0 = performance.now();
    expect(hub.revokeDevice(id)).toBe(true);
    expect(
      await waitFor(
        () => agentEvents.downs.length > 0 && hubEvents.disconnected.length > 0,
        1000,
        5,
      ),
    ).toBe(true);
    expect(agentEvents.downs[0]!.at - t0).toBeLessThan(1000);
    expect(hubEvents.disconnected[0]!.at - t0).toBeLessThan(1000);
    expect(hubEvents.disconnected[0]!.code).toBe(4410);
    const down = agentEvents.downs[0]!.error;
    expect(down.closeCode).toBe(4410);
    expect(down.message).toMatch(/OUTPOST_DEVICE_REVOKED/);
    const samplesAtRevocation = hub.store.counts(id).samples;

    // The agent keeps retrying with its backoff; for 2 s the hub lets none of them in.
    const downsAtRevocation = agentEvents.downs.length;
    const connectsAtRevocation = hubEvents.connected.length;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      expect(hub.isConnected(id)).toBe(false);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(agentEvents.downs.length - downsAtRevocation).toBeGreaterThanOrEqual(3);
    expect(hubEvents.connected.length).toBe(connectsAtRevocation);
    expect(
      agentEvents.downs.slice(downsAtRevocation).every((d) => d.error.closeCode === 4410),
    ).toBe(true);
    expect(agent.stats().tunnel).not.toBe('open');
    // Nothing more was stored after the revocation (a frame in flight at that instant aside).
    await agent.stop({ drainTimeoutMs: 0 });
    expect(hub.store.counts(id).samples - samplesAtRevocation).toBeLessThanOrEqual(2);

    const audit = hub.store.securityEvents().filter((e) => e.deviceId === id);
    expect(audit.filter((e) => e.kind === 'device-revoked')).toHaveLength(1);
    const refusals = audit.filter(
      (e) => e.kind === 'protocol-error' && e.detail.startsWith('OUTPOST_DEVICE_REVOKED:'),
    );
    expect(refusals.length).toBeGreaterThanOrEqual(3);
  });
});

describe('redirect', () => {
  let a: Hub;
  let b: Hub;

  beforeAll(async () => {
    a = await startHub({
      tls: { cert: bed.pki.server.certPem, key: bed.pki.server.keyPem, ca: bed.pki.ca.certPem },
    });
    b = await startHub({
      tls: { cert: bed.pki.server.certPem, key: bed.pki.server.keyPem, ca: bed.pki.ca.certPem },
      identityKeyPem: a.identity.toPem(),
    });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  function enrolBoth(id: string): ReturnType<typeof enrolIdentity> {
    const keys = enrolIdentity(a, id);
    b.registerDevice(id, keys.publicKey);
    return keys;
  }

  it('moves the agent to another node, where its telemetry lands', async () => {
    const id = 'TC-REDIR';
    const keys = enrolBoth(id);
    const agent = agentFor(id, keys.identity, { url: a.url, identityKey: keys.identityKey });
    const onA = hubLog(a, id);
    const onB = hubLog(b, id);
    const events = agentLog(agent);
    await startAndStream(agent, a);
    expect(b.store.counts(id).samples).toBe(0);

    expect(a.redirect(id, b.url, 0)).toBe(true);
    expect(await waitFor(() => b.isConnected(id), 3000)).toBe(true);
    expect(await waitFor(() => b.store.counts(id).samples >= 2, 3000)).toBe(true);
    expect(a.isConnected(id)).toBe(false);
    expect(events.downs.map((d) => d.error.code)).toEqual(['TUNNEL_REDIRECTED']);
    expect(onA.connected).toHaveLength(1);
    expect(onB.connected).toHaveLength(1);
    // It stays on B: A sees no reconnect.
    const aSamples = a.store.counts(id).samples;
    await new Promise((r) => setTimeout(r, 300));
    expect(onA.connected).toHaveLength(1);
    expect(a.store.counts(id).samples).toBe(aSamples);
  });

  it('honours retryAfterMs: no reconnect before it, then back to the same hub', async () => {
    const id = 'TC-LATER';
    const keys = enrolBoth(id);
    const agent = agentFor(id, keys.identity, { url: a.url, identityKey: keys.identityKey });
    const onA = hubLog(a, id);
    const onB = hubLog(b, id);
    await startAndStream(agent, a);
    expect(onA.connected).toHaveLength(1);

    const t0 = performance.now();
    expect(a.redirect(id, '', 1500)).toBe(true);
    expect(await waitFor(() => onA.connected.length >= 2, 4000, 5)).toBe(true);
    const waited = onA.connected[1]! - t0;
    expect(waited).toBeGreaterThanOrEqual(1400);
    expect(waited).toBeLessThan(3000);
    expect(onB.connected).toHaveLength(0);
    const samples = a.store.counts(id).samples;
    expect(await waitFor(() => a.store.counts(id).samples > samples, 3000)).toBe(true);
  });

  it('ignores a redirect to a URL that is not wss://', async () => {
    const id = 'TC-BADURL';
    const keys = enrolBoth(id);
    const agent = agentFor(id, keys.identity, { url: a.url, identityKey: keys.identityKey });
    const onA = hubLog(a, id);
    const events = agentLog(agent);
    await startAndStream(agent, a);
    for (const url of [
      `ws://127.0.0.1:${b.port}/v1/tunnel`,
      `https://127.0.0.1:${b.port}/v1/tunnel`,
      'not a url',
    ]) {
      // The hub itself refuses to send one...
      expect(a.redirect(id, url, 0)).toBe(false);
      // ...and an agent that receives one anyway ignores it.
      expect(
        a.session(id)!.sendControl({ type: 'redirect', redirect: { url, retryAfterMs: 0 } }),
      ).toBe(true);
    }
    const samples = a.store.counts(id).samples;
    await new Promise((r) => setTimeout(r, 2500));
    expect(events.downs).toEqual([]);
    expect(agent.stats().tunnel).toBe('open');
    expect(onA.connected).toHaveLength(1);
    expect(onA.disconnected).toEqual([]);
    expect(a.store.counts(id).samples).toBeGreaterThan(samples);
    expect(b.isConnected(id)).toBe(false);
  });
});

describe('commands', () => {
  it('runs allow-listed commands once, and refuses unknown, expired, misaddressed and replayed ones', async () => {
    const id = 'TC-CMD';
    const hub = await hubWith();
    const keys = enrolIdentity(hub, id);
    const ran: string[] = [];
    const agent = agentFor(
      id,
      keys.identity,
      { url: hub.url, identityKey: keys.identityKey },
      {
        commands: {
          echo: async (args) => {
            ran.push(args.text ?? '');
            return args.text ?? '';
          },
        },
      },
    );
    await startAndStream(agent, hub, 1);
    const result = async (commandId: string, count = 1) => {
      expect(
        await waitFor(
          () =>
            hub.store.commandResults(id).filter((r) => r.commandId === commandId).length >= count,
          3000,
        ),
      ).toBe(true);
      return hub.store.commandResults(id).filter((r) => r.commandId === commandId);
    };
    const soon = (): number => Date.now() + 10_000;

    // Allowed: runs, output stored at the hub.
    expect(
      hub.sendCommand(id, {
        commandId: 'c-ok',
        name: 'echo',
        args: { text: 'hi' },
        expiresAtMs: soon(),
      }),
    ).toBe(true);
    const [ok] = await result('c-ok');
    expect(ok).toMatchObject({ status: 1, errorCode: '' });
    expect(Buffer.from(ok!.output).toString('utf8')).toBe('hi');
    expect(ran).toEqual(['hi']);

    // No handler.
    hub.sendCommand(id, { commandId: 'c-unknown', name: 'format-disk', expiresAtMs: soon() });
    const [unknown] = await result('c-unknown');
    expect(unknown).toMatchObject({ status: 3, errorCode: 'OUTPOST_COMMAND_UNKNOWN' });

    // Expired before it arrived.
    hub.sendCommand(id, {
      commandId: 'c-expired',
      name: 'echo',
      args: { text: 'late' },
      expiresAtMs: Date.now() - 1000,
    });
    const [expired] = await result('c-expired');
    expect(expired).toMatchObject({ status: 4, errorCode: 'OUTPOST_COMMAND_EXPIRED' });

    // Addressed to another device.
    expect(
      hub.session(id)!.sendControl({
        type: 'command',
        command: {
          commandId: 'c-other',
          name: 'echo',
          args: { text: 'not for me' },
          expiresAtMs: soon(),
          deviceId: 'someone-else',
        },
      }),
    ).toBe(true);
    const [other] = await result('c-other');
    expect(other).toMatchObject({ status: 3, errorCode: 'OUTPOST_COMMAND_WRONG_DEVICE' });

    // The same command id twice.
    const replay = {
      commandId: 'c-twice',
      name: 'echo',
      args: { text: 'once' },
      expiresAtMs: soon(),
    };
    hub.sendCommand(id, replay);
    hub.sendCommand(id, replay);
    const twice = await result('c-twice', 2);
    expect(twice.map((r) => r.status).sort()).toEqual([1, 3]);
    expect(twice.find((r) => r.status === 3)!.errorCode).toBe('OUTPOST_COMMAND_REPLAYED');

    // The handler ran for the allowed command and the first of the pair, nothing else.
    expect(ran).toEqual(['hi', 'once']);
    expect(hub.store.commandResults(id)).toHaveLength(6);
  });
});

describe('heartbeat', () => {
  it('detects a dead path within two intervals and reconnects once it heals', async () => {
    const id = 'TC-HEART';
    const hub = await hubWith({ heartbeatMs: 300 });
    const keys = enrolIdentity(hub, id);
    const relay = await startTcpRelay({ targetPort: hub.port });
    cleanups.push(() => relay.close());
    const agent = agentFor(
      id,
      keys.identity,
      { url: `wss://127.0.0.1:${relay.port}/v1/tunnel`, identityKey: keys.identityKey },
      {
        tunnel: { heartbeatMs: 300, handshakeTimeoutMs: 1000, backoff: { baseMs: 50, capMs: 200 } },
      },
    );
    const events = agentLog(agent);
    const onHub = hubLog(hub, id);
    await startAndStream(agent, hub);
    // Heartbeats run on an idle-looking tunnel too: let a few go by.
    await new Promise((r) => setTimeout(r, 700));
    expect(events.downs).toEqual([]);

    const t0 = performance.now();
    relay.blackhole(true);
    expect(await waitFor(() => events.downs.length > 0, 3000, 5)).toBe(true);
    const first = events.downs[0]!;
    expect(first.error.code).toBe('TUNNEL_DEAD_PEER');
    expect(first.at - t0).toBeLessThan(1500);
    // Reported once: the close that follows is not a second outage.
    await new Promise((r) => setTimeout(r, 300));
    expect(events.downs.filter((d) => d.at - t0 < 1500).map((d) => d.error.code)).toEqual([
      'TUNNEL_DEAD_PEER',
    ]);
    // The hub notices from its side as well and audits it.
    expect(await waitFor(() => onHub.disconnected.length > 0, 2000)).toBe(true);
    expect(
      hub.store
        .securityEvents()
        .some((e) => e.deviceId === id && e.detail.startsWith('OUTPOST_DEAD_PEER:')),
    ).toBe(true);

    const samples = hub.store.counts(id).samples;
    relay.blackhole(false);
    expect(await waitFor(() => hub.isConnected(id) && agent.stats().tunnel === 'open', 5000)).toBe(
      true,
    );
    expect(await waitFor(() => hub.store.counts(id).samples > samples, 3000)).toBe(true);
    expect(onHub.connected.length).toBeGreaterThanOrEqual(2);
  });
});

describe('handshake deadline', () => {
  it('gives up a handshake over a path gone dead at its deadline, not after ws waits 30 s for a close', async () => {
    const id = 'TC-HSDEAD';
    const hub = await hubWith({});
    const keys = enrolIdentity(hub, id);
    const relay = await startTcpRelay({ targetPort: hub.port });
    cleanups.push(() => relay.close());
    const agent = agentFor(
      id,
      keys.identity,
      { url: `wss://127.0.0.1:${relay.port}/v1/tunnel`, identityKey: keys.identityKey },
      { tunnel: { handshakeTimeoutMs: 1000, backoff: { baseMs: 50, capMs: 200 } } },
    );
    const events = agentLog(agent);
    // The path dies the moment the WebSocket is up: the inner handshake can never finish.
    let cut = false;
    agent.on('tunnel-state', (state) => {
      if (state === 'handshaking' && !cut) {
        cut = true;
        relay.blackhole(true);
      }
    });
    const t0 = performance.now();
    await agent.start();
    expect(await waitFor(() => events.downs.length > 0, 8000, 10)).toBe(true);
    expect(events.downs[0]!.error.code).toBe('TUNNEL_HANDSHAKE_TIMEOUT');
    expect(events.downs[0]!.at - t0).toBeLessThan(5000);
    relay.blackhole(false);
    expect(await waitFor(() => agent.stats().tunnel === 'open', 8000)).toBe(true);
  });
});

describe.skipIf(process.platform !== 'linux')('the agent never listens', () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds no listening TCP socket and no UDP socket, only outbound connections', async () => {
    const id = 'TC-PROCESS';
    const hub = await hubWith();
    const keys = enrolIdentity(hub, id);
    dir = mkdtempSync(join(tmpdir(), 'outpost-agent-process-'));
    const d = bed.pki.devices[id]!;
    const config: AgentProcessConfig = {
      hubUrl: hub.url,
      ca: bed.pki.ca.certPem,
      cert: d.certPem,
      key: d.keyPem,
      identitySecretKey: Buffer.from(keys.identity.secretKey).toString('base64'),
      hubIdentityKey: Buffer.from(keys.identityKey).toString('base64'),
      modbusPort: bed.sim.modbusPort,
    };
    const configPath = join(dir, 'agent.json');
    writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
    const script = fileURLToPath(new URL('./fixtures/agent-process.ts', import.meta.url));
    const proc = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, OUTPOST_AGENT_CONFIG: configPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));

    const opened = await waitFor(() => stdout.includes('open') || proc.exitCode !== null, 20_000);
    expect(opened && stdout.includes('open'), `agent process did not open: ${stderr}`).toBe(true);
    expect(await waitFor(() => hub.store.counts(id).samples >= 2, 5000)).toBe(true);
    expect(hub.isConnected(id)).toBe(true);

    const pid = proc.pid!;
    const sockets = socketInodes(pid);
    expect(sockets.size).toBeGreaterThan(0);
    const tcp = [...netTable(pid, 'tcp'), ...netTable(pid, 'tcp6')].filter((e) =>
      sockets.has(e.inode),
    );
    const udp = [...netTable(pid, 'udp'), ...netTable(pid, 'udp6')].filter((e) =>
      sockets.has(e.inode),
    );
    const LISTEN = '0A';
    const ESTABLISHED = '01';
    expect(tcp.filter((e) => e.state === LISTEN)).toEqual([]);
    expect(udp).toEqual([]);
    // The hub tunnel and the Modbus link: at least one live outbound connection, so the
    // check above looked at the right process.
    const established = tcp.filter((e) => e.state === ESTABLISHED);
    expect(established.length).toBeGreaterThanOrEqual(1);
    const remotePorts = new Set(established.map((e) => e.remotePort));
    expect(remotePorts.has(hub.port)).toBe(true);
    expect(remotePorts.has(bed.sim.modbusPort)).toBe(true);
  });
});

/** Inodes of the sockets a process holds open (/proc/<pid>/fd -> socket:[inode]). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  const fdDir = `/proc/${pid}/fd`;
  for (const fd of readdirSync(fdDir)) {
    let target: string;
    try {
      target = readlinkSync(join(fdDir, fd));
    } catch {
      continue; // closed while we looked
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  return inodes;
}

/** Rows of /proc/<pid>/net/{tcp,tcp6,udp,udp6}: state (hex), remote port, inode. */
function netTable(
  pid: number,
  table: 'tcp' | 'tcp6' | 'udp' | 'udp6',
): Array<{ state: string; remotePort: number; inode: string }> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
  } catch {
    return []; // e.g. no IPv6 in this kernel
  }
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const f = line.trim().split(/\s+/);
      const remote = f[2] ?? '';
      return {
        state: f[3] ?? '',
        remotePort: parseInt(remote.split(':')[1] ?? '0', 16),
        inode: f[9] ?? '',
      };
    });
}
