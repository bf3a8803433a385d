import type { QueuedRecord } from './queue.js';
import { decodeFrameAt, encodeRecord, encodeSeal, encodeSegmentHeader } from './segment-format.js';
import type { Entry, Segment } from './spool-index.js';
import { errnoOf, type SpoolFs } from './spool-fs.js';

/** `0000000042.seg`: ids sort as names, and the files replay in id order. */
export const segmentName = (id: number): string => `${String(id).padStart(10, '0')}.seg`;

const SEGMENT_RE = /^(\d{10,})\.seg$/;

export function parseSegmentName(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Suffix of a segment being rewritten; a leftover one is deleted at open. */
export const REWRITE_SUFFIX = '.compact';

export async function unlinkIfPresent(fs: SpoolFs, path: string): Promise<void> {
  await fs.unlink(path).catch((err: unknown) => {
    if (errnoOf(err) !== 'ENOENT') throw err;
  });
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The entry's frame bytes from a segment image, if they still verify as that record. */
function verifiedFrame(bytes: Uint8Array, e: Entry): Uint8Array | undefined {
  const d = decodeFrameAt(bytes, e.offset);
  if (d?.kind !== 'record' || d.record.seq !== e.seq || e.offset + e.size > bytes.length)
    return undefined;
  return bytes.subarray(e.offset, e.offset + e.size);
}

/**
 * Rewrites a sealed segment with only its live records (header, frames, seal): temp file,
 * fsync, rename over the original, directory fsync — readers see the old file or the new one.
 * A live record whose bytes no longer verify and whose body is not in memory is returned in
 * `bad` and nothing is written: the caller quarantines it, persists that, and tries again.
 * On success the entries' offsets and the segment's size are updated.
 */
export async function rewriteSegment(
  fs: SpoolFs,
  dir: string,
  seg: Segment,
  streamId: string,
): Promise<{ bad: Entry[] }> {
  const bytes = await fs.readFile(seg.path);
  const live = [...seg.entries].sort((a, b) => a.offset - b.offset);
  const header = encodeSegmentHeader({ stream: streamId, segment: seg.id, firstSeq: seg.firstSeq });
  const parts: Uint8Array[] = [header];
  const moves: Array<[Entry, number]> = [];
  const bad: Entry[] = [];
  let offset = header.length;
  for (const e of live) {
    // A damaged copy on disk is healed from memory when the body is there.
    const frame = verifiedFrame(bytes, e) ?? (e.rec ? encodeRecord(e.rec) : undefined);
    if (!frame || frame.length !== e.size) {
      bad.push(e);
      continue;
    }
    parts.push(frame);
    moves.push([e, offset]);
    offset += frame.length;
  }
  if (bad.length > 0) return { bad };
  parts.push(encodeSeal({ lastSeq: seg.lastSeq }));
  const out = concat(parts);
  const tmp = seg.path + REWRITE_SUFFIX;
  await unlinkIfPresent(fs, tmp);
  const fh = await fs.open(tmp, 'create');
  try {
    try {
      await fh.write(out, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, seg.path);
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined); // the original error wins
    throw err;
  }
  await fs.syncDir(dir);
  for (const [e, at] of moves) e.offset = at;
  seg.size = out.length;
  seg.deadBytes = 0;
  seg.ackedBytes = 0;
  for (const [e] of moves) if (!seg.entries.has(e)) seg.deadBytes += e.size; // acked meanwhile
  return { bad: [] };
}

/**
 * Reads the bodies of `plan` back from their segments, a few large reads rather than one per
 * record, re-verifying every frame. A record whose frame no longer verifies comes back 'bad'.
 */
export async function readBodies(
  fs: SpoolFs,
  plan: Entry[],
): Promise<Map<Entry, QueuedRecord | 'bad'>> {
  const got = new Map<Entry, QueuedRecord | 'bad'>();
  const bySeg = new Map<Segment, Entry[]>();
  for (const e of plan) {
    const list = bySeg.get(e.seg) ?? [];
    list.push(e);
    bySeg.set(e.seg, list);
  }
  for (const [seg, entries] of bySeg) {
    entries.sort((a, b) => a.offset - b.offset);
    for (const run of spans(entries)) {
      const start = run[0]!.offset;
      const last = run[run.length - 1]!;
      const buf = await fs.read(seg.path, start, last.offset + last.size - start);
      for (const e of run) {
        const d = decodeFrameAt(buf, e.offset - start);
        const ok = d?.kind === 'record' && d.record.seq === e.seq && d.record.lane === e.lane;
        got.set(e, ok ? d.record : 'bad');
      }
    }
  }
  return got;
}

/** Groups offset-sorted entries into reads of at most 1 MiB with holes of at most 64 KiB. */
function* spans(entries: Entry[]): Generator<Entry[]> {
  let run: Entry[] = [];
  for (const e of entries) {
    const first = run[0];
    const last = run[run.length - 1];
    if (
      first &&
      last &&
      (e.offset - (last.offset + last.size) > 64 * 1024 ||
        e.offset + e.size - first.offset > 1024 * 1024)
    ) {
      yield run;
      run = [];
    }
    run.push(e);
  }
  if (run.length > 0) yield run;
}
