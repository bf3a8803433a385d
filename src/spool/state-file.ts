import type { SpoolGap } from './gaps.js';
import { FRAME, encodeFrame, packPayload, unpackPayload, verifyFrameAt } from './segment-format.js';
import type { SpoolFs } from './spool-fs.js';
import { errnoOf } from './spool-fs.js';

/**
 * The spool's small `state` file: one frame (the segment framing with magic `OPSS`) holding
 * MessagePack of this, rewritten atomically (temp file, fsync, rename, directory fsync).
 */
export interface SpoolState {
  streamId: string;
  /** Cumulative acked seq: records at or below it are done. */
  acked: number;
  /** Highest seq known durable when the state was written (guards against reuse). */
  highSeq: number;
  /** Quota eviction watermarks: every record of that lane at or below is gone. */
  evictedUpTo: { telemetry: number; bulk: number };
  /** Seq ranges already reported as corrupt (above `acked`): never re-reported, never delivered. */
  corrupt: Array<[number, number]>;
  /** Gaps not yet taken by the runtime. */
  gaps: SpoolGap[];
}

export const STATE_FILE = 'state';
export const STATE_TEMP = 'state.tmp';

export function encodeState(s: SpoolState): Uint8Array {
  return encodeFrame(
    packPayload({
      v: 1,
      streamId: s.streamId,
      acked: s.acked,
      highSeq: s.highSeq,
      evictedUpTo: s.evictedUpTo,
      corrupt: s.corrupt,
      gaps: s.gaps.map((g) => [g.fromSeq, g.toSeq, g.records, g.reason]),
    }),
    FRAME.stateMagic,
  );
}

const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isPair = (v: unknown): v is [number, number] =>
  Array.isArray(v) && v.length === 2 && isSeq(v[0]) && isSeq(v[1]) && v[0] <= v[1];

/** Parses a state file; undefined when the bytes are not a valid one (never throws). */
export function decodeState(bytes: Uint8Array): SpoolState | undefined {
  const length = verifyFrameAt(bytes, 0, FRAME.stateMagic);
  if (length === undefined) return undefined;
  const v = unpackPayload(bytes, FRAME.headerBytes, FRAME.headerBytes + length);
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const ev = o.evictedUpTo as Record<string, unknown> | undefined;
  if (
    o.v !== 1 ||
    typeof o.streamId !== 'string' ||
    o.streamId.length === 0 ||
    !isSeq(o.acked) ||
    !isSeq(o.highSeq) ||
    typeof ev !== 'object' ||
    ev === null ||
    !isSeq(ev.telemetry) ||
    !isSeq(ev.bulk) ||
    !Array.isArray(o.corrupt) ||
    !o.corrupt.every(isPair) ||
    !Array.isArray(o.gaps)
  ) {
    return undefined;
  }
  const gaps: SpoolGap[] = [];
  for (const g of o.gaps as unknown[]) {
    if (!Array.isArray(g) || g.length !== 4) return undefined;
    const [fromSeq, toSeq, records, reason] = g as unknown[];
    if (!isSeq(fromSeq) || !isSeq(toSeq) || fromSeq > toSeq || !isSeq(records)) return undefined;
    if (reason !== 'quota' && reason !== 'corrupt') return undefined;
    gaps.push({ fromSeq, toSeq, records, reason });
  }
  return {
    streamId: o.streamId,
    acked: o.acked,
    highSeq: o.highSeq,
    evictedUpTo: { telemetry: ev.telemetry, bulk: ev.bulk },
    corrupt: o.corrupt as Array<[number, number]>,
    gaps,
  };
}

/**
 * Replaces `<dir>/state` atomically and durably: write `state.tmp`, fsync, close, rename over
 * `state`, fsync the directory. On failure the old state file is intact (a leftover temp file
 * is removed best-effort, and at the next open). Throws the underlying I/O error.
 */
export async function writeStateFile(fs: SpoolFs, dir: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${dir}/${STATE_TEMP}`;
  await fs.unlink(tmp).catch((err: unknown) => {
    if (errnoOf(err) !== 'ENOENT') throw err;
  });
  let created = false;
  try {
    const fh = await fs.open(tmp, 'create');
    created = true;
    try {
      await fh.write(bytes, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, `${dir}/${STATE_FILE}`);
    created = false;
  } catch (err) {
    if (created) await fs.unlink(tmp).catch(() => undefined); // the original error wins
    throw err;
  }
  await fs.syncDir(dir);
}
