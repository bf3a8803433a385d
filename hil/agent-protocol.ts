/**
 * Messages between the runner and the agent process (Node IPC). The agent runs in a child
 * process so "it keeps running" and "no unhandled error" are facts about a real process: its
 * exit code, its stderr and the uncaught errors it reports.
 */
import type { AgentStats } from '../src/index.js';
import type { AdapterSpec } from './rigs/types.js';

export interface AgentProcessConfig {
  deviceId: string;
  hubUrl: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** base64 of the device's 64-byte Ed25519 secret key. */
  identitySecretKey: string;
  /** base64 of the hub's 32-byte identity key. */
  hubIdentityKey: string;
  adapter: AdapterSpec;
  registerMap: unknown;
  errorCatalogue: unknown;
  pollMs: number;
  errorPollMs: number;
  sendMs: number;
  coalesceMs: number;
  pollTimeoutMs?: number;
}

export type ToAgent =
  { t: 'start'; config: AgentProcessConfig } | { t: 'stop'; drainTimeoutMs: number };

export type FromAgent =
  | { t: 'started'; atMs: number }
  | { t: 'start-failed'; message: string; code?: string }
  | { t: 'tunnel'; state: string; atMs: number }
  | { t: 'snapshot'; atMs: number; read: string[]; missing: string[]; codes: number[] }
  | { t: 'poll-error'; atMs: number; code: string; message: string }
  | { t: 'alarm'; atMs: number; code: number; state: 'raised' | 'cleared' }
  | { t: 'stats'; atMs: number; stats: AgentStats }
  | { t: 'uncaught'; origin: string; name: string; message: string; stack?: string }
  | { t: 'stopped'; stats: AgentStats; drained: boolean };
