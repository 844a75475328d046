import type { PipelineRetryOptions } from '@azure/core-rest-pipeline';

/**
 * Client options for a client that sends non-idempotent writes (the server PATCH, Key Vault's rotate):
 * the same options with the SDK's own retries turned off.
 *
 * `@azure/core-rest-pipeline`'s `defaultRetryPolicy` (1.24, via `@typespec/ts-http-runtime`
 * `retryStrategies/`) resends a request whatever its method: `throttlingRetryStrategy` on 429 or 503
 * with `Retry-After`, `exponentialRetryStrategy` on any 5xx but 501/505, on 408, and on the system
 * errors ETIMEDOUT, ESOCKETTIMEDOUT, ECONNREFUSED, ECONNRESET, ENOENT, ENOTFOUND — 3 retries by default.
 * For a write, a 5xx, a 408 or a dropped connection can come after Azure accepted it: the resend is a
 * second accepted write nobody decided on. With `maxRetries: 0` the first answer goes back to our
 * code, which re-reads the resource before it writes again (a 429 or 409 refusal included: retried
 * by the orchestrator after `Retry-After`, on a durable timer).
 */
export function writeOnceOptions<T extends { retryOptions?: PipelineRetryOptions }>(options: T): T {
  return { ...options, retryOptions: { ...options.retryOptions, maxRetries: 0 } };
}
