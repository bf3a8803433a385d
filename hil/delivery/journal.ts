/**
 * Journals: append-only text files written with one synchronous `write` per line, so a line is
 * in the kernel before the process can be killed (see protocol.ts for the line formats).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export interface Journal {
  write(line: string): void;
  close(): void;
}

export function openJournal(path: string): Journal {
  const fd = openSync(path, 'a');
  let open = true;
  return {
    write(line) {
      if (open) writeSync(fd, line + '\n');
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** Every complete line of a journal (a torn last line, written as the process died, is dropped). */
export function readJournal(path: string): string[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  lines.pop(); // after the last '\n': empty, or a torn line
  return lines.filter((l) => l !== '').map((l) => l.split(' '));
}
