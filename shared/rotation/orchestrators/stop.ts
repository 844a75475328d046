import type { Task } from 'durable-functions';
import { recordAudit } from '../../workflows/activityCalls';
import { continueWith, output, pageUndeliveredAudit, progress, record, type Ended, type Run } from './run';
import { pendingSignal } from './signals';

/**
 * Ends a run that stopped before the rollout; incidents stay open (nothing proved them fixed). A
 * signal that arrived meanwhile (an operator request, a newer version) still gets its run.
 */
export function* stop(
  run: Run,
  code: string,
  reason: string,
  target: string | undefined,
): Generator<Task, Ended, unknown> {
  const waiting = yield* pendingSignal(run, target, undefined);
  yield* recordAudit(run.context, [
    record(run, {
      step: 'RotationCompleted',
      outcome: 'failure',
      reasonCode: code,
      reason,
      toVersion: target,
    }),
  ]);
  yield* pageUndeliveredAudit(run);
  // A last look after the last activity (see `finish`): nothing is sent between it and the end.
  if (waiting === undefined) progress(run, run.phase ?? 'reading', { closing: true });
  const next = waiting ?? (yield* pendingSignal(run, target, undefined));
  const out = output(run, { status: 'stopped', targetVersion: target, reasonCode: code });
  if (next !== undefined) continueWith(run, next, out);
  return { ended: out };
}
