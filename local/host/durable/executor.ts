import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Reads task ids from durable-functions' own TaskOrchestrationExecutor instead of recomputing them:
 * the library numbers tasks as it opens them (retries and timers included), and the host must put the
 * same numbers on the history events it writes. Only the local host patches this, only to observe.
 */
export interface ExecutorTask {
  id: number | string | false;
  /** The action object; a NoOpTask (retry bookkeeping) carries the string "noOp" instead. */
  actionObj: Record<string, unknown> | string | undefined;
  parent?: ExecutorTask;
  /** RetryableTask fields. */
  isWaitingOnTimer?: boolean;
  attemptNumber?: number;
  retryOptions?: RetryOptions;
  innerTask?: ExecutorTask;
}

export interface RetryOptions {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

export interface ExecutorView {
  openTasks: Record<string, ExecutorTask>;
}

const slot = new AsyncLocalStorage<{ executor?: ExecutorView }>();
let patched = false;

export function patchExecutor(): void {
  if (patched) return;
  patched = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('durable-functions/lib/src/orchestrations/TaskOrchestrationExecutor') as {
    TaskOrchestrationExecutor: { prototype: { execute: (...args: unknown[]) => Promise<unknown> } };
  };
  const proto = mod.TaskOrchestrationExecutor.prototype;
  const original = proto.execute;
  proto.execute = function (this: ExecutorView, ...args: unknown[]) {
    const store = slot.getStore();
    if (store !== undefined) store.executor = this;
    return original.apply(this, args);
  };
}

/** Runs one orchestrator invocation and hands back the executor it used. */
export async function withExecutor<T>(
  run: () => Promise<T>,
): Promise<{ result: T; executor: ExecutorView | undefined }> {
  const store: { executor?: ExecutorView } = {};
  const result = await slot.run(store, run);
  return { result, executor: store.executor };
}
