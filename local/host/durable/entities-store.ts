import {
  closeSync,
  ftruncateSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { EntityRequest } from './entities';
import { readJournalLines } from './journal';

/** What a committed batch still has to deliver: answers to callers, signals to other entities. */
export interface Outbox {
  readonly responses: readonly { instanceId: string; requestId: string; response: string }[];
  readonly signals: readonly { target: string; request: EntityRequest }[];
}

/** An entity's committed state. */
export interface EntityRecord {
  readonly exists: boolean;
  /** The entity state as JSON text (what the entity function set). */
  readonly state: string | undefined;
  /** How many requests of the journal the committed batches consumed. */
  readonly processed: number;
  readonly lastModifiedTime: string | undefined;
  /** The last committed batch's effects, delivered again after a restart (receivers drop duplicates). */
  readonly outbox: Outbox;
}

interface Entry {
  record: EntityRecord;
  journal: EntityRequest[];
  ids: Set<string>;
  /** Requests accepted but not yet written; written together (one fsync for all that came meanwhile). */
  waiting: { request: EntityRequest; done: () => void; failed: (e: unknown) => void }[];
  flushing: boolean;
}

const EMPTY: EntityRecord = {
  exists: false,
  state: undefined,
  processed: 0,
  lastModifiedTime: undefined,
  outbox: { responses: [], signals: [] },
};

/**
 * Durable entity storage on local disk, with the crash semantics of the instance store (store.ts):
 *
 * - `<id>.requests.jsonl`: the entity's queue, an append-only fsync'd journal of requests in arrival
 *   order. A request id already in it is dropped (a re-sent signal or call after a crash arrives once).
 *   A torn last line (a crash mid-append, never fsync'd, never acknowledged) is cut off at open.
 * - `<id>.entity.json`: the commit record (exists, state, how many requests are consumed, the batch's
 *   outbox), replaced atomically (temporary file, fsync, rename, fsync of the folder). A batch counts
 *   once its record is renamed in: a crash before that leaves the old record, and the batch runs
 *   again after the restart (at-least-once, as on Azure); its outbox is delivered after the commit and
 *   again after a restart, and receivers drop what they already have (a call is answered once).
 *
 * Everything is kept in memory as well; the folder is read once, when the store opens.
 */
export class EntityStore {
  private readonly dir: string;
  private readonly entries = new Map<string, Entry>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'entities');
    mkdirSync(this.dir, { recursive: true });
    for (const f of readdirSync(this.dir)) {
      if (f.endsWith('.tmp')) rmSync(join(this.dir, f), { force: true });
      const m = /^(.+)\.(requests\.jsonl|entity\.json)$/.exec(f);
      if (m?.[1] !== undefined) this.entry(decodeURIComponent(m[1]));
    }
  }

  private file(id: string, kind: 'requests.jsonl' | 'entity.json'): string {
    return join(this.dir, `${encodeURIComponent(id)}.${kind}`);
  }

  /** The entity's entry, read from disk the first time. */
  private entry(id: string): Entry {
    const known = this.entries.get(id);
    if (known !== undefined) return known;
    let record = EMPTY;
    try {
      record = JSON.parse(readFileSync(this.file(id, 'entity.json'), 'utf8')) as EntityRecord;
    } catch {
      // No committed batch yet.
    }
    const journal = readJournal(this.file(id, 'requests.jsonl'));
    const entry: Entry = {
      record,
      journal,
      ids: new Set(journal.map((r) => r.id)),
      waiting: [],
      flushing: false,
    };
    this.entries.set(id, entry);
    return entry;
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** The committed record, or undefined for an entity that has never been sent anything. */
  record(id: string): EntityRecord | undefined {
    return this.entries.get(id)?.record;
  }

  /** Requests not yet consumed by a committed batch, in arrival order. */
  pending(id: string): readonly EntityRequest[] {
    const e = this.entries.get(id);
    return e === undefined ? [] : e.journal.slice(e.record.processed);
  }

  /**
   * Appends a request durably (resolves once fsync'd). Returns false, writing nothing, when the
   * entity already has a request with its id.
   */
  enqueue(id: string, request: EntityRequest): Promise<boolean> {
    const e = this.entry(id);
    if (e.ids.has(request.id)) return Promise.resolve(false);
    e.ids.add(request.id);
    return new Promise<boolean>((resolve, reject) => {
      e.waiting.push({ request, done: () => resolve(true), failed: reject });
      void this.flush(id, e);
    });
  }

  private async flush(id: string, e: Entry): Promise<void> {
    if (e.flushing) return;
    e.flushing = true;
    try {
      while (e.waiting.length > 0) {
        const group = e.waiting.splice(0);
        try {
          const file = await open(this.file(id, 'requests.jsonl'), 'a');
          try {
            await file.write(group.map((w) => `${JSON.stringify(w.request)}\n`).join(''));
            await file.sync();
          } finally {
            await file.close();
          }
        } catch (err) {
          for (const w of group) {
            e.ids.delete(w.request.id);
            w.failed(err);
          }
          continue;
        }
        for (const w of group) {
          e.journal.push(w.request);
          w.done();
        }
      }
    } finally {
      e.flushing = false;
    }
  }

  /** Commits a batch: the new record replaces the old one atomically. */
  async commit(id: string, record: EntityRecord): Promise<void> {
    const path = this.file(id, 'entity.json');
    const tmp = `${path}.tmp`;
    const file = await open(tmp, 'w');
    try {
      await file.write(JSON.stringify(record));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.entry(id).record = record;
  }
}

/** The requests of a journal; a torn last line is cut off the file (it was never acknowledged). */
function readJournal(path: string): EntityRequest[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return [];
  }
  const { values, validBytes } = readJournalLines(bytes, isRequest);
  if (validBytes < bytes.length) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, validBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return values;
}

const isRequest = (v: unknown): v is EntityRequest => typeof v === 'object' && v !== null && 'id' in v;
