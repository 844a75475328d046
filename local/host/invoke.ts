import { randomUUID } from 'node:crypto';
import type { FunctionRegistry, RegisteredFunction, TypedData } from './core';

/** One input binding value as the worker receives it from the host (RPC `ParameterBinding`). */
export interface InputData {
  readonly name: string;
  readonly data: TypedData;
}

export interface InvocationResult {
  readonly returnValue: TypedData | undefined;
  readonly outputData: readonly { name: string; data: TypedData }[];
}

/** What the host sends the worker to invoke a function (RPC `InvocationRequest`, the parts used here). */
export interface InvocationRequest {
  readonly inputData: InputData[];
  readonly triggerMetadata?: Record<string, TypedData>;
  readonly retryContext?: unknown;
}

/**
 * Runs one invocation of a function somewhere: in this process ({@link invokeFunction}) or in a worker
 * process (`worker/pool.ts`). Throws what the function threw.
 */
export type Invoker = (
  fn: RegisteredFunction,
  request: InvocationRequest,
  log: (level: string, message: string) => void,
) => Promise<InvocationResult>;

/** An invocation's outcome as a value: what the function returned, or the Error it threw. */
export type Settled = { ok: true; result: InvocationResult } | { ok: false; error: Error };

export function settle(invocation: Promise<InvocationResult>): Promise<Settled> {
  return invocation.then(
    (result) => ({ ok: true as const, result }),
    (e: unknown) => ({ ok: false as const, error: asError(e) }),
  );
}

/** What was thrown, as an Error (a non-Error throw becomes its text). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export function typed(value: unknown): TypedData {
  if (value === undefined || value === null) return {};
  if (typeof value === 'string') return { string: value };
  if (Buffer.isBuffer(value)) return { bytes: value };
  return { json: JSON.stringify(value) };
}

/** The JS value of an RPC `TypedData`, as the host would read a function's return value. */
export function untyped(data: TypedData | undefined): unknown {
  if (data === undefined) return undefined;
  if (typeof data['string'] === 'string') return data['string'];
  if (typeof data['json'] === 'string') return JSON.parse(data['json']) as unknown;
  if (data['bytes'] !== undefined) return Buffer.from(data['bytes'] as Uint8Array);
  if (typeof data['int'] === 'number') return data['int'];
  if (typeof data['double'] === 'number') return data['double'];
  if (data['http'] !== undefined) return data['http'];
  return undefined;
}

/**
 * Invokes a registered function exactly as the Node.js worker does: the programming model turns RPC
 * input into `(trigger, InvocationContext)`, calls the handler, and turns its result into RPC output.
 * `log` receives `context.log` lines.
 */
export async function invokeFunction(
  registry: FunctionRegistry,
  fn: RegisteredFunction,
  request: InvocationRequest,
  log: (level: string, message: string) => void,
): Promise<InvocationResult> {
  const model = registry.programmingModel;
  if (model === undefined)
    throw new Error('the app registered no programming model (did it import @azure/functions?)');
  const invocationId = randomUUID();
  const coreContext = {
    invocationId,
    request: {
      invocationId,
      functionId: fn.metadata.name,
      inputData: request.inputData,
      triggerMetadata: request.triggerMetadata ?? {},
      retryContext: request.retryContext,
    },
    metadata: fn.metadata,
    state: 'invocation',
    log: (level: string, category: string, message: string) => {
      if (category === 'user') log(level, message);
      else registry.log(level, category, message);
    },
  };
  const invocation = model.getInvocationModel(coreContext);
  const { context, inputs } = await invocation.getArguments();
  const result = await invocation.invokeFunction(context, inputs, fn.handler);
  const response = await invocation.getResponse(context, result);
  return { returnValue: response.returnValue, outputData: response.outputData ?? [] };
}
