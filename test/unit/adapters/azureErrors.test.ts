import { RestError } from '@azure/core-rest-pipeline';
import { mapAzureError } from '../../../shared/adapters/azureErrors';
import { BadRequestError, InvalidKeyError } from '../../../shared/ports/errors';

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
