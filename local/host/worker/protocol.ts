import type { ExecutorView, FireAndForget } from '../durable/executor';
import type { InvocationRequest, InvocationResult } from '../invoke';

/**
 * What the local host and its worker processes say to each other over the IPC channel
 * (`child_process.fork` with `serialization: 'advanced'`, so strings and buffers cross as they are,
 * without a second JSON encoding). The host sends invocations; a worker answers each once.
 */
export interface ToWorker {
  kind: 'invoke';
  id: number;
  functionName: string;
  request: InvocationRequest;
  /** Set for an orchestrator's replay: the answer then carries what its executor opened ({@link Episode}). */
  instanceId?: string;
}

/** What durable-functions' executor opened in a replay (executor.ts), as the host needs it. */
export interface Episode {
  executor: ExecutorView | undefined;
  fireAndForget: FireAndForget[];
}

export type FromWorker =
  /** The app is loaded: the functions it registered (the host checks it loaded the same app). */
  | { kind: 'ready'; functions: string[] }
  /** The app could not be loaded; the worker exits after this. */
  | { kind: 'loadFailed'; message: string }
  /** A `context.log` line of invocation `id`. */
  | { kind: 'log'; id: number; level: string; message: string }
  /** A line of the worker itself or of the programming model (`@azure/functions-core`'s `log`). */
  | { kind: 'systemLog'; level: string; category: string; message: string }
  | { kind: 'done'; id: number; result: InvocationResult; episode?: Episode }
  /** The function threw: what the host needs to write TaskFailed as it does for an in-process throw. */
  | { kind: 'failed'; id: number; error: { message: string; stack: string | undefined }; episode?: Episode };
