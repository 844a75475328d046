import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { createAzureCredential } from '../../../shared/adapters/credential';

describe('createAzureCredential', () => {
  it('uses the user-assigned managed identity when its client id is configured', () => {
    expect(createAzureCredential('9e8d7c6b-0001-4000-8000-000000000001')).toBeInstanceOf(
      ManagedIdentityCredential,
    );
  });
  it('falls back to DefaultAzureCredential otherwise', () => {
    expect(createAzureCredential(undefined)).toBeInstanceOf(DefaultAzureCredential);
  });
});
