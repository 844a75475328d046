import {
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { AggregateAuthenticationError, CredentialUnavailableError } from '@azure/identity';
import { keyVaultFirewallPolicy, mapAzureError } from '../../../shared/adapters/azureErrors';
import { CrossTenantUndeterminedError } from '../../../shared/domain/crossTenant';
import { type RotatorError, UnexpectedError } from '../../../shared/domain/errors';
import { InvalidResourceIdError } from '../../../shared/domain/resourceId';
import {
  AuthenticationError,
  BadRequestError,
  TransientError,
  ForbiddenError,
  InvalidKeyError,
  VaultUnreachableError,
} from '../../../shared/ports/errors';

describe('mapAzureError: the resource provider refusing a key', () => {
  it.each([
    ['AzureKeyVaultKeyNameNotFound', InvalidKeyError],
    ['AzureKeyVaultKeyNotFound', InvalidKeyError],
    ['AzureKeyVaultMissingPermissions', InvalidKeyError],
    ['InvalidParameterValue', BadRequestError],
  ])('maps a 400 %s to %p', (code, type) => {
    const error = mapAzureError(new RestError('refused', { code, statusCode: 400 }), 'updating pg-a');
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ azureCode: code });
  });
});

describe("mapAzureError: Key Vault's firewall is not a missing permission", () => {
  const keyVault403 = (inner: string | undefined, via: 'details' | 'body'): RestError => {
    const error = {
      code: 'Forbidden',
      message: 'refused',
      ...(inner ? { innererror: { code: inner } } : {}),
    };
    const e = new RestError('refused', {
      code: 'Forbidden',
      statusCode: 403,
      ...(via === 'body'
        ? {
            response: {
              status: 403,
              headers: createHttpHeaders(),
              request: createPipelineRequest({ url: 'https://contoso-kv.vault.azure.net/keys/k' }),
              bodyAsText: JSON.stringify({ error }),
            },
          }
        : {}),
    });
    // @azure/keyvault-keys 4.10 puts the deserialized error (camelCase innerError) in `details`.
    if (via === 'details')
      e.details = {
        error: { code: 'Forbidden', message: 'refused', innerError: inner ? { code: inner } : undefined },
      };
    return e;
  };

  it.each([
    // Public access disabled (microsoft/multimodal-ai#171) and deny-by-default without a rule.
    ['ForbiddenByConnection', 'details', VaultUnreachableError, 'ForbiddenByConnection'],
    ['ForbiddenByConnection', 'body', VaultUnreachableError, 'ForbiddenByConnection'],
    ['ForbiddenByFirewall', 'details', VaultUnreachableError, 'ForbiddenByFirewall'],
    ['ForbiddenByFirewall', 'body', VaultUnreachableError, 'ForbiddenByFirewall'],
    ['ForbiddenByRbac', 'details', ForbiddenError, 'Forbidden'],
    [undefined, 'body', ForbiddenError, 'Forbidden'],
  ] as const)('a 403 with inner code %s (in the %s) maps to %p', (inner, via, type, azureCode) => {
    const mapped = mapAzureError(keyVault403(inner, via), 'reading key pg-cmk in contoso-kv');
    expect(mapped).toBeInstanceOf(type);
    expect(mapped).toMatchObject({ azureCode });
    expect(mapped.retryable).toBe(false);
  });

  it.each(['ForbiddenByConnection', 'ForbiddenByFirewall'])(
    'the client policy keeps the network refusal (%s) of a listing (whose SDK error drops the body)',
    async (inner) => {
      const request = createPipelineRequest({ url: 'https://contoso-kv.vault.azure.net/keys/k/versions' });
      const answer = (status: number, body: unknown): Promise<PipelineResponse> =>
        Promise.resolve({ status, request, headers: createHttpHeaders(), bodyAsText: JSON.stringify(body) });
      const refused = {
        error: {
          code: 'Forbidden',
          message: 'Public network access is disabled...',
          innererror: { code: inner },
        },
      };
      const rbac = {
        error: {
          code: 'Forbidden',
          message: 'Caller is not authorized',
          innererror: { code: 'ForbiddenByRbac' },
        },
      };
      const thrown: unknown = await keyVaultFirewallPolicy
        .sendRequest(request, () => answer(403, refused))
        .catch((e: unknown) => e);
      expect(mapAzureError(thrown, 'listing versions')).toMatchObject({
        code: 'VaultUnreachable',
        azureCode: inner,
      });
      await expect(
        keyVaultFirewallPolicy.sendRequest(request, () => answer(403, rbac)),
      ).resolves.toMatchObject({ status: 403 });
      await expect(keyVaultFirewallPolicy.sendRequest(request, () => answer(200, {}))).resolves.toMatchObject(
        {
          status: 200,
        },
      );
    },
  );
});

describe('mapAzureError: only what the call itself threw becomes an Azure error', () => {
  it.each<[string, RotatorError]>([
    ['a malformed id in the answer', new InvalidResourceIdError('not-an-id', 'server', 'no /subscriptions/')],
    ['a cross-tenant server the read could not judge', new CrossTenantUndeterminedError('preview refused')],
  ])('%s (a RotatorError) keeps its class, code and permanence: never retried as Transient', (_, error) => {
    const mapped = mapAzureError(error, 'reading server pg-a');
    expect(mapped).toBe(error);
    expect(mapped.retryable).toBe(false);
  });

  it.each([
    ['a TypeError in our own code', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a RangeError', new RangeError('Invalid time value')],
    ['a non-Error value', 'boom'],
  ])('%s is a bug: UnexpectedError, not retryable, its cause (and stack) kept', (_, thrown) => {
    const mapped = mapAzureError(thrown, 'reading server pg-a');
    expect(mapped).toBeInstanceOf(UnexpectedError);
    expect(mapped).toMatchObject({ code: 'UnexpectedError', retryable: false });
    expect(mapped).not.toBeInstanceOf(TransientError);
    expect(mapped.cause).toBe(thrown);
    if (thrown instanceof Error) expect(mapped.message).toContain(thrown.name);
  });

  const named = (name: string, extra: Record<string, unknown> = {}): Error =>
    Object.assign(Object.defineProperty(new Error('failed'), 'name', { value: name }), extra);
  it.each([
    [
      'a connection failure (RestError REQUEST_SEND_ERROR)',
      new RestError('socket hang up', { code: 'REQUEST_SEND_ERROR' }),
      TransientError,
    ],
    ["the transport's timeout (AbortError)", named('AbortError'), TransientError],
    ['a Node network error outside the pipeline', named('Error', { code: 'ECONNRESET' }), TransientError],
    [
      "@azure/identity's token endpoint answering 503",
      named('AuthenticationError', { statusCode: 503 }),
      TransientError,
    ],
    [
      "@azure/identity's token endpoint refusing (400)",
      named('AuthenticationError', { statusCode: 400 }),
      AuthenticationError,
    ],
    [
      'a Managed Identity whose IMDS endpoint is unreachable (CredentialUnavailableError)',
      new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable'),
      TransientError,
    ],
    [
      'DefaultAzureCredential finding no credential that answered (AggregateAuthenticationError)',
      new AggregateAuthenticationError(
        [new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable')],
        'ChainedTokenCredential authentication failed.',
      ),
      TransientError,
    ],
    [
      "@azure/identity's token endpoint answering 401",
      named('AuthenticationError', { statusCode: 401 }),
      AuthenticationError,
    ],
    [
      "the bearer token policy's timeout (a plain Error)",
      new Error('Failed to refresh access token.'),
      TransientError,
    ],
  ])('%s stays an Azure call error (%p)', (_, thrown, type) => {
    expect(mapAzureError(thrown, 'reading key pg-cmk')).toBeInstanceOf(type);
  });
});
