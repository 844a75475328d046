/**
 * The values of an append-only JSON-lines journal (the instance store's inboxes, an entity's request
 * queue), up to the first line that is not a whole value `accept` takes: a torn last line, written by
 * a crash mid-append and never fsync'd whole, so never acknowledged. Blank lines are skipped.
 * `validBytes` is where the whole lines end; a writer cuts the file there before appending, or the
 * next line would be glued to the torn one and lost with it.
 */
export function readJournalLines<T>(
  bytes: Buffer,
  accept: (value: unknown) => value is T,
): { values: T[]; validBytes: number } {
  const values: T[] = [];
  let offset = 0;
  let validBytes = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    if (end < 0) break;
    const line = bytes.toString('utf8', offset, end);
    offset = end + 1;
    if (line.trim() !== '') {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        break;
      }
      if (!accept(value)) break;
      values.push(value);
    }
    validBytes = offset;
  }
  return { values, validBytes };
}
