import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** A Durable Task history event as the durable-functions library reads it (PascalCase, JSON strings). */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [key: string]: unknown;
}

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated' | 'ContinuedAsNew';

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
  /** Which inbox journal holds this instance's not-yet-processed events. */
  inboxGeneration: number;
}

/**
 * Durable instance storage on local disk. Why files and not a database: no native module to compile on
 * install (better-sqlite3 would need one; `node:sqlite` is not in Node 20), crash semantics that are easy
 * to state, and state a person can read.
 *
 * - `<id>.json` holds the committed state; it is replaced atomically (write temp, fsync, rename, fsync dir).
 * - `<id>.inbox.<generation>.jsonl` is an append-only, fsync'd journal of events waiting for the next
 *   episode (activity results, timers, external events). An episode consumes the whole journal and
 *   commits the new state pointing at the next generation, so a crash either keeps the old state with its
 *   journal (the episode re-runs) or the new state (the journal is done) — never half of both.
 */
export class InstanceStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'instances');
    mkdirSync(this.dir, { recursive: true });
  }

  private file(id: string): string {
    return join(this.dir, `${encodeURIComponent(id)}.json`);
  }

  private journal(id: string, generation: number): string {
    return join(this.dir, `${encodeURIComponent(id)}.inbox.${generation}.jsonl`);
  }

  list(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => decodeURIComponent(f.slice(0, -'.json'.length)));
  }

  load(id: string): InstanceState | undefined {
    const path = this.file(id);
    if (!existsSync(path)) return undefined;
    return JSON.parse(readFileSync(path, 'utf8')) as InstanceState;
  }

  /** Atomically replaces the committed state; then drops journals of older generations. */
  commit(state: InstanceState): void {
    const path = this.file(state.instanceId);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.syncDir();
    const prefix = `${encodeURIComponent(state.instanceId)}.inbox.`;
    for (const f of readdirSync(this.dir)) {
      if (!f.startsWith(prefix)) continue;
      const gen = Number(f.slice(prefix.length, -'.jsonl'.length));
      if (gen < state.inboxGeneration) rmSync(join(this.dir, f), { force: true });
    }
  }

  append(id: string, generation: number, events: readonly HistoryEvent[]): void {
    const fd = openSync(this.journal(id, generation), 'a');
    try {
      writeSync(fd, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Events in the journal; a torn last line (crash mid-append, never fsync'd) is ignored. */
  inbox(id: string, generation: number): HistoryEvent[] {
    const path = this.journal(id, generation);
    if (!existsSync(path)) return [];
    const events: HistoryEvent[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line) as HistoryEvent);
      } catch {
        break;
      }
    }
    return events;
  }

  delete(id: string): void {
    const prefix = `${encodeURIComponent(id)}.`;
    for (const f of readdirSync(this.dir))
      if (f.startsWith(prefix)) rmSync(join(this.dir, f), { force: true });
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
