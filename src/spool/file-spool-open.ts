import { SpoolError } from './errors.js';
import { REWRITE_SUFFIX, parseSegmentName, segmentName } from './segment-files.js';
import { SeqRanges } from './seq-ranges.js';
import type { SpoolFs } from './spool-fs.js';
import { RecoveryScan, type RecoveredSegment } from './spool-recovery.js';
import { STATE_FILE, STATE_TEMP, decodeState, type SpoolState } from './state-file.js';

/** What is on disk, recovered: the state (if readable), the segments and what was lost. */
export interface RecoveredDirectory {
  state: SpoolState | undefined;
  /** The stream named by the state or, failing that, by the first segment header. */
  streamId: string | undefined;
  segments: RecoveredSegment[];
  /** Known corrupt ranges, including those found now. */
  corrupt: SeqRanges;
  /** Corrupt seq ranges found now, to report as gaps. */
  newCorrupt: Array<[number, number]>;
  quarantined: number;
  lastSeq: number;
  nextSegmentId: number;
}

/**
 * Reads the spool directory and recovers it: removes leftovers of interrupted atomic writes,
 * replays the segments (see {@link RecoveryScan}) and truncates a torn tail — durably, before
 * any seq is reused. Never fails on file contents.
 *
 * @throws SpoolError `SPOOL_OPEN_FAILED` on I/O errors.
 */
export async function recoverDirectory(
  fs: SpoolFs,
  dir: string,
  memoryBytes: number,
): Promise<RecoveredDirectory> {
  const fail = (what: string, cause: unknown): SpoolError =>
    new SpoolError('SPOOL_OPEN_FAILED', `could not open the spool in ${dir}: ${what}`, { cause });
  let names: string[];
  try {
    await fs.mkdir(dir);
    names = await fs.readdir(dir);
  } catch (err) {
    throw fail('cannot create or list the directory', err);
  }
  for (const name of names) {
    if (name === STATE_TEMP || name.endsWith(REWRITE_SUFFIX)) {
      // Leftovers of an interrupted atomic write: the real file is intact.
      await fs.unlink(`${dir}/${name}`).catch(() => undefined);
    }
  }
  let state: SpoolState | undefined;
  if (names.includes(STATE_FILE)) {
    try {
      state = decodeState(await fs.readFile(`${dir}/${STATE_FILE}`)); // unreadable contents: no state
    } catch (err) {
      throw fail('cannot read the state file', err);
    }
  }
  const ids = names
    .map(parseSegmentName)
    .filter((id): id is number => id !== undefined)
    .sort((a, b) => a - b);
  const corrupt = new SeqRanges(state?.corrupt ?? []);
  const scan = new RecoveryScan({
    streamId: state?.streamId,
    acked: state?.acked ?? 0,
    highSeq: state?.highSeq ?? 0,
    evictedUpTo: state?.evictedUpTo ?? { telemetry: 0, bulk: 0 },
    corrupt,
    memoryBytes,
  });
  const segments: RecoveredSegment[] = [];
  for (const [i, id] of ids.entries()) {
    const path = `${dir}/${segmentName(id)}`;
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(path);
    } catch (err) {
      throw fail(`cannot read ${segmentName(id)}`, err);
    }
    const seg = scan.addSegment(id, bytes, i === ids.length - 1);
    if (seg.truncateTo !== undefined) {
      try {
        const fh = await fs.open(path, 'update');
        try {
          await fh.truncate(seg.truncateTo);
          await fh.sync();
        } finally {
          await fh.close();
        }
      } catch (err) {
        throw fail(`cannot truncate the torn tail of ${segmentName(id)}`, err);
      }
    }
    segments.push(seg);
  }
  const result = scan.finish([
    ...(state?.gaps ?? []).map((g) => g.toSeq),
    ...corrupt.toArray().map((r) => r[1]),
    state?.evictedUpTo.telemetry ?? 0,
    state?.evictedUpTo.bulk ?? 0,
  ]);
  return {
    state,
    streamId: scan.streamId,
    segments,
    corrupt,
    newCorrupt: result.gaps,
    quarantined: result.quarantined,
    lastSeq: result.lastSeq,
    nextSegmentId: (ids[ids.length - 1] ?? 0) + 1,
  };
}
