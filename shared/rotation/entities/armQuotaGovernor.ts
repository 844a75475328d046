import type { EntityContext, EntityHandler } from 'durable-functions';
import {
  GovernorInputError,
  governorStateOf,
  observe,
  reserve,
  type GovernorState,
  type QuotaReading,
  type ReserveRequest,
} from '../governor';
import { objectInput } from './entityInput';

/** What the governor entity answers to; anything else is refused with this list. */
export const GOVERNOR_OPERATIONS = ['reserve', 'observe', 'read'] as const;
export type GovernorOperation = (typeof GOVERNOR_OPERATIONS)[number];

/**
 * The ARM quota governor of one subscription as a durable entity (key: the subscription id, lower
 * case): every rotation of the app asks it when its servers may start (`reserve`), and a server's
 * rollover tells it of a 429, or when a start out of a full bucket reached ARM (`observe`). Durable
 * entities run one operation at a time per entity and keep their state between operations (Microsoft
 * Learn, "Entity functions"), which is what a shared token bucket needs; the model itself is pure
 * (../governor.ts). Entities are not replayed, so it may read the clock (injected, for tests). `read`
 * answers the state, for operators.
 */
export function armQuotaGovernor(clock: () => number = Date.now): EntityHandler<GovernorState> {
  return function armQuotaGovernorEntity(context: EntityContext<GovernorState>): void {
    const state = governorStateOf(context.df.getState());
    const operation = context.df.operationName;
    switch (operation) {
      case 'reserve': {
        const { state: next, reservation } = reserve(
          state,
          requestOf(context.df.getInput<unknown>()),
          clock(),
        );
        context.df.setState(next);
        context.df.return(reservation);
        return;
      }
      case 'observe':
        context.df.setState(observe(state, readingOf(context.df.getInput<unknown>())));
        return;
      case 'read':
        context.df.return(state);
        return;
      default:
        throw new GovernorInputError(
          `unknown operation "${String(operation)}"; accepted: ${GOVERNOR_OPERATIONS.join(', ')}`,
        );
    }
  };
}

const objectOf = (input: unknown, operation: string): Record<string, unknown> =>
  objectInput(input, operation, (message) => new GovernorInputError(message));

function requestOf(input: unknown): ReserveRequest {
  const o = objectOf(input, 'reserve');
  return {
    servers: o['servers'] as number,
    readsPerServer: o['readsPerServer'] as number,
    writesPerServer: o['writesPerServer'] as number,
    untimedReadsPerServer:
      o['untimedReadsPerServer'] === undefined ? undefined : (o['untimedReadsPerServer'] as number),
    requester: typeof o['requester'] === 'string' ? o['requester'] : '',
  };
}

function readingOf(input: unknown): QuotaReading {
  const o = objectOf(input, 'observe');
  const opt = (k: string) => (o[k] === undefined || o[k] === null ? undefined : (o[k] as number));
  return {
    at: o['at'] as number,
    reads: opt('reads'),
    writes: opt('writes'),
    retryAfterSeconds: opt('retryAfterSeconds'),
    operationSeconds: opt('operationSeconds'),
    slot: opt('slot'),
  };
}
