import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import catalogueJson from '../protocols/error-codes.json' with { type: 'json' };
import registerMapJson from '../protocols/register-map.json' with { type: 'json' };
import type { Hub, KeyPairPem } from '../hub/index.js';
import { decodeFrame, encodeFrame, type Body, type Frame } from '../src/codec/index.js';
import { parseErrorCatalogue, parseRegisterMap } from '../src/index.js';

export const catalogue = parseErrorCatalogue(catalogueJson);
export const registerMap = parseRegisterMap(registerMapJson);

/** Polls `predicate` until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 10_000,
  stepMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return predicate();
}

export interface RawClient {
  ws: WebSocket;
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  send(seq: number, body: Body): void;
  sendRaw(bytes: Uint8Array): void;
  next(type: Frame['type'], timeoutMs?: number): Promise<Frame>;
}

/**
 * A hand-driven device connection (no agent runtime), for tests that must send exactly the
 * bytes they want: duplicates, garbage, frames out of order.
 */
export async function rawClient(
  hub: Hub,
  ca: string,
  device: KeyPairPem | undefined,
  deviceId: string,
  options: { handshake?: boolean; streamId?: string } = {},
): Promise<RawClient> {
  const ws = new WebSocket(hub.url, {
    ca,
    ...(device ? { cert: device.certPem, key: device.keyPem } : {}),
    servername: 'localhost',
    minVersion: 'TLSv1.3',
  } as WebSocket.ClientOptions);
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data: Buffer) => {
    frames.push(decodeFrame(data));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const client: RawClient = {
    ws,
    frames,
    closed,
    send: (seq, body) => ws.send(encodeFrame({ deviceId, seq, sentAtMs: Date.now() }, body)),
    sendRaw: (bytes) => ws.send(bytes),
    next: async (type, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = frames.findIndex((f) => f.type === type);
        if (i >= 0) return frames.splice(i, 1)[0]!;
        if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
  };
  if (options.handshake !== false) {
    await client.next('hello');
    client.send(0, {
      type: 'deviceAuth',
      deviceAuth: {
        deviceId,
        version: 1,
        nonce: randomBytes(32),
        streamId: options.streamId ?? randomBytes(8).toString('hex'),
      },
    });
    await client.next('hubAuth');
  }
  return client;
}

/** A minimal valid telemetry body with one sample. */
export function oneSample(value: number): Body {
  return {
    type: 'telemetry',
    telemetry: {
      counters: [{ name: 'exposures_total', unit: 'count', scale: 1 }],
      baseTimeMs: Date.now(),
      samples: [{ offsetMs: 0, raw: [value] }],
    },
  };
}
