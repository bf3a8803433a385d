/**
 * What the delivery runner and its two child processes (the agent, the hub) say to each other
 * over Node IPC, and the journal line formats. The runner kills both with SIGKILL, so anything
 * it must know after a kill is written to a journal file with a synchronous write first (it is
 * then in the kernel's page cache, which a kill -9 of the writer does not lose); IPC carries
 * only liveness and control.
 */

/** Where the agent's spool file system misbehaves (see faulty-spool-fs.ts). */
export interface SpoolFsFaults {
  /** SIGKILL this process inside the N-th `sync()` (before the real fsync runs). */
  killInSync?: number;
  /** SIGKILL this process right after the N-th `sync()` succeeded (durable, not yet reported). */
  killAfterSync?: number;
  /** On the N-th `write()`, write a random prefix of the data, then SIGKILL (a torn write). */
  killMidWrite?: number;
}

export interface AgentChildConfig {
  deviceId: string;
  hubUrl: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** base64 of the device's 64-byte Ed25519 secret key. */
  identitySecretKey: string;
  /** base64 of the hub's 32-byte identity key. */
  hubIdentityKey: string;
  spoolDir: string;
  /** The error-code catalogue (protocols/error-codes.json, parsed). */
  errorCatalogue: unknown;
  /** Spool quota (bytes); default the spool's. */
  maxBytes?: number;
  segmentBytes?: number;
  groupCommitMs: number;
  /** This boot's journal file (appended to; one per boot). */
  journal: string;
  /** 1, 2, ...: ids of this boot are `boot * 1e6 + n`. */
  boot: number;
  pollMs: number;
  sendMs: number;
  /** An alarm-class code changes state this often (0 = no alarms until asked). */
  alarmEveryMs: number;
  heartbeatMs: number;
  handshakeTimeoutMs: number;
  /** Reconnect backoff. */
  backoff: { baseMs: number; capMs: number };
  window?: number;
  fsFaults?: SpoolFsFaults;
  /** SIGKILL this process in the `sent` handler of the N-th frame sent. */
  killAfterSent?: number;
  /** SIGKILL this process in the `acked` handler of the N-th ack. */
  killAfterAcked?: number;
}

export type ToAgentChild =
  | { t: 'start'; config: AgentChildConfig }
  /** Stop producing, flush, drain up to `drainTimeoutMs`, exit. */
  | { t: 'stop'; drainTimeoutMs: number }
  /** The agent's clock (and the device's) runs `offsetMs` from the real one. */
  | { t: 'clock'; offsetMs: number }
  /** Injected storage faults: ENOSPC on every write while `enospc`; EIO on the next `failSyncs` fsyncs. */
  | { t: 'fs'; enospc?: boolean; failSyncs?: number }
  | { t: 'alarms'; everyMs: number };

export type FromAgentChild =
  | { t: 'started'; atMs: number }
  | { t: 'start-failed'; message: string }
  | { t: 'tunnel'; state: string; atMs: number }
  | {
      t: 'stats';
      queued: number;
      refused: number;
      inGaps: number;
      syncFailures: number;
      writeFailures: number;
      tunnelConnects: number;
    }
  | { t: 'uncaught'; origin: string; name: string; message: string; stack?: string }
  /** `error`: `agent.stop()` rejected (e.g. the spool could not save its state). */
  | { t: 'stopped'; drained: boolean; queued: number; error?: string };

export interface HubChildConfig {
  dbPath: string;
  /** 0 the first time; the same port on restarts. */
  port: number;
  tls: { cert: string; key: string; ca: string };
  deviceId: string;
  /** base64 of the device's Ed25519 public key. */
  devicePublicKey: string;
  heartbeatMs: number;
  /** SIGKILL this process inside `onCommitted` on its N-th call: durable, not yet acked. */
  crashOnCommit?: number;
  /** Journal of stored frames' seqs and ids (appended to). */
  journal: string;
}

export type ToHubChild = { t: 'start'; config: HubChildConfig } | { t: 'stop' };

export type FromHubChild =
  | { t: 'started'; port: number; identityKey: string }
  | { t: 'start-failed'; message: string }
  | { t: 'stopped' };

/**
 * Journal lines (space-separated, one per line; a torn last line is ignored):
 *   a <id>                         a sample offered by the device (attempted)
 *   r <alarmKey>                   an alarm-class change raised by the device (attempted)
 *   t <seq> <realMs> <id,id,...>   a telemetry record accepted (durable), with its sample ids
 *   A <seq> <realMs> <alarmKey>    an alarm record accepted
 *   g <from> <to> <records>        a gap the agent reported
 *   T <realMs> <state>             the tunnel changed state (for diagnosis)
 *   X <realMs> <code> <message>    the tunnel went down, and why (for diagnosis)
 *   S <seq> <id,id,...>            (hub) a telemetry frame stored
 *   D <seq>                        (hub) a frame received again and dropped as a duplicate
 * An alarm key is `<code>/<raised|cleared>/<observedAtMs>`; the synthetic device makes every
 * observedAtMs unique, so the key names one change.
 */
export const ALARM_CODE = 1003;

export function alarmKey(code: number, state: string, observedAtMs: number): string {
  return `${code}/${state}/${observedAtMs}`;
}
