import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { RotatorError } from '../domain/errors';
import type { OrchestrationContract, StepName } from '../rotation/contract';
import type { HealthWatchContract } from './contractTypes';
import schema from './contractSchemas.json';

/**
 * Run-time checks of the durable contract (shared/rotation/contract.ts): every activity's and orchestration's
 * input and output against a JSON Schema per entry. The schemas are generated from the TypeScript
 * types (shared/durable/contractTypes.ts, `npm run contract:schemas`), so they cannot drift from the
 * types: test/unit/durable/contractSchemas.test.ts regenerates them and compares.
 *
 * Objects may carry properties the type does not name (a spread, an input an older deployment wrote):
 * what is checked is that every property the code reads is there with the right shape.
 */
export type ContractEntry =
  | { readonly kind: 'activity'; readonly name: StepName }
  | { readonly kind: 'orchestration'; readonly name: keyof OrchestrationContract }
  | { readonly kind: 'healthWatch'; readonly name: keyof HealthWatchContract };
export type ContractSide = 'input' | 'output';

/**
 * A durable input or output the contract refuses: fatal, never retried (the same value would be
 * refused again). The message names the entry and the first bad path (`/servers/0/serverId`), never
 * the value: it may sit next to something an operator should not see in a log.
 */
export class InvalidDurableValueError extends RotatorError {
  readonly code: 'InvalidDurableInput' | 'InvalidDurableOutput';
  readonly retryable = false;

  constructor(
    readonly entry: ContractEntry,
    readonly side: ContractSide,
    /** JSON Pointer of the first value refused (`''`: the value itself). */
    readonly path: string,
    reason: string,
  ) {
    super(`${entry.kind} ${entry.name}: ${side} refused at ${path === '' ? '/' : path}: ${reason}`);
    this.code = side === 'input' ? 'InvalidDurableInput' : 'InvalidDurableOutput';
  }
}

const ajv = new Ajv({ allErrors: false, strict: true });
ajv.addSchema(schema, 'contract');
const compiled = new Map<string, ValidateFunction>();

function validatorOf(entry: ContractEntry, side: ContractSide): ValidateFunction {
  const group =
    entry.kind === 'activity'
      ? 'StepContract'
      : entry.kind === 'orchestration'
        ? 'OrchestrationContract'
        : 'HealthWatchContract';
  const ref = `contract#/definitions/${group}/properties/${entry.name}/properties/${side}`;
  let validate = compiled.get(ref);
  if (validate === undefined) {
    validate = ajv.getSchema(ref);
    if (validate === undefined) throw new Error(`No schema for ${entry.kind} ${entry.name} ${side}`);
    compiled.set(ref, validate);
  }
  return validate;
}

/** The first refusal as a path and a reason, in ajv's words (which never quote the value). */
function firstProblem(errors: readonly ErrorObject[] | null | undefined): { path: string; reason: string } {
  const first = errors?.[0];
  if (first === undefined) return { path: '', reason: 'refused' };
  const missing = (first.params as { missingProperty?: unknown }).missingProperty;
  if (first.keyword === 'required' && typeof missing === 'string')
    return { path: `${first.instancePath}/${missing}`, reason: 'is required' };
  return { path: first.instancePath, reason: first.message ?? first.keyword };
}

/** The refusal of `value` as this entry's input or output, or undefined when the contract accepts it. */
export function contractProblem(
  entry: ContractEntry,
  side: ContractSide,
  value: unknown,
): InvalidDurableValueError | undefined {
  const validate = validatorOf(entry, side);
  if (validate(value)) return undefined;
  const { path, reason } = firstProblem(validate.errors);
  return new InvalidDurableValueError(entry, side, path, reason);
}
