import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Replayer } from '../durable/functions';
import type { InvocationRequest, InvocationResult, Invoker } from '../invoke';
import type { Episode, FromWorker, ToWorker } from './protocol';

/** A worker's answer to one invocation: what the function returned or threw, and its replay's episode. */
type Answer = ({ ok: true; result: InvocationResult } | { ok: false; error: Error }) & { episode?: Episode };

const WORKER_MAIN = join(__dirname, 'main.js');
/** How long a worker may take to load the app (the host's own load takes about a second). */
const READY_TIMEOUT_MS = 60_000;
/** Between two starts of a worker that exited: a worker that cannot start is not started in a loop. */
const RESTART_DELAY_MS = 1_000;
/** A worker that exits sooner than this after it became ready is started again after the delay. */
const CRASH_LOOP_MS = 10_000;

/** A worker could not load the app: the host does not start (its message says why). */
export class WorkerStartError extends Error {
  readonly code = 'WORKER_START_FAILED';
}

/** The host is stopping: an invocation still out is not answered. */
export class WorkerPoolClosedError extends Error {
  readonly code = 'WORKER_POOL_CLOSED';
}

export interface WorkerPoolOptions {
  readonly count: number;
  /** The worker's arguments: `--app <dir>` and the local Azure options the host itself was given. */
  readonly args: readonly string[];
  /** The functions the host loaded: a worker that registers others loaded another app. */
  readonly functions: readonly string[];
  readonly log: (line: string) => void;
}

interface Invocation {
  readonly id: number;
  readonly functionName: string;
  readonly request: InvocationRequest;
  /** An orchestrator's replay of this instance (undefined: an activity). */
  readonly instanceId: string | undefined;
  readonly log: (level: string, message: string) => void;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: Error) => void;
}

interface Worker {
  readonly index: number;
  child: ChildProcess;
  ready: boolean;
  /** When it last became ready (epoch ms): a worker that dies soon after is not started again at once. */
  readyAt: number;
  readonly running: Map<number, Invocation>;
}

/**
 * The local host's worker processes: `count` Node processes that each load the app and run what the
 * host sends them: activities, and orchestrator replays. Why: in Azure the Functions host (the durable
 * extension and its task hub) and the Node.js language worker that runs the app's code are two
 * processes, and a scaled-out app has several instances taking work items from one task hub: activity
 * messages from one work-item queue any instance takes (Learn, "Azure Storage provider for Durable
 * Functions"; "Performance and scale in Durable Functions": activity triggers are stateless and scale
 * out to many VMs), orchestrations from the partitions each instance holds. One Node process doing both
 * the host's and the worker's part leaves the second core of a 2-core machine idle.
 *
 * An invocation goes to the worker with the fewest running. A worker that exits while the host runs is
 * started again and what it was running runs again on a worker (an activity at least once, as after a
 * host crash: the work item's lock would expire in Azure and another instance would take it; a replay
 * is only a replay). Entity operations and the app's other triggers still run in the host's process.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  /** Invocations no worker is ready for (all starting again), in arrival order. */
  private readonly waiting: Invocation[] = [];
  private nextId = 1;
  private closing = false;

  private constructor(private readonly options: WorkerPoolOptions) {}

  /** Starts the workers and waits until every one has loaded the app (or refuses with WorkerStartError). */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      await Promise.all(
        Array.from({ length: options.count }, async (_, index) => {
          const worker: Worker = { index, child: pool.fork(), ready: false, readyAt: 0, running: new Map() };
          pool.workers.push(worker);
          await pool.whenReady(worker);
        }),
      );
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Runs an activity on a worker: an {@link Invoker}. */
  readonly invoke: Invoker = async (fn, request, log) => {
    const answer = await this.run(fn.metadata.name, request, log, undefined);
    if (answer.ok) return answer.result;
    throw answer.error;
  };

  /** Replays an orchestrator on a worker, with what its executor opened: a {@link Replayer}. */
  readonly replay: Replayer = async (fn, instanceId, request, log) => {
    const answer = await this.run(fn.metadata.name, request, log, instanceId);
    return {
      outcome: answer.ok ? { ok: true, result: answer.result } : { ok: false, error: answer.error },
      executor: answer.episode?.executor,
      fireAndForget: answer.episode?.fireAndForget ?? [],
    };
  };

  private run(
    functionName: string,
    request: InvocationRequest,
    log: (level: string, message: string) => void,
    instanceId: string | undefined,
  ): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      if (this.closing) {
        reject(new WorkerPoolClosedError('the host is stopping'));
        return;
      }
      this.dispatch({ id: this.nextId++, functionName, request, instanceId, log, resolve, reject });
    });
  }

  /** The workers' process ids (for measuring them). */
  pids(): number[] {
    return this.workers.flatMap((w) => (w.child.pid !== undefined ? [w.child.pid] : []));
  }

  /** Closes the channels (each worker exits when its channel closes) and waits for the processes. */
  async close(): Promise<void> {
    this.closing = true;
    const stopped = new WorkerPoolClosedError('the host is stopping');
    for (const inv of this.waiting.splice(0)) inv.reject(stopped);
    await Promise.all(
      this.workers.map(async (w) => {
        for (const inv of w.running.values()) inv.reject(stopped);
        w.running.clear();
        await stopProcess(w.child);
      }),
    );
  }

  private fork(): ChildProcess {
    const child = fork(WORKER_MAIN, [...this.options.args], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // A send to a worker that has just died fails here, not in the host: its 'exit' re-runs what it had.
    child.on('error', (e) => this.options.log(`worker (pid ${child.pid ?? '?'}): ${e.message}`));
    return child;
  }

  /** Resolves when `worker` has loaded the same app; rejects if it fails to, or exits first. */
  private whenReady(worker: Worker): Promise<void> {
    const { child } = worker;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(`did not load the app within ${READY_TIMEOUT_MS / 1000} s`),
        READY_TIMEOUT_MS,
      );
      const fail = (why: string) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onEarlyExit);
        reject(new WorkerStartError(`worker ${worker.index} ${why}`));
      };
      const onEarlyExit = (code: number | null, signal: string | null) =>
        fail(`exited before it was ready (${exitText(code, signal)})`);
      const onMessage = (message: FromWorker) => {
        if (message.kind === 'loadFailed') fail(`could not load the app: ${message.message}`);
        else if (message.kind === 'ready') {
          const expected = [...this.options.functions].sort().join(',');
          const got = [...message.functions].sort().join(',');
          if (got !== expected) {
            fail(`loaded other functions than the host (${got}; the host: ${expected})`);
            return;
          }
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onEarlyExit);
          worker.ready = true;
          worker.readyAt = Date.now();
          child.on('message', (m: FromWorker) => this.answer(worker, m));
          child.once('exit', (code, signal) => this.exited(worker, code, signal));
          this.options.log(`worker ${worker.index} ready (pid ${child.pid ?? '?'})`);
          this.drain();
          resolve();
        } else if (message.kind === 'systemLog') this.logFrom(worker, message);
      };
      child.on('message', onMessage);
      child.once('exit', onEarlyExit);
    });
  }

  /** A line of the worker itself or of the programming model, in the host's log. */
  private logFrom(worker: Worker, line: { level: string; category: string; message: string }): void {
    this.options.log(`worker ${worker.index} ${line.category}/${line.level}: ${line.message}`);
  }

  private dispatch(inv: Invocation): void {
    let best: Worker | undefined;
    for (const w of this.workers)
      if (w.ready && (best === undefined || w.running.size < best.running.size)) best = w;
    if (best === undefined) {
      this.waiting.push(inv);
      return;
    }
    best.running.set(inv.id, inv);
    const message: ToWorker = {
      kind: 'invoke',
      id: inv.id,
      functionName: inv.functionName,
      request: inv.request,
      ...(inv.instanceId !== undefined ? { instanceId: inv.instanceId } : {}),
    };
    best.child.send(message);
  }

  private drain(): void {
    for (const inv of this.waiting.splice(0)) this.dispatch(inv);
  }

  private answer(worker: Worker, message: FromWorker): void {
    if (message.kind === 'systemLog') {
      this.logFrom(worker, message);
      return;
    }
    if (message.kind !== 'log' && message.kind !== 'done' && message.kind !== 'failed') return;
    const inv = worker.running.get(message.id);
    if (inv === undefined) return; // answered already, or re-sent elsewhere after this worker was given up
    if (message.kind === 'log') {
      inv.log(message.level, message.message);
      return;
    }
    worker.running.delete(message.id);
    const episode = message.episode !== undefined ? { episode: message.episode } : {};
    if (message.kind === 'done') inv.resolve({ ok: true, result: message.result, ...episode });
    else {
      const error = new Error(message.error.message);
      error.stack = message.error.stack ?? `Error: ${message.error.message}`;
      inv.resolve({ ok: false, error, ...episode });
    }
  }

  /** A ready worker exited: what it ran runs again, on a worker started in its place. */
  private exited(worker: Worker, code: number | null, signal: string | null): void {
    worker.ready = false;
    if (this.closing) return;
    const again = [...worker.running.values()];
    worker.running.clear();
    this.options.log(
      `worker ${worker.index} (pid ${worker.child.pid ?? '?'}) exited (${exitText(code, signal)}); ` +
        `${again.length} invocation(s) it was running run again`,
    );
    this.waiting.unshift(...again);
    this.drain();
    // A worker that died within seconds of starting may die on what it is given again (an invocation
    // that kills its process runs again, at least once as any activity): not in a tight loop.
    if (Date.now() - worker.readyAt < CRASH_LOOP_MS)
      setTimeout(() => this.restart(worker), RESTART_DELAY_MS).unref();
    else this.restart(worker);
  }

  private restart(worker: Worker): void {
    if (this.closing) return;
    worker.child = this.fork();
    this.whenReady(worker).catch((e: unknown) => {
      if (this.closing) return;
      this.options.log(
        `${e instanceof Error ? e.message : String(e)}; starting it again in ${RESTART_DELAY_MS} ms`,
      );
      void stopProcess(worker.child).then(() =>
        setTimeout(() => this.restart(worker), RESTART_DELAY_MS).unref(),
      );
    });
  }
}

/** How a process ended: its signal, else its exit code. */
function exitText(code: number | null, signal: string | null): string {
  return signal ?? `code ${code ?? '?'}`;
}

/** Closes a worker's channel (it exits on that) and waits for it; kills it if it has not gone in 5 s. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill('SIGTERM');
  });
}
