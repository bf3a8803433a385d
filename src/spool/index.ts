export type { Lane, OutboundQueue, QueueStats, QueuedRecord, RecordInput } from './queue.js';
export { LANES } from './queue.js';
export { MemoryQueue } from './memory-queue.js';
