import type { Task, TimerTask } from 'durable-functions';
import type { KeyInfo } from '../../domain/model';
import { log } from '../../workflows/activityCalls';
import { isRotationReason, KEY_EVENT_SIGNAL, type KeyEventSignal } from '../contract';
import { signalNeedsRun } from '../policy';
import type { Run } from './run';

/** The `keyEvent` signals a running rotation takes in (raised by the intake for its key). */

/**
 * Takes in every `keyEvent` signal already waiting and returns the first that needs a run of its own;
 * the others were covered by this run and are dropped. A zero-length timer races the wait: raised
 * events are buffered by the durable runtime, so one already sent wins.
 *
 * The wait that lost the race stays open (durable-functions has no way to cancel it) and takes the
 * next `keyEvent` whenever it lands in the history: a new wait would never see that event. So the run
 * keeps that one wait (`run.signals`) and a later look fires a zero timer and reads it.
 */
export function* pendingSignal(
  run: Run,
  handledVersion: string | undefined,
  key: KeyInfo | undefined,
): Generator<Task, KeyEventSignal | undefined, unknown> {
  const { context } = run;
  let wanted: KeyEventSignal | undefined;
  for (;;) {
    let timer: TimerTask | undefined;
    let event = run.signals;
    if (event === undefined) {
      event = context.df.waitForExternalEvent(KEY_EVENT_SIGNAL);
      run.signals = event;
      timer = context.df.createTimer(context.df.currentUtcDateTime);
      yield context.df.Task.any([event, timer]);
    } else if (!event.isCompleted) {
      timer = context.df.createTimer(context.df.currentUtcDateTime);
      yield timer;
    }
    if (!event.isCompleted) return wanted;
    if (timer !== undefined && !timer.isCompleted) timer.cancel();
    run.signals = undefined;
    const signal = asSignal(event.result);
    if (signal === undefined) {
      // Not one the intake sends (someone raised it by hand, or a reason outside the contract, which
      // the next generation's input would carry and the durable boundary refuse): read, and nothing to do.
      log(context, `ignored a malformed ${KEY_EVENT_SIGNAL} signal`);
      continue;
    }
    const needs =
      key === undefined
        ? signal.reason === 'Operator' || signal.version !== undefined
        : signalNeedsRun(signal, handledVersion, key);
    log(
      context,
      `signal ${signal.trigger} (${signal.reason} ${signal.version ?? ''}): ${needs ? 'needs a run' : 'covered'}`,
    );
    if (needs && wanted === undefined) wanted = signal;
  }
}

function asSignal(v: unknown): KeyEventSignal | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { trigger, reason, version } = v as Partial<Record<keyof KeyEventSignal, unknown>>;
  return typeof trigger === 'string' &&
    isRotationReason(reason) &&
    (version === undefined || version === null || typeof version === 'string')
    ? { trigger, reason, version: version ?? undefined }
    : undefined;
}
