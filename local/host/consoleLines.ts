/**
 * The host's console lines, written together once per turn of the event loop: a pipe's writes are
 * synchronous in Node on Linux, one system call per line, and at fleet scale the host writes several
 * lines per server. Lines keep their order; whatever is pending is written before READY is printed
 * (`flushConsoleLines`) and before the process exits.
 */
let pending: string[] = [];
let scheduled = false;
let hooked = false;

export function flushConsoleLines(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join('');
  pending = [];
  process.stdout.write(text);
}

export function consoleLine(line: string): void {
  pending.push(`${line}\n`);
  if (!hooked) {
    hooked = true;
    process.once('exit', flushConsoleLines);
  }
  if (scheduled) return;
  scheduled = true;
  setImmediate(flushConsoleLines);
}
