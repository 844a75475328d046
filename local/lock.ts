import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/** A state folder already used by a live process. */
export class DataFolderInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `${dir} is in use by process ${pid} (another npm run local or host): stop that one, or give another folder with --data`,
    );
  }
}

/** Whether a process with this id runs (ours or someone else's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<dir>/.lock` (our pid) so that two local runtimes never share one state folder; a lock left by a
 * process that no longer runs (SIGKILL, crash) is taken over. Released when this process exits.
 */
export function lockDataFolder(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
      closeSync(fd);
      const release = () => {
        try {
          const held = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown };
          if (held.pid === process.pid) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = NaN;
      try {
        pid = Number((JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid);
      } catch {
        // unreadable or half-written lock: treat as stale
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw new DataFolderInUseError(dir, pid);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${dir}: ${file} keeps reappearing`);
}
