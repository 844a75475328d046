import type {
  CheckFleetHealthInput,
  CheckFleetHealthOutput,
  HealthWatchInput,
  HealthWatchOutput,
} from '../domain/healthWatch';
import type { OrchestrationContract, StepContract } from '../rotation/contract';

/** The health watch's own durable contract (shared/domain/healthWatch.ts), by registered name. */
export interface HealthWatchContract {
  readonly fleetHealthWatch: { readonly input: HealthWatchInput; readonly output: HealthWatchOutput };
  readonly checkFleetHealth: {
    readonly input: CheckFleetHealthInput;
    readonly output: CheckFleetHealthOutput;
  };
}

/**
 * The durable contract as one type: every activity's and orchestration's input and output, by name.
 * `contractSchemas.json` is generated from it (`npm run contract:schemas`, ts-json-schema-generator),
 * so the run-time schemas are the TypeScript types by construction; a unit test regenerates it and
 * fails when the committed file differs. The contract itself stays in shared/rotation/contract.ts.
 */
export interface DurableContract {
  readonly activities: StepContract;
  readonly orchestrations: OrchestrationContract;
  readonly healthWatch: HealthWatchContract;
}
