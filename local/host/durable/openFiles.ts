import { open, type FileHandle } from 'node:fs/promises';

/**
 * Files the instance store keeps open between uses (the logs of live instances), so that an episode's
 * commit is a write and an fsync, not also an open and a close. At most `max` are open; the least
 * recently used is closed first, never one that is being written through (`busy`).
 */
export class OpenFiles {
  private readonly files = new Map<string, { file: FileHandle; busy: boolean }>();

  constructor(private readonly max: number) {}

  /** Runs `use` with the file at `path` open in `flags` mode (opened now, or kept from before). */
  async with<T>(key: string, path: string, flags: string, use: (file: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.files.get(key);
    if (entry !== undefined) {
      this.files.delete(key); // re-inserted below: most recently used last
    } else {
      entry = { file: await open(path, flags), busy: false };
      for (const [other, o] of this.files) {
        if (this.files.size < this.max) break;
        if (o.busy) continue;
        this.files.delete(other);
        void o.file.close().catch(() => undefined);
      }
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
}
