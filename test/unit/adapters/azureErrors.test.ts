import {
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { keyVaultFirewallPolicy, mapAzureError } from '../../../shared/adapters/azureErrors';
import {
  BadRequestError,
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
    expect(error.azureCode).toBe(code);
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
    expect(mapped.azureCode).toBe(azureCode);
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
