import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TERMINAL, type HistoryEvent, type InstanceState, type RuntimeStatus } from './instance';
import { readJournalLines } from './journal';
import { OpenFiles } from './openFiles';

export {
  RUNTIME_STATUSES,
  TERMINAL,
  sameExecution,
  type HistoryEvent,
  type InstanceState,
  type RuntimeStatus,
} from './instance';

/** What never changes within one execution: the log's first line. */
interface ExecutionHeader {
  instanceId: string;
  name: string;
  input: string | undefined;
  createdTime: string;
  parentInstanceId: string | undefined;
  parentTaskId: number | undefined;
  executionId?: string | undefined;
  parentExecutionId?: string | undefined;
}

/** What an episode changes besides history: the commit record that ends the episode's lines. */
interface CommitRecord {
  status: RuntimeStatus;
  output: unknown;
  customStatus: unknown;
  lastUpdatedTime: string;
  inboxGeneration: number;
}

/** A loaded instance: the state, and the byte length of its log up to the last commit record. */
interface Entry {
  state: InstanceState;
  committedBytes: number;
  /** The log has bytes past the last commit record (a crash mid-episode): cut them before appending. */
  tornTail: boolean;
}

/**
 * Durable instance storage on local disk. Why files and not a database: no native module to compile on
 * install (better-sqlite3 would need one; `node:sqlite` is not in Node 20), crash semantics that are easy
 * to state, and state a person can read.
 *
 * - `<id>.log.jsonl` is the instance's execution log, append-only: a header line (name, input, parent),
 *   then per episode its history events followed by one commit record (status, output, inbox
 *   generation). Only what ends in a commit record counts: a crash mid-append leaves lines (or a torn
 *   line) after the last commit record, which loading ignores and the next append cuts off. An episode
 *   costs one append and one fsync, whatever the history's length. A new execution (start,
 *   continue-as-new) writes a fresh log to a temporary file and renames it over the old one (fsync'd,
 *   directory too): atomic.
 * - `<id>.inbox.<generation>.jsonl` is an append-only, fsync'd journal of events waiting for the next
 *   episode (activity results, timers, external events). An episode consumes the whole journal and
 *   commits the next generation, so a crash either keeps the old commit with its journal (the episode
 *   re-runs) or the new one (the journal is done) — never half of both.
 *
 * Writes are asynchronous (the fsyncs run on libuv's thread pool, so many instances' commits are in
 * flight at once instead of each blocking the event loop); a commit counts once its promise resolves.
 * Live instances are kept parsed in memory (the engine is the only writer): an episode parses nothing
 * it already read. Finished instances are dropped from memory and read again when asked for. The
 * folder is listed once, when the store opens (which also clears what a crash left behind).
 */
export class InstanceStore {
  private readonly dir: string;
  private readonly entries = new Map<string, Entry>();
  /** Every instance id with a log on disk. */
  private readonly ids = new Set<string>();
  /** Instance id → inbox generations with a journal on disk, from the one listing at open. */
  private readonly journalsAtOpen = new Map<string, number[]>();
  /** Parsed inboxes of live instances: instance id → generation → events (dropped whole at the end). */
  private readonly inboxes = new Map<string, Map<number, HistoryEvent[]>>();
  /** Instances in the layout before this one (one `<id>.json` holding everything). */
  private readonly legacy = new Set<string>();
  /** Journals whose end this process has checked (or created). */
  private readonly checkedJournals = new Set<string>();
  /** Logs of live instances kept open between commits (closed when the instance finishes). */
  private readonly openLogs = new OpenFiles(256);

  /**
   * `readOnly`: for looking at another process's store (tests, benchmarks) — nothing is cleared, and
   * nothing may be written through it.
   */
  constructor(
    dataDir: string,
    private readonly options: { readOnly?: boolean } = {},
  ) {
    this.dir = join(dataDir, 'instances');
    mkdirSync(this.dir, { recursive: true });
    const clear = (path: string) => {
      if (this.options.readOnly !== true) rmSync(path, { force: true });
    };
    for (const f of readdirSync(this.dir)) {
      const journal = /^(.+)\.inbox\.(\d+)\.jsonl$/.exec(f);
      if (f.endsWith('.tmp')) clear(join(this.dir, f));
      else if (f.endsWith('.log.jsonl')) this.ids.add(decodeURIComponent(f.slice(0, -'.log.jsonl'.length)));
      else if (journal?.[1] !== undefined) {
        const id = decodeURIComponent(journal[1]);
        this.journalsAtOpen.set(id, [...(this.journalsAtOpen.get(id) ?? []), Number(journal[2])]);
      } else if (f.endsWith('.json')) {
        const id = decodeURIComponent(f.slice(0, -'.json'.length));
        this.ids.add(id);
        this.legacy.add(id);
      }
    }
    // A log beside a file of the old layout is the newer: a crash came between the log's rename and the
    // old file's removal (the rewrite of a legacy instance, or a new execution of one).
    for (const id of this.legacy)
      if (existsSync(this.log(id))) {
        this.legacy.delete(id);
        clear(join(this.dir, `${encodeURIComponent(id)}.json`));
      }
    // Journals of instances that have no log (purged, or never committed) are debris.
    for (const [id, gens] of this.journalsAtOpen)
      if (!this.ids.has(id)) {
        for (const g of gens) clear(this.journal(id, g));
        this.journalsAtOpen.delete(id);
      }
  }

  private log(id: string): string {
    return join(this.dir, `${encodeURIComponent(id)}.log.jsonl`);
  }

  private journal(id: string, generation: number): string {
    return join(this.dir, `${encodeURIComponent(id)}.inbox.${generation}.jsonl`);
  }

  list(): string[] {
    return [...this.ids];
  }

  /** The committed state. Shared with the store's memory: read it, never change it (commit a new one). */
  load(id: string): InstanceState | undefined {
    const cached = this.entries.get(id);
    if (cached !== undefined) return cached.state;
    if (!this.ids.has(id)) return undefined;
    const entry = this.legacy.has(id) ? this.readLegacy(id) : this.read(id);
    if (entry === undefined) return undefined;
    if (this.options.readOnly !== true) this.clearOldJournals(id, entry.state.inboxGeneration);
    if (!TERMINAL.includes(entry.state.status)) this.entries.set(id, entry);
    return entry.state;
  }

  /** Size of the instance's files on disk (log and journals), in bytes. */
  bytes(id: string): number {
    const prefix = `${encodeURIComponent(id)}.`;
    let total = 0;
    for (const f of readdirSync(this.dir)) if (f.startsWith(prefix)) total += fstatSize(join(this.dir, f));
    return total;
  }

  /**
   * Commits an episode: `appended` are the events it added at the end of `state.history`. When
   * `newExecution` is set (start, continue-as-new) the log is rewritten from `state` instead.
   */
  async commit(state: InstanceState, appended: readonly HistoryEvent[], newExecution = false): Promise<void> {
    const previous = this.entries.get(state.instanceId);
    const previousGeneration = previous?.state.inboxGeneration;
    if (newExecution || previous === undefined || this.legacy.has(state.instanceId)) {
      await this.rewrite(state);
    } else {
      const buffer = Buffer.from(
        appended.map((e) => `${JSON.stringify(e)}\n`).join('') +
          `${JSON.stringify({ $commit: commitRecord(state) })}\n`,
        'utf8',
      );
      await this.openLogs.with(state.instanceId, this.log(state.instanceId), 'r+', async (file) => {
        if (previous.tornTail) await file.truncate(previous.committedBytes);
        await file.write(buffer, 0, buffer.length, previous.committedBytes);
        await file.sync();
      });
      this.remember(state, previous.committedBytes + buffer.length);
      if (TERMINAL.includes(state.status)) await this.openLogs.close(state.instanceId);
    }
    // Journals the commit consumed (unlinked off the event loop: the commit resolves once they are gone).
    const consumed: Promise<void>[] = [];
    if (previousGeneration !== undefined)
      for (let g = previousGeneration; g < state.inboxGeneration; g++)
        consumed.push(this.dropJournalAsync(state.instanceId, g));
    else if (state.inboxGeneration > 0)
      consumed.push(this.dropJournalAsync(state.instanceId, state.inboxGeneration - 1));
    await Promise.all(consumed);
    if (previousGeneration !== undefined && state.inboxGeneration > previousGeneration)
      this.expectEmptyJournal(state);
  }

  /**
   * After a commit that moved a live instance to a new generation, that generation's journal cannot
   * exist yet: `append` writes a journal only under the instance's lock, after the commit that names
   * its generation has resolved. So its inbox is known empty and needs no look at the disk
   * (`existsSync`, a read) on the next episode or append. (A commit that keeps the generation, such as
   * suspend, knows nothing of the kind: its journal may hold events.)
   */
  private expectEmptyJournal(state: InstanceState): void {
    if (!this.entries.has(state.instanceId) || this.journalsAtOpen.has(state.instanceId)) return;
    if (this.cachedInbox(state.instanceId, state.inboxGeneration) !== undefined) return;
    this.cacheInbox(state.instanceId, state.inboxGeneration, []);
    this.checkedJournals.add(this.journal(state.instanceId, state.inboxGeneration));
  }

  async append(id: string, generation: number, events: readonly HistoryEvent[]): Promise<void> {
    const path = this.journal(id, generation);
    if (!this.checkedJournals.has(path)) {
      // A journal from before this process may end in a torn line (a crash mid-append): cut it off,
      // or the next event would be glued to it and lost with it.
      if (existsSync(path)) {
        const valid = readJournal(path).validBytes;
        const file = await open(path, 'r+');
        try {
          if ((await file.stat()).size > valid) {
            await file.truncate(valid);
            await file.sync();
          }
        } finally {
          await file.close();
        }
      }
      this.checkedJournals.add(path);
    }
    const file = await open(path, 'a');
    try {
      await file.write(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await file.sync();
    } finally {
      await file.close();
    }
    this.cachedInbox(id, generation)?.push(...events);
  }

  /** Events in the journal; a torn last line (crash mid-append, never fsync'd) is ignored. */
  inbox(id: string, generation: number): HistoryEvent[] {
    const cached = this.cachedInbox(id, generation);
    if (cached !== undefined) return [...cached];
    const path = this.journal(id, generation);
    const events = existsSync(path) ? readJournal(path).events : [];
    if (this.entries.has(id)) this.cacheInbox(id, generation, events);
    return [...events];
  }

  private cachedInbox(id: string, generation: number): HistoryEvent[] | undefined {
    return this.inboxes.get(id)?.get(generation);
  }

  private cacheInbox(id: string, generation: number, events: HistoryEvent[]): void {
    const byGeneration = this.inboxes.get(id) ?? new Map<number, HistoryEvent[]>();
    byGeneration.set(generation, events);
    this.inboxes.set(id, byGeneration);
  }

  private forgetInbox(id: string, generation: number): void {
    const byGeneration = this.inboxes.get(id);
    byGeneration?.delete(generation);
    if (byGeneration?.size === 0) this.inboxes.delete(id);
  }

  /**
   * Makes way for a new execution of a finished instance (a start under the same id): drops the old
   * execution's inbox journals and leaves its log for the new execution's `commit(state, [], true)` to
   * replace by rename. Until that rename a query reads the old execution, never "no such instance":
   * deleting first answered 404 for as long as the new log took to write, and a CI run's status page
   * lost the health watch (every pass of it starts the same instance id again) in that window.
   */
  clearForNewExecution(finished: InstanceState): void {
    if (!TERMINAL.includes(finished.status))
      throw new Error(`${finished.instanceId} is ${finished.status}: only a finished instance makes way`);
    this.dropJournals(finished.instanceId, finished.inboxGeneration);
    // Required, not tidiness: journals consumed earlier were unlinked without a folder fsync, and one of
    // generation 0 back from a crash would be read as the new execution's inbox.
    this.syncDir();
  }

  /** The instance's inbox journals: its current generation's and any a crash left from before. */
  private dropJournals(id: string, generation: number | undefined): void {
    if (generation !== undefined) this.dropJournal(id, generation);
    for (const g of this.journalsAtOpen.get(id) ?? []) this.dropJournal(id, g);
    this.journalsAtOpen.delete(id);
  }

  delete(id: string): void {
    void this.openLogs.close(id);
    const entry = this.entries.get(id);
    const generation = entry?.state.inboxGeneration ?? this.load(id)?.inboxGeneration;
    rmSync(this.log(id), { force: true });
    rmSync(join(this.dir, `${encodeURIComponent(id)}.json`), { force: true });
    this.dropJournals(id, generation);
    this.entries.delete(id);
    this.ids.delete(id);
    this.legacy.delete(id);
    this.syncDir();
  }

  private remember(state: InstanceState, committedBytes: number): void {
    this.ids.add(state.instanceId);
    if (TERMINAL.includes(state.status)) {
      this.entries.delete(state.instanceId);
      // One lookup, not a scan of every live instance's inboxes (a scan per finished instance was
      // quadratic in the fleet: about 1% of the host's CPU at 10,000 servers).
      this.inboxes.delete(state.instanceId);
    } else this.entries.set(state.instanceId, { state, committedBytes, tornTail: false });
  }

  private dropJournal(id: string, generation: number): void {
    const path = this.journal(id, generation);
    rmSync(path, { force: true });
    this.checkedJournals.delete(path);
    this.forgetInbox(id, generation);
  }

  private async dropJournalAsync(id: string, generation: number): Promise<void> {
    const path = this.journal(id, generation);
    this.checkedJournals.delete(path);
    this.forgetInbox(id, generation);
    try {
      await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Journals older than the committed generation were consumed before a crash left them behind. */
  private clearOldJournals(id: string, committed: number): void {
    const gens = this.journalsAtOpen.get(id);
    if (gens === undefined) return;
    for (const g of gens) if (g < committed) this.dropJournal(id, g);
    this.journalsAtOpen.delete(id);
  }

  /** A fresh log for the state (a new execution): temporary file, fsync, rename, fsync the folder. */
  private async rewrite(state: InstanceState): Promise<void> {
    // An open log is the file the rename replaces: the next commit opens the new one.
    await this.openLogs.close(state.instanceId);
    const path = this.log(state.instanceId);
    const tmp = `${path}.tmp`;
    const header: ExecutionHeader = {
      instanceId: state.instanceId,
      name: state.name,
      input: state.input,
      createdTime: state.createdTime,
      parentInstanceId: state.parentInstanceId,
      parentTaskId: state.parentTaskId,
      executionId: state.executionId,
      parentExecutionId: state.parentExecutionId,
    };
    const text =
      `${JSON.stringify({ $execution: header })}\n` +
      state.history.map((e) => `${JSON.stringify(e)}\n`).join('') +
      `${JSON.stringify({ $commit: commitRecord(state) })}\n`;
    const file = await open(tmp, 'w');
    try {
      await file.write(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
    if (this.legacy.delete(state.instanceId))
      rmSync(join(this.dir, `${encodeURIComponent(state.instanceId)}.json`), { force: true });
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.remember(state, Buffer.byteLength(text));
  }

  /** Reads a log: the header, then events and commit records; what follows the last commit is ignored. */
  private read(id: string): Entry | undefined {
    const path = this.log(id);
    if (!existsSync(path)) return undefined;
    const bytes = readFileSync(path);
    let header: ExecutionHeader | undefined;
    let commit: CommitRecord | undefined;
    let committedBytes = 0;
    let committedEvents = 0;
    const events: HistoryEvent[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      const end = bytes.indexOf(0x0a, offset);
      if (end < 0) break; // a torn last line: never fsync'd whole, never committed
      const line = bytes.toString('utf8', offset, end);
      offset = end + 1;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        break;
      }
      if (typeof value !== 'object' || value === null) break;
      if ('$execution' in value) header = value.$execution as ExecutionHeader;
      else if ('$commit' in value) {
        commit = value.$commit as CommitRecord;
        committedBytes = offset;
        committedEvents = events.length;
      } else events.push(value as HistoryEvent);
    }
    if (header === undefined || commit === undefined) return undefined;
    events.length = committedEvents;
    return {
      state: { ...header, ...commit, history: events },
      committedBytes,
      tornTail: committedBytes < bytes.length,
    };
  }

  /** The layout before the log: the whole state in `<id>.json`. Rewritten as a log on its next commit. */
  private readLegacy(id: string): Entry | undefined {
    const path = join(this.dir, `${encodeURIComponent(id)}.json`);
    if (!existsSync(path)) return undefined;
    const state = JSON.parse(readFileSync(path, 'utf8')) as InstanceState;
    for (const e of state.history) e.IsPlayed = true;
    return { state, committedBytes: 0, tornTail: false };
  }

  private syncDir(): void {
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function commitRecord(state: InstanceState): CommitRecord {
  return {
    status: state.status,
    output: state.output,
    customStatus: state.customStatus,
    lastUpdatedTime: state.lastUpdatedTime,
    inboxGeneration: state.inboxGeneration,
  };
}

/** The events of an inbox journal up to a torn last line (`readJournalLines`). */
function readJournal(path: string): { events: HistoryEvent[]; validBytes: number } {
  const { values, validBytes } = readJournalLines(readFileSync(path), isHistoryEvent);
  return { events: values, validBytes };
}

const isHistoryEvent = (v: unknown): v is HistoryEvent =>
  typeof v === 'object' && v !== null && 'EventType' in v;

function fstatSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}
