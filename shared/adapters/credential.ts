import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

/**
 * The app's identity in Azure: the user-assigned managed identity when its client id is configured
 * (Flex Consumption apps usually have several identities, so naming one avoids guessing), otherwise
 * DefaultAzureCredential (developer sign-in, workload identity, system-assigned identity).
 */
export function createAzureCredential(managedIdentityClientId: string | undefined): TokenCredential {
  return managedIdentityClientId !== undefined
    ? new ManagedIdentityCredential({ clientId: managedIdentityClientId })
    : new DefaultAzureCredential();
}
