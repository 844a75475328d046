import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * Files the instance store keeps open between uses (the logs and inbox journals of live instances), so
 * that an episode's commit or a delivery is a write and an fsync, not also an open and a close. At most
 * `max` are open; the least recently used is closed first, never one that is being written through
 * (`busy`). When the process runs out of descriptors anyway (EMFILE, ENFILE), half of them are closed,
 * the limit lowered to that for good, and the open tried again.
 */
export class OpenFiles {
  private readonly files = new Map<string, { file: FileHandle; busy: boolean }>();

  constructor(private max: number) {}

  /** Runs `use` with the file at `path` open in `flags` mode (opened now, or kept from before). */
  async with<T>(key: string, path: string, flags: string, use: (file: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.files.get(key);
    if (entry !== undefined) {
      this.files.delete(key); // re-inserted below: most recently used last
    } else {
      entry = { file: await this.open(path, flags), busy: false };
      void Promise.all(this.closeIdle(this.max - 1));
    }
    entry.busy = true;
    this.files.set(key, entry);
    try {
      return await use(entry.file);
    } catch (e) {
      // A failed write may have left the handle in any state: the next use opens the file again.
      await this.close(key);
      throw e;
    } finally {
      entry.busy = false;
    }
  }

  private async open(path: string, flags: string): Promise<FileHandle> {
    try {
      return await open(path, flags);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'EMFILE' && code !== 'ENFILE') || this.files.size === 0) throw e;
      this.max = Math.max(1, Math.floor(this.files.size / 2));
      await Promise.all(this.closeIdle(this.max - 1));
      return open(path, flags);
    }
  }

  /** Closes the least recently used files that are not busy until at most `keep` are open. */
  private closeIdle(keep: number): Promise<void>[] {
    const closing: Promise<void>[] = [];
    for (const [other, o] of this.files) {
      if (this.files.size <= keep) break;
      if (o.busy) continue;
      this.files.delete(other);
      closing.push(o.file.close().catch(() => undefined));
    }
    return closing;
  }

  /** Closes the file kept for `key` (the instance finished, or its file is about to be replaced). */
  async close(key: string): Promise<void> {
    const entry = this.files.get(key);
    if (entry === undefined) return;
    this.files.delete(key);
    await entry.file.close().catch(() => undefined);
  }

  /** How many files are open now. */
  get size(): number {
    return this.files.size;
  }

  /** How many files one may keep open now. */
  get limit(): number {
    return this.max;
  }
}

/**
 * How many files each of the store's caches may keep open: an eighth of the process's descriptor limit
 * (Node raises its soft limit to the hard one at start; on Linux it is read from /proc/self/limits),
 * between 256 and 2,048, so that sockets and everything else keep most of the descriptors. 256 where the
 * limit cannot be read.
 */
export function openFilesBudget(): number {
  return budgetOf(readLimits());
}

/** The budget for the text of /proc/self/limits (undefined: not readable). */
export function budgetOf(limits: string | undefined): number {
  const soft = /^Max open files\s+(\d+)/m.exec(limits ?? '')?.[1];
  if (soft === undefined) return 256;
  return Math.min(2048, Math.max(256, Math.floor(Number(soft) / 8)));
}

function readLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
}
