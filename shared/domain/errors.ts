/**
 * Base of every named error the domain raises. `code` is stable (alerting and tests match on it);
 * `message` is for humans and never carries key material, tokens or webhook URLs.
 */
export abstract class RotatorError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never become valid by retrying: a bad URI, a malformed id, a broken setting. */
export class InvalidInputError extends RotatorError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
