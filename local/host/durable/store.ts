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
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { InboxJournals } from './inbox';
import { OpenFiles, openFilesBudget } from './openFiles';

/** A Durable Task history event as the durable-functions library reads it (PascalCase, JSON strings). */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [key: string]: unknown;
}

/** The runtime statuses of an instance (OrchestrationRuntimeStatus of the extension). */
export const RUNTIME_STATUSES = [
  'Pending',
  'Running',
  'Suspended',
  'Completed',
  'Failed',
  'Terminated',
  'ContinuedAsNew',
] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

export interface InstanceState {
  instanceId: string;
  name: string;
  status: RuntimeStatus;
  /** The orchestration input as JSON text (as the start request carried it). */
  input: string | undefined;
  output: unknown;
  customStatus: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  parentInstanceId: string | undefined;
  /** EventId of the SubOrchestrationInstanceCreated event in the parent. */
  parentTaskId: number | undefined;
  /** Events of every finished episode of the current execution, in order. */
  history: HistoryEvent[];
  /** The inbox generation whose events are not processed yet (journal lines of earlier ones are). */
  inboxGeneration: number;
}

/** What never changes within one execution: the log's first line. */
interface ExecutionHeader {
  instanceId: string;
  name: string;
  input: string | undefined;
  createdTime: string;
  parentInstanceId: string | undefined;
  parentTaskId: number | undefined;
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

/** The statuses of a finished instance: nothing of it runs any more. */
export const TERMINAL: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];

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
 * - `<id>.inbox.jsonl` is an append-only, fsync'd journal of events waiting for the next episode
 *   (activity results, timers, external events), one line per delivery marked with the committed inbox
 *   generation. An episode consumes what waits and commits the next generation, so a crash either keeps
 *   the old commit with its lines (the episode re-runs) or the new one (the lines are done) — never half
 *   of both. See `InboxJournals`.
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
  private readonly journals: InboxJournals<HistoryEvent>;
  /** Instances in the layout before this one (one `<id>.json` holding everything). */
  private readonly legacy = new Set<string>();
  /** Logs of live instances kept open between commits (closed when the instance finishes). */
  private readonly openLogs = new OpenFiles(openFilesBudget());

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
    const readOnly = this.options.readOnly === true;
    this.journals = new InboxJournals(this.dir, readOnly);
    for (const f of readdirSync(this.dir)) {
      if (f.endsWith('.tmp')) {
        if (!readOnly) rmSync(join(this.dir, f), { force: true });
      } else if (f.endsWith('.log.jsonl')) this.ids.add(decodeURIComponent(f.slice(0, -'.log.jsonl'.length)));
      else if (this.journals.noteFile(f)) continue;
      else if (f.endsWith('.json')) {
        const id = decodeURIComponent(f.slice(0, -'.json'.length));
        this.ids.add(id);
        this.legacy.add(id);
      }
    }
    if (!readOnly) this.journals.clearOrphans((id) => this.ids.has(id));
  }

  private log(id: string): string {
    return join(this.dir, `${encodeURIComponent(id)}.log.jsonl`);
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
    const finished = TERMINAL.includes(entry.state.status);
    this.journals.loaded(id, entry.state.inboxGeneration, finished);
    if (!finished) this.entries.set(id, entry);
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
    // The commit resolves once the journal is up to date with it (consumed lines cut, or removed).
    if (TERMINAL.includes(state.status)) await this.journals.finished(state.instanceId);
    else if (previousGeneration !== undefined && state.inboxGeneration > previousGeneration)
      await this.journals.consumed(state.instanceId, state.inboxGeneration);
  }

  /**
   * Adds events to the inbox of generation `generation` (the committed one: `append` runs under the
   * instance's lock, after the commit that names it has resolved).
   */
  append(id: string, generation: number, events: readonly HistoryEvent[]): Promise<void> {
    return this.journals.append(id, generation, events);
  }

  /** Events waiting in the inbox; a torn last line (crash mid-append, never fsync'd) is ignored. */
  inbox(id: string, generation: number): HistoryEvent[] {
    return this.journals.events(id, generation, this.entries.has(id));
  }

  delete(id: string): void {
    void this.openLogs.close(id);
    rmSync(this.log(id), { force: true });
    rmSync(join(this.dir, `${encodeURIComponent(id)}.json`), { force: true });
    this.journals.remove(id);
    this.entries.delete(id);
    this.ids.delete(id);
    this.legacy.delete(id);
    this.syncDir();
  }

  private remember(state: InstanceState, committedBytes: number): void {
    this.ids.add(state.instanceId);
    if (TERMINAL.includes(state.status)) this.entries.delete(state.instanceId);
    else this.entries.set(state.instanceId, { state, committedBytes, tornTail: false });
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

function fstatSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}
