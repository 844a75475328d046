import { readFileSync, rmSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { OpenFiles, openFilesBudget } from './openFiles';

/** Past this many bytes, the consumed lines of a journal are cut off when an episode commits. */
const COMPACT_BYTES = 64 * 1024;

/** What the store knows of one live instance's journal. */
interface Inbox<E> {
  /** The generation whose events wait for the next episode (the committed one). */
  generation: number;
  /** Those events, in the order they arrived. */
  events: E[];
  /** The journal's bytes up to its last whole line. */
  bytes: number;
  /** The file has bytes past `bytes` (a torn line from before, or a failed write): cut before appending. */
  tornTail: boolean;
}

/**
 * The inbox journals of the instance store (`E`: its history event type): `<id>.inbox.jsonl`, one per
 * instance, append-only and fsync'd, one line per delivery: `{"generation":g,"events":[...]}`. The
 * events of a line wait for the episode that commits generation g + 1: a line whose generation is below
 * the committed one was consumed (a crash either kept the old commit, and the episode runs again with
 * the line, or the new one, and the line is done). A torn last line (a crash mid-append, never fsync'd
 * whole) is ignored, and cut off before the next line is written. Journals of live instances stay open
 * between deliveries; when an episode commits and the journal has grown past 64 KiB of consumed lines it
 * is truncated (all of it is consumed then: nothing is appended to a generation before the commit that
 * starts it); when the instance finishes it is removed.
 *
 * The layout before (`<id>.inbox.<g>.jsonl`, one journal per generation) is still read: its events are
 * the first of their generation, nothing is appended to it any more, and it is removed once consumed.
 */
export class InboxJournals<E extends object> {
  private readonly live = new Map<string, Inbox<E>>();
  /** Instances with a journal on disk (from the listing at open, then what this process did). */
  private readonly onDisk = new Set<string>();
  /** Instance → generations with a journal in the layout before, from the listing at open. */
  private readonly legacy = new Map<string, number[]>();
  private readonly files = new OpenFiles(openFilesBudget());

  /**
   * `readOnly`: another process writes the store; nothing is known from the listing (every read looks at
   * the disk), nothing is cached, nothing is written.
   */
  constructor(
    private readonly dir: string,
    private readonly readOnly: boolean,
  ) {}

  private path(id: string): string {
    return join(this.dir, `${encodeURIComponent(id)}.inbox.jsonl`);
  }

  private legacyPath(id: string, generation: number): string {
    return join(this.dir, `${encodeURIComponent(id)}.inbox.${generation}.jsonl`);
  }

  /** A file of the listing at open: true when it is a journal (noted), false when it is something else. */
  noteFile(name: string): boolean {
    const journal = /^(.+)\.inbox(?:\.(\d+))?\.jsonl$/.exec(name);
    if (journal?.[1] === undefined) return false;
    const id = decodeURIComponent(journal[1]);
    if (journal[2] === undefined) this.onDisk.add(id);
    else this.legacy.set(id, [...(this.legacy.get(id) ?? []), Number(journal[2])]);
    return true;
  }

  /** After the listing: journals of instances that have no log (purged, or never committed) are debris. */
  clearOrphans(hasLog: (id: string) => boolean): void {
    for (const id of [...this.onDisk, ...this.legacy.keys()]) if (!hasLog(id)) this.remove(id);
  }

  /**
   * An instance was read from disk: journals of its consumed generations that a crash left behind go, and
   * all of them when it has finished.
   */
  loaded(id: string, committed: number, finished: boolean): void {
    if (this.readOnly) return;
    if (finished) {
      if (this.onDisk.has(id) || this.legacy.has(id)) this.remove(id);
      return;
    }
    const gens = this.legacy.get(id);
    if (gens === undefined) return;
    for (const g of gens) if (g < committed) rmSync(this.legacyPath(id, g), { force: true });
    const left = gens.filter((g) => g >= committed);
    if (left.length > 0) this.legacy.set(id, left);
    else this.legacy.delete(id);
  }

  /** The events waiting for the episode after generation `generation`'s commit; `live`: keep them known. */
  events(id: string, generation: number, live: boolean): E[] {
    const known = this.live.get(id);
    if (known !== undefined && known.generation === generation) return [...known.events];
    const inbox = this.read(id, generation);
    if (live && !this.readOnly) this.live.set(id, inbox);
    return [...inbox.events];
  }

  /** Appends one delivery (one line, one write, one fsync) to the instance's journal. */
  async append(id: string, generation: number, events: readonly E[]): Promise<void> {
    let inbox = this.live.get(id);
    if (inbox === undefined || inbox.generation !== generation) {
      inbox = this.read(id, generation);
      this.live.set(id, inbox);
    }
    const line = Buffer.from(`${JSON.stringify({ generation, events })}\n`, 'utf8');
    const known = inbox;
    this.onDisk.add(id);
    try {
      await this.files.with(id, this.path(id), 'a', async (file) => {
        if (known.tornTail) {
          await file.truncate(known.bytes);
          known.tornTail = false;
        }
        await file.write(line, 0, line.length, null);
        await file.sync();
      });
    } catch (e) {
      // Part of the line may be in the file: the next append cuts it off first.
      known.tornTail = true;
      throw e;
    }
    known.bytes += line.length;
    known.events.push(...events);
  }

  /**
   * A commit started generation `generation`: what waited before is consumed. Removes the journals of the
   * layout before that held it, and truncates a journal grown past 64 KiB.
   */
  async consumed(id: string, generation: number): Promise<void> {
    const inbox = this.live.get(id);
    if (inbox !== undefined) {
      inbox.generation = generation;
      inbox.events = [];
    }
    const gens = this.legacy.get(id);
    if (gens !== undefined) {
      const left = gens.filter((g) => g >= generation);
      if (left.length > 0) this.legacy.set(id, left);
      else this.legacy.delete(id);
      await Promise.all(gens.filter((g) => g < generation).map((g) => unlinkIfAny(this.legacyPath(id, g))));
    }
    if (inbox !== undefined && inbox.bytes >= COMPACT_BYTES) {
      // No fsync: a truncation a crash loses leaves consumed lines only, and the next append's fsync
      // makes it durable with the line.
      await this.files.with(id, this.path(id), 'a', (file) => file.truncate(0));
      inbox.bytes = 0;
      inbox.tornTail = false;
    }
  }

  /** The instance finished: its journals go (asynchronously; what a crash leaves is cleared at load). */
  async finished(id: string): Promise<void> {
    const gens = this.legacy.get(id) ?? [];
    const current = this.onDisk.has(id);
    this.forget(id);
    await this.files.close(id);
    await Promise.all([
      ...(current ? [unlinkIfAny(this.path(id))] : []),
      ...gens.map((g) => unlinkIfAny(this.legacyPath(id, g))),
    ]);
  }

  /** Removes every journal of the instance now (purge, debris). */
  remove(id: string): void {
    const gens = this.legacy.get(id) ?? [];
    this.forget(id);
    void this.files.close(id);
    rmSync(this.path(id), { force: true });
    for (const g of gens) rmSync(this.legacyPath(id, g), { force: true });
  }

  private forget(id: string): void {
    this.live.delete(id);
    this.onDisk.delete(id);
    this.legacy.delete(id);
  }

  /** The journal(s) of the instance from disk: the events of `generation`, and where the journal ends. */
  private read(id: string, generation: number): Inbox<E> {
    const events: E[] = [];
    for (const g of this.legacy.get(id) ?? [])
      if (g === generation) events.push(...(readLines(this.legacyPath(id, g), legacyLine).events as E[]));
    let bytes = 0;
    let tornTail = false;
    if (this.readOnly || this.onDisk.has(id)) {
      const journal = readLines(this.path(id), (value) => journalLine(value, generation));
      events.push(...(journal.events as E[]));
      bytes = journal.validBytes;
      tornTail = journal.size > journal.validBytes;
    }
    return { generation, events, bytes, tornTail };
  }
}

/** A line of the journal: its events when they are of `generation`, none when of another; undefined when torn. */
function journalLine(value: object, generation: number): unknown[] | undefined {
  if (!('generation' in value) || typeof value.generation !== 'number') return undefined;
  if (!('events' in value) || !Array.isArray(value.events)) return undefined;
  return value.generation === generation ? (value.events as unknown[]) : [];
}

/** A line of a journal in the layout before: one event. */
function legacyLine(value: object): unknown[] | undefined {
  return 'EventType' in value ? [value] : undefined;
}

/** The lines of a file up to the first that is not whole (a torn last line); a missing file is empty. */
function readLines(
  path: string,
  parse: (value: object) => unknown[] | undefined,
): { events: unknown[]; validBytes: number; size: number } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], validBytes: 0, size: 0 };
    throw e;
  }
  const events: unknown[] = [];
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
      if (typeof value !== 'object' || value === null) break;
      const found = parse(value);
      if (found === undefined) break;
      events.push(...found);
    }
    validBytes = offset;
  }
  return { events, validBytes, size: bytes.length };
}

async function unlinkIfAny(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
