import { RotatorError } from '../domain/errors';

/**
 * Named errors the ports raise, with stable codes, on the one error base the domain uses
 * (`RotatorError`: code, retryable, cause). The orchestrator retries what is `retryable` on durable
 * timers within a bounded budget and never retries the rest. Messages name the resource and the Azure
 * error code, never tokens or key material.
 */
export abstract class AzureCallError extends RotatorError {
  constructor(
    message: string,
    /** Azure's own error code (e.g. `KeyNotFound`, `AuthorizationFailed`), when it sent one. */
    readonly azureCode: string | undefined,
    /** HTTP status, when the call got that far. */
    readonly statusCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class NotFoundError extends AzureCallError {
  readonly code = 'NotFound';
  readonly retryable = false;
}

export class ForbiddenError extends AzureCallError {
  readonly code = 'Forbidden';
  readonly retryable = false;
}

export class ThrottledError extends AzureCallError {
  readonly code = 'Throttled';
  readonly retryable = true;

  constructor(
    message: string,
    azureCode: string | undefined,
    statusCode: number | undefined,
    /** From `Retry-After`; the caller waits at least this long before trying again. */
    readonly retryAfterSeconds: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, azureCode, statusCode, options);
  }
}

/** The resource is busy with another operation (ARM 409), or the request conflicts with its state. */
export class ConflictError extends AzureCallError {
  readonly code = 'Conflict';
  readonly retryable = true;
}

/** The key (version) cannot be used: disabled, expired, wrong type or size, or the identity lacks grants. */
export class InvalidKeyError extends AzureCallError {
  readonly code = 'InvalidKey';
  readonly retryable = false;
}

/**
 * The app cannot reach the vault over the network: Key Vault refused the call (403, inner code
 * `ForbiddenByConnection`: public network access disabled and no private endpoint; or
 * `ForbiddenByFirewall`: a deny-by-default firewall without a rule for the app). Not a missing permission and not transient: it fails the same way until the
 * network changes (private endpoint + VNet integration, or a firewall rule), so it is never retried.
 */
export class VaultUnreachableError extends AzureCallError {
  readonly code = 'VaultUnreachable';
  readonly retryable = false;
}

/** Rejected request that will fail the same way again (400 other than key problems). */
export class BadRequestError extends AzureCallError {
  readonly code = 'BadRequest';
  readonly retryable = false;
}

/** 5xx, timeouts, connection resets: worth another try. */
export class TransientError extends AzureCallError {
  readonly code = 'Transient';
  readonly retryable = true;
}

export class AuthenticationError extends AzureCallError {
  readonly code = 'Unauthenticated';
  readonly retryable = false;
}

/**
 * The audit trail did not accept every record (ingestion refused them, accepted only some, or could
 * not be reached). Thrown so the caller's trigger or activity is retried; `retryable` says whether the
 * same batch can succeed later (5xx, 429, partial acceptance, a token problem) or not (400).
 */
export class AuditDeliveryError extends AzureCallError {
  readonly code = 'AuditNotDelivered';

  constructor(
    message: string,
    azureCode: string | undefined,
    statusCode: number | undefined,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, azureCode, statusCode, options);
  }
}
