import { randomUUID } from 'node:crypto';
import type { FunctionRegistry, RegisteredFunction } from '../core';
import { invokeFunction, typed, untyped } from '../invoke';
import { ActionType, entityInput } from './actions';
import { EventType, ev } from './history';
import type { HistoryEvent } from './store';

/**
 * Durable entities: the messages between orchestrations and entities and one batch of an entity's
 * operations run through the app's own entity function. What decides each shape:
 *
 * - Entity ids: durable-functions' EntityId.getSchedulerIdFromEntityId gives `@<name lowercased>@<key>`
 *   (lib/src/entities/EntityId.js); the extension's EntityId lowercases the name the same way, so names
 *   are case-insensitive and the entity sees its name lowercased.
 * - A call or signal from an orchestration is an `EventSent` history event (InstanceId = the scheduler
 *   id, Name "op") whose EventId is the task's sequence number and whose Input is the RequestMessage as
 *   JSON: `op`, `signal` (only when true), `input` (the operation input as JSON text), `id` (a GUID),
 *   `parent` (the calling instance), as the extension's EntityScheduler/RequestMessage.cs names them.
 *   durable-functions' TaskOrchestrationExecutor reads `id` from that Input to wait for the answer.
 * - The answer is an `EventRaised` whose Name is the request id and whose Input is the ResponseMessage
 *   as JSON: `result` (the operation's result, JSON text) and `exceptionType` when it failed; an
 *   out-of-proc entity's failure is answered with exceptionType "Error" (TaskEntityShim.cs,
 *   ExecuteOutOfProcBatch), which makes the library's callEntity throw (TaskOrchestrationExecutor.
 *   setTaskValue).
 * - The entity function gets the batch as the extension's EntityTriggerAttributeBindingProvider
 *   (EntityContextToString) builds it: `{self: {name, key}, exists, state, batch: [{name, input,
 *   isSignal, id}]}`, and returns durable-functions' EntityState: `{entityExists, entityState, results:
 *   [{isError, result, duration}], signals: [{target: {name, key}, name, input}]}` (OutOfProcResult in
 *   TaskEntityShim.cs; lib/src/entities/Entity.js).
 */

/** One operation waiting for, or run by, an entity (the extension's RequestMessage). */
export interface EntityRequest {
  readonly id: string;
  readonly op: string;
  readonly signal: boolean;
  /** The operation input as JSON text. */
  readonly input?: string;
  /** The orchestration that called (a call's answer goes there) or signalled. */
  readonly parent?: string;
  readonly timestamp: string;
}

/** One operation's outcome as the entity function reported it. */
export interface OperationResult {
  readonly isError: boolean;
  /** JSON text of the result (or of the error). */
  readonly result?: string;
}

/** A signal an operation sent to another entity. */
export interface EntitySignal {
  readonly target: string;
  readonly op: string;
  readonly input?: string;
}

export interface BatchOutcome {
  readonly exists: boolean;
  readonly state: string | undefined;
  readonly results: OperationResult[];
  readonly signals: EntitySignal[];
}

export const REQUEST_EVENT_NAME = 'op';

export function schedulerId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

/** `@name@key` → name and key (EntityId.getEntityIdFromSchedulerId). */
export function parseSchedulerId(id: string): { name: string; key: string } | undefined {
  const at = id.indexOf('@', 1);
  if (!id.startsWith('@') || at < 0) return undefined;
  return { name: id.slice(1, at), key: id.slice(at + 1) };
}

/** The registered entity function of a scheduler id's name (names are case-insensitive). */
export function entityFunction(registry: FunctionRegistry, name: string): RegisteredFunction | undefined {
  const fn = registry.get(name);
  return fn?.trigger.type === 'entityTrigger' ? fn : undefined;
}

/**
 * The extension's refusal of an entity name with no entity function (DurableTaskExtension.
 * ThrowIfFunctionDoesNotExist → GetInvalidEntityFunctionMessage): an ArgumentException that fails the
 * calling orchestration, or a 400 from the HTTP API.
 */
export function unknownEntityMessage(registry: FunctionRegistry, name: string): string {
  const known = [...registry.functions.values()]
    .filter((f) => f.trigger.type === 'entityTrigger')
    .map((f) => f.metadata.name);
  return (
    `The function '${name}' doesn't exist, is disabled, or is not an entity function. Additional info: ` +
    (known.length > 0
      ? `The following are the known entity functions: '${known.join("', '")}'.`
      : 'No entity functions are currently registered!')
  );
}

/** Why an orchestrator's entity actions cannot be sent, if one names no entity function. */
export function refusedEntityAction(
  registry: FunctionRegistry,
  actions: readonly Record<string, unknown>[],
): string | undefined {
  for (const a of actions) {
    if (a['actionType'] !== ActionType.CallEntity && a['actionType'] !== ActionType.SignalEntity) continue;
    const id = parseSchedulerId(String(a['instanceId']));
    if (id === undefined) return `The entity id ${String(a['instanceId'])} is not of the form @name@key.`;
    if (entityFunction(registry, id.name) === undefined) return unknownEntityMessage(registry, id.name);
  }
  return undefined;
}

/** The EventSent event of an orchestration's callEntity (signal false) or signalEntity (signal true). */
export function entityRequestEvent(
  instanceId: string,
  action: Record<string, unknown>,
  eventId: number,
  now: string,
): HistoryEvent {
  const request: EntityRequest = {
    op: String(action['operation']),
    ...(action['actionType'] === ActionType.SignalEntity ? { signal: true } : { signal: false }),
    ...(action['input'] !== undefined ? { input: entityInput(action) } : {}),
    id: randomUUID(),
    parent: instanceId,
    timestamp: now,
  };
  return ev(
    EventType.EventSent,
    now,
    { InstanceId: action['instanceId'], Name: REQUEST_EVENT_NAME, Input: JSON.stringify(request) },
    eventId,
  );
}

/** The request an EventSent event carries, with its target; undefined when it is not an entity request. */
export function requestOfEvent(e: HistoryEvent): { target: string; request: EntityRequest } | undefined {
  if (e.EventType !== EventType.EventSent || e['Name'] !== REQUEST_EVENT_NAME) return undefined;
  const target = e['InstanceId'];
  const input = e['Input'];
  if (typeof target !== 'string' || typeof input !== 'string') return undefined;
  return { target, request: JSON.parse(input) as EntityRequest };
}

/** The answer to a call, as the EventRaised Input the library reads (ResponseMessage). */
export function responseJson(r: OperationResult): string {
  return JSON.stringify({ result: r.result, ...(r.isError ? { exceptionType: 'Error' } : {}) });
}

/**
 * Runs one batch through the entity function: one invocation for the whole batch, as the extension
 * does for an out-of-proc app. A batch whose invocation fails as a whole (the function throws, or
 * returns something that is not an EntityState with one result per operation) fails every operation
 * in it and changes nothing: the extension treats that as an internal error of the batch
 * ("Out of proc orchestrators must return a valid JSON schema", TaskEntityShim.cs).
 */
export async function runEntityBatch(
  registry: FunctionRegistry,
  fn: RegisteredFunction,
  entity: { name: string; key: string; exists: boolean; state: string | undefined },
  batch: readonly EntityRequest[],
  log: (line: string) => void,
): Promise<BatchOutcome> {
  const binding = {
    self: { name: entity.name, key: entity.key },
    exists: entity.exists,
    state: entity.state ?? null,
    batch: batch.map((r) => ({ name: r.op, input: r.input ?? null, isSignal: r.signal, id: r.id })),
  };
  const failAll = (reason: string): BatchOutcome => ({
    exists: entity.exists,
    state: entity.state,
    results: batch.map(() => ({ isError: true, result: JSON.stringify(reason) })),
    signals: [],
  });
  let value: unknown;
  try {
    const r = await invokeFunction(
      registry,
      fn,
      { inputData: [{ name: fn.triggerName, data: typed(binding) }] },
      (_level, message) => log(`[${fn.metadata.name}] ${message}`),
    );
    value = untyped(r.returnValue);
  } catch (e) {
    return failAll(`entity function failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const out = value as {
    entityExists?: unknown;
    entityState?: unknown;
    results?: unknown;
    signals?: unknown;
  } | null;
  if (
    typeof out !== 'object' ||
    out === null ||
    !Array.isArray(out.results) ||
    out.results.length !== batch.length
  )
    return failAll('Out of proc orchestrators must return a valid JSON schema.');
  const exists = out.entityExists === true;
  const signals: EntitySignal[] = [];
  for (const s of Array.isArray(out.signals) ? (out.signals as Record<string, unknown>[]) : []) {
    const target = s['target'] as { name?: unknown; key?: unknown } | undefined;
    if (typeof target?.name !== 'string' || typeof target.key !== 'string') continue;
    const input = s['input'];
    signals.push({
      target: schedulerId(target.name, target.key),
      op: String(s['name']),
      ...(typeof input === 'string' && input !== '' ? { input } : {}),
    });
  }
  return {
    exists,
    state: exists && typeof out.entityState === 'string' ? out.entityState : undefined,
    results: (out.results as Record<string, unknown>[]).map((r) => ({
      isError: r['isError'] === true,
      ...(typeof r['result'] === 'string' ? { result: r['result'] } : {}),
    })),
    signals,
  };
}
