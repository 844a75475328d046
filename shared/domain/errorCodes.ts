/**
 * Every stable `code` the rotator's own errors carry, in one closed union: `RotatorError.code` is typed
 * by it, so an error class that invents a code outside this list does not compile. Alerting, audit
 * records, HTTP answers and tests match on these; renaming one is a breaking change.
 *
 * A `StepError` (shared/rotation/activityIo.ts) carries one of these, or Azure's own code verbatim when Azure
 * sent one (`AuthorizationFailed`, `KeyNotFound`...): those are Azure's, not listed here.
 */
export const ERROR_CODES = [
  // Azure calls (shared/ports/errors.ts), mapped by shared/adapters/azureErrors.ts
  'NotFound',
  'Forbidden',
  'Throttled',
  'Conflict',
  'InvalidKey',
  'VaultUnreachable',
  'BadRequest',
  'Transient',
  'Unauthenticated',
  'AuditNotDelivered',
  // Input that can never become valid by retrying (InvalidInputError and its subclasses)
  'InvalidConfiguration',
  'InvalidPlanInput',
  'InvalidResourceId',
  'InvalidKeyIdentifier',
  'InvalidQueryParameter',
  'InvalidOperatorRequest',
  'KeyNotFound',
  'RetryRefused',
  // The durable contract refused a value at run time (shared/durable/contractSchemas.ts)
  'InvalidDurableInput',
  'InvalidDurableOutput',
  // Dependencies and steps
  'KeyVaultUnavailable',
  'PagingFailed',
  'CrossTenantCmk',
  'CrossTenantUndetermined',
  'EventVersionNotListed',
  'RunClosing',
  // A bug or data nobody anticipated: never retried, logged with its stack
  'UnexpectedError',
  // Made by the orchestrators (shared/workflows) when a step ends without an answer or a budget runs out
  'ActivityFailed',
  'ServerBusy',
  'ServerInaccessible',
  'ThrottledPastDeadline',
  'RetriesExhausted',
  'OperationTimedOut',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `code` is one of ours (not Azure's own code carried through a `StepError`). */
export function isErrorCode(code: string): code is ErrorCode {
  return KNOWN.has(code);
}
