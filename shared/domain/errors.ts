import type { ErrorCode } from './errorCodes';

/**
 * Base of every named error the rotator raises, in the domain and in the ports alike. `code` is stable
 * (alerting, audit records and tests match on it); `retryable` says whether the same call may succeed
 * later (throttling, busy, 5xx) or will fail the same way again (validation, permissions, not found);
 * `message` is for humans and never carries key material, tokens or webhook URLs.
 */
export abstract class RotatorError extends Error {
  /** One of the closed list in ./errorCodes.ts: a class cannot invent another. */
  abstract readonly code: ErrorCode;
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never become valid by retrying: a bad URI, a malformed id, a broken setting. */
export class InvalidInputError extends RotatorError {
  readonly code: ErrorCode;
  readonly retryable = false;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Something nobody anticipated: a bug, or data no parser expected, met where an Azure call or a step
 * ran. Never retried (it would fail the same way, each time as blind); its `cause` keeps the original
 * error and its stack, which the activity boundary logs (shared/durable/activityBoundary.ts).
 */
export class UnexpectedError extends RotatorError {
  readonly code = 'UnexpectedError';
  readonly retryable = false;
}

/**
 * How an error is classified at the durable boundary (activity → orchestrator), where classes do not
 * survive: a named error keeps its code and retryability. Anything else is a bug or bad data (a
 * `TypeError` on a malformed record): permanent, so it is reported once instead of retried blind.
 */
export function classifyError(e: unknown): { code: ErrorCode; retryable: boolean; message: string } {
  if (e instanceof RotatorError) return { code: e.code, retryable: e.retryable, message: e.message };
  if (e instanceof Error)
    return { code: 'UnexpectedError', retryable: false, message: `${e.name}: ${e.message}` };
  return { code: 'UnexpectedError', retryable: false, message: String(e) };
}
