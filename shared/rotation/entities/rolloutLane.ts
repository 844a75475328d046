import type { EntityContext } from 'durable-functions';
import {
  acquire,
  close,
  laneStateOf,
  LaneInputError,
  report,
  type AcquireRequest,
  type HolderReport,
  type LaneState,
} from '../lane';
import { objectInput } from './entityInput';

/** What the lane entity answers to; anything else is refused with this list. */
export const LANE_OPERATIONS = ['acquire', 'report', 'close', 'end', 'read'] as const;

/**
 * The in-flight budget of one subscription's lane in one rollout phase, as a durable entity (key: a
 * guid the rotation draws for the phase, then the subscription id): the lane's batches ask it before
 * they start servers (`acquire`, a call), say when theirs finished and nothing is due (`report`) and
 * when they end (`close`, both signals). Messages from one orchestration to an entity arrive in the
 * order sent (Microsoft Learn, "Entity functions"), so a batch's count is never overtaken by an older
 * one. The rotation signals `end` once the phase is over and the state is gone; `read` answers it,
 * for operators.
 */
export function rolloutLaneEntity(context: EntityContext<LaneState>): void {
  const raw = context.df.getState();
  const state = laneStateOf(raw);
  const operation = context.df.operationName;
  // A `report` or `close` that finds no lane came after its `end` (they are sent by the batches, `end`
  // by the rotation, and messages from two senders may arrive in either order): it must not make the
  // lane again, since nothing would end it.
  if (raw === undefined && (operation === 'report' || operation === 'close')) return;
  switch (operation) {
    case 'acquire': {
      const { state: next, granted } = acquire(state, acquireOf(context.df.getInput<unknown>()));
      context.df.setState(next);
      context.df.return(granted);
      return;
    }
    case 'report':
      context.df.setState(report(state, reportOf(context.df.getInput<unknown>())));
      return;
    case 'close':
      // Kept while the phase runs, also once nobody holds anything: the closed batches' late messages
      // must still find them closed.
      context.df.setState(close(state, reportOf(context.df.getInput<unknown>(), 'close').holder));
      return;
    case 'end':
      // The phase is over (a rotation has a lane per subscription and phase): nothing to keep.
      context.df.destructOnExit();
      return;
    case 'read':
      context.df.return(state);
      return;
    default:
      throw new LaneInputError(
        `unknown operation "${String(operation)}"; accepted: ${LANE_OPERATIONS.join(', ')}`,
      );
  }
}

const objectOf = (input: unknown, operation: string): Record<string, unknown> =>
  objectInput(input, operation, (message) => new LaneInputError(message));

function acquireOf(input: unknown): AcquireRequest {
  const o = objectOf(input, 'acquire');
  return {
    holder: o['holder'] as string,
    inFlight: o['inFlight'] as number,
    want: o['want'] as number,
    limit: o['limit'] as number,
  };
}

function reportOf(input: unknown, operation = 'report'): HolderReport {
  const o = objectOf(input, operation);
  return { holder: o['holder'] as string, inFlight: (o['inFlight'] ?? 0) as number };
}
