export type {
  Lane,
  NextFilter,
  OutboundQueue,
  QueueGap,
  QueueStats,
  QueuedRecord,
  RecordInput,
} from './queue.js';
export { LANES } from './queue.js';
export { MemoryQueue } from './memory-queue.js';
export { FileSpool } from './file-spool.js';
export {
  ALARM_HEADROOM,
  FILE_SPOOL_DEFAULTS,
  type FileSpoolOptions,
  type FileSpoolStats,
} from './file-spool-options.js';
export type { GapReason, SpoolGap } from './gaps.js';
export { SpoolError, type SpoolErrorCode } from './errors.js';
export { nodeSpoolFs, type SpoolFile, type SpoolFs } from './spool-fs.js';
export {
  MemorySpoolFs,
  type MemorySpoolFsOptions,
  type RebootOptions,
  type SpoolFsCall,
  type SpoolFsFault,
  type SpoolFsOp,
} from './memory-spool-fs.js';
