import { randomUUID } from 'node:crypto';
import type { FunctionRegistry } from '../core';
import type { Semaphore } from './concurrency';
import {
  entityFunction,
  parseSchedulerId,
  responseJson,
  runEntityBatch,
  unknownEntityMessage,
  type EntityRequest,
} from './entities';
import type { EntityRecord, EntityStore, Outbox } from './entities-store';

/**
 * The extension's default `maxEntityOperationBatchSize` outside the Consumption plan, where it is 50
 * (AzureStorageDurabilityProviderFactory: `inConsumption ? 50 : 5000`). host.json's
 * `extensions.durableTask.maxEntityOperationBatchSize` overrides it.
 */
export const DEFAULT_ENTITY_BATCH_SIZE = 5000;

export interface EntitySchedulerOptions {
  readonly registry: FunctionRegistry;
  readonly store: EntityStore;
  /**
   * The orchestrator slots: an entity batch takes one. For a Node.js app the extension keeps entity work
   * items in the orchestration queue (AzureStorageDurabilityProviderFactory turns
   * UseSeparateQueueForEntityWorkItems on only for .NET isolated, Java and custom handlers), so
   * `maxConcurrentOrchestratorFunctions` bounds orchestrations and entities together.
   */
  readonly slots: Semaphore;
  readonly batchSize: number;
  readonly log: (line: string) => void;
  readonly now: () => string;
  /** Delivers a call's answer to the calling orchestration (once, whatever the number of attempts). */
  readonly respond: (instanceId: string, requestId: string, response: string) => Promise<unknown>;
}

/**
 * Runs durable entities: each entity's operations one at a time in arrival order, in batches of up to
 * `batchSize` (one invocation of the entity function per batch, as for an out-of-proc app); different
 * entities at once, within the orchestrator slots. An entity with requests starts at once (no polling);
 * what arrives while a batch runs goes in the next batch.
 *
 * The state after a batch is what the entity function reports, failed operations included: an
 * out-of-proc app's batch result is taken whole (TaskEntityShim.ExecuteOutOfProcBatch sets EntityExists
 * and EntityState from it; `rollbackEntityOperationsOnExceptions` applies to in-process .NET entities
 * only), and durable-functions' Entity.handle keeps a failed operation's setState.
 */
export class EntityScheduler {
  private readonly running = new Set<string>();
  /** Entities whose last outbox is delivered again before their next batch (after a restart). */
  private readonly redeliver = new Set<string>();
  private stopped = false;
  readonly counters = { batches: 0, operations: 0 };

  constructor(private readonly options: EntitySchedulerOptions) {}

  /** Why a request to this entity is refused (no entity function of its name, empty operation). */
  refusal(target: string, op: string): string | undefined {
    const id = parseSchedulerId(target);
    if (id === undefined || id.name === '') return `The entity id ${target} is not of the form @name@key.`;
    if (entityFunction(this.options.registry, id.name) === undefined)
      return unknownEntityMessage(this.options.registry, id.name);
    // The extension's SignalEntityAsync refuses an empty operation name (ArgumentException → 400); the
    // library's CallEntityAction/SignalEntityAction refuse it before anything is sent.
    if (op === '') return 'The operation name must not be empty.';
    return undefined;
  }

  /**
   * Queues a request durably and starts the entity if it is idle. A request id the entity already has
   * is dropped (re-sent after a crash). Refused requests are not queued: the caller checks `refusal`.
   */
  async send(target: string, request: EntityRequest): Promise<void> {
    const refused = this.refusal(target, request.op);
    if (refused !== undefined) {
      // Orchestrations and the HTTP API are refused before sending; what gets here is a signal from an
      // entity, or a request sent before a restart with an app that no longer has the entity function.
      this.options.log(`entity ${target}: request ${request.op} (${request.id}) dropped: ${refused}`);
      // A caller waiting for the answer gets the refusal instead of waiting forever.
      if (!request.signal && request.parent !== undefined)
        await this.options.respond(
          request.parent,
          request.id,
          responseJson({ isError: true, result: JSON.stringify(refused) }),
        );
      return;
    }
    await this.options.store.enqueue(target, request);
    this.kick(target);
  }

  /** A signal from a client (the HTTP API): a request with no caller to answer. */
  signal(target: string, op: string, input: string | undefined): Promise<void> {
    return this.send(target, {
      id: randomUUID(),
      op,
      signal: true,
      ...(input !== undefined ? { input } : {}),
      timestamp: this.options.now(),
    });
  }

  read(target: string): EntityRecord | undefined {
    return this.options.store.record(target);
  }

  /**
   * After a restart: each entity first delivers its last committed outbox again (its answers and
   * signals may not have gone out before the crash), then runs what is queued.
   */
  recover(): void {
    for (const id of this.options.store.ids()) {
      if (this.options.store.record(id) !== undefined) this.redeliver.add(id);
      this.kick(id);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Read afresh after an await (stop() may have come meanwhile). */
  private halted(): boolean {
    return this.stopped;
  }

  private kick(id: string): void {
    if (this.stopped || this.running.has(id)) return;
    if (this.options.store.pending(id).length === 0 && !this.redeliver.has(id)) return;
    this.running.add(id);
    void this.loop(id).finally(() => {
      this.running.delete(id);
      // What arrived after the last look (and not while the loop could see it) starts a new loop.
      this.kick(id);
    });
  }

  private async loop(id: string): Promise<void> {
    const { store, slots, registry, batchSize, log } = this.options;
    const name = parseSchedulerId(id);
    if (name === undefined) return;
    const last = store.record(id);
    if (this.redeliver.delete(id) && last !== undefined) await this.deliver(id, last.outbox);
    while (!this.stopped) {
      const batch = store.pending(id).slice(0, batchSize);
      if (batch.length === 0) return;
      const fn = entityFunction(registry, name.name);
      const before = store.record(id) ?? {
        exists: false,
        state: undefined,
        processed: 0,
        lastModifiedTime: undefined,
        outbox: { responses: [], signals: [] },
      };
      await slots.acquire();
      let outcome;
      try {
        if (this.halted()) return;
        outcome =
          fn === undefined
            ? {
                exists: before.exists,
                state: before.state,
                results: batch.map(() => ({
                  isError: true,
                  result: JSON.stringify(unknownEntityMessage(registry, name.name)),
                })),
                signals: [],
              }
            : await runEntityBatch(
                registry,
                fn,
                { name: name.name, key: name.key, exists: before.exists, state: before.state },
                batch,
                log,
              );
      } finally {
        slots.release();
      }
      // stop() while the batch ran: nothing is committed, the batch runs again after a restart.
      if (this.halted()) return;
      const now = this.options.now();
      const outbox: Outbox = {
        responses: batch.flatMap((r, i) =>
          r.signal || r.parent === undefined
            ? []
            : [
                {
                  instanceId: r.parent,
                  requestId: r.id,
                  response: responseJson(outcome.results[i] ?? { isError: true }),
                },
              ],
        ),
        signals: outcome.signals.map((s) => ({
          target: s.target,
          request: {
            id: randomUUID(),
            op: s.op,
            signal: true,
            ...(s.input !== undefined ? { input: s.input } : {}),
            parent: id,
            timestamp: now,
          },
        })),
      };
      const record: EntityRecord = {
        exists: outcome.exists,
        state: outcome.exists ? outcome.state : undefined,
        processed: before.processed + batch.length,
        lastModifiedTime: now,
        outbox,
      };
      await store.commit(id, record);
      this.counters.batches++;
      this.counters.operations += batch.length;
      const failed = outcome.results.filter((r) => r.isError).length;
      log(
        `entity ${id}: batch of ${batch.length} (${batch.map((r) => r.op).join(', ')})${failed > 0 ? `, ${failed} failed` : ''}`,
      );
      // Delivered in order before the next batch: signals from this entity to another arrive in the
      // order they were sent.
      await this.deliver(id, outbox);
    }
  }

  private async deliver(id: string, outbox: Outbox): Promise<void> {
    for (const r of outbox.responses) {
      try {
        await this.options.respond(r.instanceId, r.requestId, r.response);
      } catch (e) {
        this.options.log(`entity ${id}: answer to ${r.instanceId} failed: ${String(e)}`);
      }
    }
    for (const s of outbox.signals) await this.send(s.target, s.request);
  }
}
