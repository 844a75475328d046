import type { OrchestrationContext, Task } from 'durable-functions';

/** A sub-orchestration the window waits on, with what it was started for. */
export interface InFlight<T> {
  readonly item: T;
  readonly task: Task;
}

/**
 * What a sliding window schedules: the rotation's batches (`rolloutInBatches`, per subscription) and
 * a batch's servers (`rolloutBatch`, as ARM's quota allows). The window owns the loop and the waits;
 * the caller decides what starts, how a finished task is taken in, and when to look again.
 */
export interface WindowPlan<T> {
  /**
   * Work not started yet (true while `settle` may still start more): the window ends once nothing is
   * in flight and nothing is pending.
   */
  pending(): boolean;
  /**
   * With nothing pending and every task in flight started at the last look, wait for all of them at
   * once instead of looking each `wakeAt` (no `looked` or `settle` until the last has finished, or one
   * has failed: then the window looks by timer again). For a window whose end is all that matters to
   * what waits on it: the canary ring, which holds back the main ring. Not for the rest: its progress
   * and its reports to the governor come from its looks.
   */
  readonly drainTogether?: boolean;
  /**
   * Before `fill`, once per look: may ask someone else how much may start (yields: a batch asks its
   * lane); `fill` reads the answer from the caller's own state.
   */
  admit?(inFlight: readonly InFlight<T>[], now: number): Generator<Task, void, unknown>;
  /** Starts what may start now (once per look, after the finished tasks are settled). */
  fill(inFlight: readonly InFlight<T>[], now: number): InFlight<T>[];
  /**
   * Takes in one finished task (in start order, so replay sees the same order): may page (yield
   * activities) and start others in its place, returned.
   */
  settle(
    done: InFlight<T>,
    inFlight: readonly InFlight<T>[],
  ): Generator<Task, readonly InFlight<T>[], unknown>;
  /** After the tasks finished since the last look are settled (`finished`: how many). */
  looked?(finished: number, inFlight: readonly InFlight<T>[]): void;
  /**
   * When to look again if no task started since the last look finishes first (orchestration time, ms);
   * not asked while the window drains together.
   */
  wakeAt(now: number, inFlight: readonly InFlight<T>[]): number;
}

/**
 * The one sliding-window scheduler of the rotation: settles what finished, starts what may start, and
 * waits for a task just started to finish or for the next look, whichever comes first (or, with
 * nothing left to start and everything in flight just started, for all of it). Every finished task is
 * seen through its own state at the next look.
 *
 * Only tasks started since the last look go into `Task.any` (or `Task.all`): durable-functions sends a
 * compound task's sub-tasks to the host as new actions, so a task yielded again would be scheduled
 * again (Azure/azure-functions-durable-js issue 574).
 */
export function* slidingWindow<T>(
  context: OrchestrationContext,
  plan: WindowPlan<T>,
  initial: readonly InFlight<T>[] = [],
): Generator<Task, void, unknown> {
  let inFlight: InFlight<T>[] = [...initial];
  const started: Task[] = initial.map((f) => f.task);
  const add = (more: readonly InFlight<T>[]): void => {
    inFlight.push(...more);
    started.push(...more.map((f) => f.task));
  };
  for (;;) {
    const finished = inFlight.filter((f) => f.task.isCompleted || f.task.isFaulted);
    inFlight = inFlight.filter((f) => !finished.includes(f));
    for (const done of finished) add(yield* plan.settle(done, inFlight));
    plan.looked?.(finished.length, inFlight);
    if (inFlight.length === 0 && !plan.pending()) return;
    if (plan.admit !== undefined) yield* plan.admit(inFlight, context.df.currentUtcDateTime.getTime());
    const now = context.df.currentUtcDateTime.getTime();
    add(plan.fill(inFlight, now));
    if (plan.drainTogether === true && !plan.pending() && started.length === inFlight.length) {
      // Nothing left to start and every task in flight went out at this look: they are waited on
      // together, without a timer. The canary ring's batches usually start at once (up to three per
      // subscription), and so do a canary batch's servers when its governor lets them: the main ring
      // then starts in the episode that sees the last canary verified, not up to two poll intervals
      // later, one for the batch's look and one for the rotation's (15 s each by default; with a 5 s
      // poll, 9.9 s with nothing in flight before, README, Scale).
      const all = context.df.Task.all(started.splice(0));
      try {
        yield all;
      } catch {
        // `Task.all` fails with the first task that fails, while the others may still run: the next
        // look settles what finished, failed or not, and waits for the rest by timer as usual.
      }
      continue;
    }
    const tick = context.df.createTimer(new Date(Math.max(plan.wakeAt(now, inFlight), now)));
    const winner = (yield context.df.Task.any([...started.splice(0), tick])) as Task;
    if (winner !== tick) tick.cancel();
  }
}
