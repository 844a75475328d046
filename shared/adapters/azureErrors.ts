import { isRestError, RestError, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { RotatorError, UnexpectedError } from '../domain/errors';
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  InvalidKeyError,
  NotFoundError,
  ThrottledError,
  TransientError,
  VaultUnreachableError,
} from '../ports/errors';

/**
 * Codes the PostgreSQL resource provider uses when the key, or the server identity's access to it, is
 * unusable. They come back on the PATCH or in the failed operation; retrying cannot help until an
 * operator fixes the vault. (Key Vault's own `KeyNotFound` on a data-plane read stays a NotFound.)
 */
const INVALID_KEY_CODES = new Set(
  [
    'AzureKeyVaultKeyNotFound',
    'AzureKeyVaultKeyDisabled',
    'AzureKeyVaultKeyExpired',
    'AzureKeyVaultKeyNotYetValid',
    'AzureKeyVaultInvalidKey',
    'AzureKeyVaultMissingPermissions',
    'AzureKeyVaultInvalidUserAssignedIdentity',
    // Learn, "Configure data encryption" (PostgreSQL flexible server): the key named does not exist or
    // the identity has no Get access to it.
    'AzureKeyVaultKeyNameNotFound',
  ].map((c) => c.toLowerCase()),
);

export function isInvalidKeyCode(code: string | undefined): boolean {
  return code !== undefined && INVALID_KEY_CODES.has(code.toLowerCase());
}

function retryAfterSeconds(e: RestError): number | undefined {
  const header = e.response?.headers.get('retry-after');
  if (header === undefined) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Azure's code from the RestError, falling back to the body's `error.code` when the SDK did not lift it. */
function azureCode(e: RestError): string | undefined {
  if (e.code !== undefined && e.code !== '' && !/^[A-Z_]+$/.test(e.code)) return e.code;
  const body = e.response?.bodyAsText;
  if (body !== undefined && body !== null && body !== '') {
    try {
      const parsed = JSON.parse(body) as { error?: { code?: unknown } };
      if (typeof parsed.error?.code === 'string') return parsed.error.code;
    } catch {
      // not JSON: no code
    }
  }
  return e.code;
}

/**
 * Key Vault's inner error code (`error.innererror.code`), which says why a 403 was refused:
 * `ForbiddenByConnection`, `ForbiddenByFirewall`, `ForbiddenByRbac`, `ForbiddenByPolicy`, `KeyDisabled`...
 */
function innerErrorCode(e: RestError): string | undefined {
  // @azure/keyvault-keys 4.10 drops the body from the RestError and puts Key Vault's error, deserialized,
  // in `details` (`{ error: { code, message, innerError: { code } } }`, its api/operations.js).
  const details: unknown = e.details;
  if (typeof details === 'object' && details !== null) {
    const inner = (details as { error?: { innerError?: { code?: unknown } } }).error?.innerError?.code;
    if (typeof inner === 'string') return inner;
  }
  const body = e.response?.bodyAsText;
  if (body === undefined || body === null || body === '') return undefined;
  try {
    const parsed = JSON.parse(body) as { error?: { innererror?: { code?: unknown } } };
    const code = parsed.error?.innererror?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Key Vault refusing the caller's network: 403 `Forbidden` with one of two inner codes.
 * `ForbiddenByConnection`: public network access disabled and the call came through no approved private
 * link (microsoft/multimodal-ai#171 quotes the whole answer: "Public network access is disabled and
 * request is not from a trusted service nor via an approved private link." InnerError
 * {"code":"ForbiddenByConnection"}) - the usual CMK setup. `ForbiddenByFirewall`: a deny-by-default
 * firewall without a rule for the caller (Azure-Samples/azuresandbox#429 quotes the whole answer).
 * Both say "the network", never "a role"; Azure's code is the inner one, the one an operator searches for.
 */
export const NETWORK_INNER_CODES: readonly string[] = ['ForbiddenByConnection', 'ForbiddenByFirewall'];

/** Azure's spelling of a network refusal's inner code, or undefined when `inner` is not one. */
function networkInnerCode(inner: string | undefined): string | undefined {
  if (inner === undefined) return undefined;
  return NETWORK_INNER_CODES.find((c) => c.toLowerCase() === inner.toLowerCase());
}

/**
 * A pipeline policy for Key Vault clients: a 403 whose inner code is a network refusal
 * (`ForbiddenByConnection`, `ForbiddenByFirewall`) is thrown with
 * its body kept. `@azure/keyvault-keys` 4.10 keeps Key Vault's inner code on the error of a single
 * call (`details`) but not on a failed page of a list (its `pagingHelpers` build the error from the
 * status and `error.code` alone), and "Forbidden" alone cannot tell a firewall from a missing role.
 * Per call, outside the retry policy (which never retries a 403 anyway).
 */
export const keyVaultFirewallPolicy: PipelinePolicy = {
  name: 'keyVaultFirewallRefusal',
  async sendRequest(request, next) {
    const response = await next(request);
    if (response.status !== 403 || response.bodyAsText === undefined || response.bodyAsText === null)
      return response;
    let parsed: { error?: { code?: unknown; message?: unknown; innererror?: { code?: unknown } } };
    try {
      parsed = JSON.parse(response.bodyAsText) as typeof parsed;
    } catch {
      return response;
    }
    const rawInner = parsed.error?.innererror?.code;
    const inner = networkInnerCode(typeof rawInner === 'string' ? rawInner : undefined);
    if (inner === undefined) return response;
    throw new RestError(typeof parsed.error?.message === 'string' ? parsed.error.message : inner, {
      statusCode: 403,
      code: typeof parsed.error?.code === 'string' ? parsed.error.code : 'Forbidden',
      request,
      response,
    });
  },
};

/** Node's codes for a connection that failed or dropped, when something outside the pipeline threw one. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * Maps anything an Azure SDK call threw to a named error. `what` names the resource ("key pg-cmk in
 * contoso-kv"); Azure's message is kept because it says what to fix, and carries no secrets.
 *
 * Only what the call's transport can throw becomes an Azure error: a `RestError` (every HTTP answer,
 * and every connection failure: @typespec/ts-http-runtime's nodeHttpClient wraps a socket error in a
 * `RestError` with code `REQUEST_SEND_ERROR` or Node's own), an `AbortError` (its timeout), a Node
 * network error, and @azure/identity's errors. A `RotatorError` thrown inside the same `try` (a
 * projection refusing a malformed answer: `InvalidResourceIdError`...) keeps its class, code and
 * retryability. Anything else is a bug (a `TypeError` in our own code) or data nobody anticipated:
 * `UnexpectedError`, never retried, its cause (and stack) logged where the step ends
 * (shared/durable/activityBoundary.ts).
 */
export function mapAzureError(e: unknown, what: string): RotatorError {
  if (e instanceof RotatorError) return e;
  if (isRestError(e)) {
    const status = e.statusCode;
    const code = azureCode(e);
    const detail = `${what}: ${code ?? `HTTP ${status ?? '?'}`}${e.message !== '' ? ` - ${firstLine(e.message)}` : ''}`;
    if (status === 429)
      return new ThrottledError(`Throttled on ${detail}`, code, status, retryAfterSeconds(e), { cause: e });
    if (isInvalidKeyCode(code))
      return new InvalidKeyError(`Key unusable for ${detail}`, code, status, { cause: e });
    const networkCode = status === 403 ? networkInnerCode(innerErrorCode(e)) : undefined;
    if (status === 403 && networkCode !== undefined)
      return new VaultUnreachableError(
        `Network access refused by the firewall for ${what}: ${networkCode}${e.message !== '' ? ` - ${firstLine(e.message)}` : ''}`,
        networkCode,
        status,
        { cause: e },
      );
    if (status === 404) return new NotFoundError(`Not found: ${detail}`, code, status, { cause: e });
    if (status === 403) return new ForbiddenError(`Forbidden: ${detail}`, code, status, { cause: e });
    if (status === 401)
      return new AuthenticationError(`Unauthenticated: ${detail}`, code, status, { cause: e });
    if (status === 409) return new ConflictError(`Conflict: ${detail}`, code, status, { cause: e });
    if (status === 400 || status === 422)
      return new BadRequestError(`Rejected: ${detail}`, code, status, { cause: e });
    return new TransientError(`Failed: ${detail}`, code, status, { cause: e });
  }
  if (!(e instanceof Error))
    return new UnexpectedError(`Unexpected failure of ${what}: a non-Error was thrown`, { cause: e });
  const message = firstLine(e.message);
  // @azure/identity 4.13.1 (dist/commonjs/errors.js): a credential that could not answer at all throws
  // `CredentialUnavailableError` (a user-assigned Managed Identity whose IMDS endpoint is unreachable:
  // "Network unreachable"), and DefaultAzureCredential / ChainedTokenCredential, when no credential in
  // the chain gave a token, throw `AggregateAuthenticationError` (name "AggregateAuthenticationError",
  // its `errors` array holding each credential's error). Neither says a token endpoint refused us: an
  // IMDS blip must retry on the durable timers, not stop a rotation. A credential that is truly
  // misconfigured then fails after the step's retries (~6.5 min for a read), the safe side.
  if (e.name === 'CredentialUnavailableError' || e.name === 'AggregateAuthenticationError') {
    return new TransientError(`No credential answered for ${what}: ${message}`, undefined, undefined, {
      cause: e,
    });
  }
  // @azure/identity's AuthenticationError: the token endpoint answered (its `statusCode`); a 5xx or a
  // 429 there is as transient as anywhere else, the rest a credential that will not work.
  if (e.name === 'AuthenticationError') {
    const status = (e as { statusCode?: unknown }).statusCode;
    const s = typeof status === 'number' ? status : undefined;
    return s !== undefined && (s >= 500 || s === 429)
      ? new TransientError(`Token request for ${what} failed: HTTP ${s}`, undefined, s, { cause: e })
      : new AuthenticationError(`Unauthenticated: ${what}: ${message}`, undefined, s, { cause: e });
  }
  // The bearer token policy's own failure when the credential gave no token in time
  // (@azure/core-rest-pipeline 1.24, dist/commonjs/util/tokenCycler.js, a plain Error): the token
  // endpoint may answer next time, as before.
  if (e.message === 'Failed to refresh access token.')
    return new TransientError(`No token for ${what}: ${message}`, undefined, undefined, { cause: e });
  const nodeCode = (e as { code?: unknown }).code;
  if (e.name === 'AbortError' || (typeof nodeCode === 'string' && NETWORK_ERROR_CODES.has(nodeCode)))
    return new TransientError(`Failed: ${what}: ${e.name}: ${message}`, undefined, undefined, { cause: e });
  return new UnexpectedError(`Unexpected failure of ${what}: ${e.name}: ${message}`, { cause: e });
}

function firstLine(s: string): string {
  const line = s.split(/\r?\n/)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}
