import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';

/**
 * Reads task ids from durable-functions' own TaskOrchestrationExecutor instead of recomputing them:
 * the library numbers tasks as it opens them (retries and timers included), and the host must put the
 * same numbers on the history events it writes. The real extension never needs this (its Durable Task
 * Framework numbers the same calls itself); the local host observes the executor because copying that
 * numbering would be a second implementation to keep in step.
 *
 * The executor observed is the APP's: the copy of durable-functions that the app's own code loaded
 * (found in `require.cache` after the app is loaded, and resolved from the app's folder), never the
 * host's. Its `execute` is wrapped in memory to learn which executor ran an episode; no file of the
 * library is changed and nothing else of it is touched.
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

/**
 * A fire-and-forget action (signalEntity) with the sequence number the library gave it: it records the
 * action and advances its counter without opening a task (DurableOrchestrationContext.signalEntity →
 * TaskOrchestrationExecutor.recordFireAndForgetAction), so the host learns the number here.
 */
export interface FireAndForget {
  action: Record<string, unknown>;
  id: number;
}

interface EpisodeSlot {
  executor?: ExecutorView;
  fireAndForget: FireAndForget[];
  /** The history the executor replayed (its `execute(context, history, …)`). */
  history?: unknown;
}

/** The durable-functions versions the host speaks: the 3.x out-of-process protocol (replay schema V1–V4). */
export const SUPPORTED_DURABLE_FUNCTIONS = '>=3.0.0 <4.0.0';

/** Thrown when the app's durable-functions cannot be used; the message is one line naming it. */
export class UnsupportedDurableFunctionsError extends Error {}

const EXECUTOR_FILE = ['lib', 'src', 'orchestrations', 'TaskOrchestrationExecutor.js'].join(sep);
const observed = new Set<string>();
/**
 * The episode in progress per instance id: the engine replays an instance one episode at a time (its
 * lock), and the executor's `execute` receives the invocation context, whose `df.instanceId` names it.
 * Not an AsyncLocalStorage: on Node 20 and 22 that installs promise hooks for the whole process, and
 * every promise of every activity, HTTP call and file write paid for them (2-3% of the host's CPU at
 * fleet scale).
 */
const episodes = new Map<string, EpisodeSlot>();
/** The episode an executor runs (a new executor per invocation: durable-functions' Orchestrator.handle). */
const byExecutor = new WeakMap<object, EpisodeSlot>();

function instanceIdOf(context: unknown): string | undefined {
  if (typeof context !== 'object' || context === null) return undefined;
  const df = (context as { df?: unknown }).df;
  if (typeof df !== 'object' || df === null) return undefined;
  const id = (df as { instanceId?: unknown }).instanceId;
  return typeof id === 'string' ? id : undefined;
}

function supported(version: string): boolean {
  const major = /^(\d+)\.\d+\.\d+/.exec(version)?.[1];
  return major === '3';
}

/** The package folder of a loaded TaskOrchestrationExecutor.js (…/durable-functions). */
function packageDirOf(executorFile: string): string {
  return executorFile.slice(0, -EXECUTOR_FILE.length - 1);
}

function versionOf(packageDir: string): string {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * After the app is loaded: finds every copy of durable-functions it uses (the one resolved from its
 * folder, as `require('durable-functions')` in the app resolves it, and any other copy its code loaded),
 * refuses versions outside {@link SUPPORTED_DURABLE_FUNCTIONS}, and observes each copy's executor.
 * Returns the copies found as `<version> at <folder>`.
 */
export function observeAppExecutors(appRoot: string): string[] {
  const dirs = new Set<string>();
  try {
    // The app's copy, resolved from the app's folder exactly as its own require would.
    const entry = require.resolve('durable-functions', { paths: [appRoot] });
    let dir = dirname(entry);
    while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
    dirs.add(dir);
  } catch {
    // No durable-functions reachable from the app: it uses no orchestrations (checked below).
  }
  for (const file of Object.keys(require.cache))
    if (file.endsWith(`${sep}durable-functions${sep}${EXECUTOR_FILE}`)) dirs.add(packageDirOf(file));
  const found: string[] = [];
  for (const dir of dirs) {
    const version = versionOf(dir);
    if (!supported(version))
      throw new UnsupportedDurableFunctionsError(
        `durable-functions ${version} (${dir}) is outside the range the local host supports (${SUPPORTED_DURABLE_FUNCTIONS})`,
      );
    observe(join(dir, EXECUTOR_FILE));
    found.push(`${version} at ${dir}`);
  }
  return found;
}

function observe(file: string): void {
  if (observed.has(file)) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as {
    TaskOrchestrationExecutor?: {
      prototype: {
        execute: (...args: unknown[]) => Promise<unknown>;
        recordFireAndForgetAction?: (...args: unknown[]) => unknown;
      };
    };
  };
  const proto = mod.TaskOrchestrationExecutor?.prototype;
  if (proto === undefined || typeof proto.execute !== 'function')
    throw new UnsupportedDurableFunctionsError(
      `${file} has no TaskOrchestrationExecutor.execute: this durable-functions is not one the local host supports (${SUPPORTED_DURABLE_FUNCTIONS})`,
    );
  observed.add(file);
  const original = proto.execute;
  proto.execute = function (this: ExecutorView, ...args: unknown[]) {
    const id = instanceIdOf(args[0]);
    const store = id === undefined ? undefined : episodes.get(id);
    if (store !== undefined) {
      store.executor = this;
      store.history = args[1];
      byExecutor.set(this, store);
    }
    return original.apply(this, args);
  };
  const record = proto.recordFireAndForgetAction;
  if (typeof record === 'function')
    proto.recordFireAndForgetAction = function (
      this: { sequenceNumber?: unknown; willContinueAsNew?: unknown },
      ...args: unknown[]
    ) {
      const store = byExecutor.get(this);
      const action = args[0];
      // What the library does: nothing is recorded once continue-as-new was asked for.
      if (
        store !== undefined &&
        this.willContinueAsNew !== true &&
        typeof this.sequenceNumber === 'number' &&
        typeof action === 'object' &&
        action !== null
      )
        store.fireAndForget.push({ action: action as Record<string, unknown>, id: this.sequenceNumber });
      return record.apply(this, args);
    };
}

/**
 * Runs one orchestrator invocation of `instanceId` and hands back the executor it used (undefined:
 * none observed).
 */
export async function withExecutor<T>(
  instanceId: string,
  run: () => Promise<T>,
): Promise<{
  result: T;
  executor: ExecutorView | undefined;
  fireAndForget: FireAndForget[];
  history: unknown;
}> {
  if (episodes.has(instanceId))
    throw new Error(`an episode of ${instanceId} is already running: the engine replays one at a time`);
  const store: EpisodeSlot = { fireAndForget: [] };
  episodes.set(instanceId, store);
  try {
    const result = await run();
    return { result, executor: store.executor, fireAndForget: store.fireAndForget, history: store.history };
  } finally {
    episodes.delete(instanceId);
  }
}
