/**
 * Turns the reason codes a rollout meets (Azure's error codes, our own verification codes) into what an
 * operator reads in a page: what is wrong, and the next step. Unknown codes still get a useful answer.
 */
import { RotatorError } from './errors';
import { resourceNameOf } from './resourceId';

export interface Diagnosis {
  readonly what: string;
  readonly nextStep: string;
}

export interface DiagnosisContext {
  readonly vaultName: string;
  readonly keyName: string;
  readonly serverName?: string | undefined;
  /** The identity the server uses for the key, when known. */
  readonly identityId?: string | undefined;
  /** The key version the server uses now, when known. */
  readonly fromVersion?: string | undefined;
}

const identityName = (id: string | undefined): string =>
  id === undefined ? "the server's user-assigned identity" : `identity ${resourceNameOf(id)}`;

/**
 * What a report says of a failed call: Azure's error code (a port's `AzureCallError` carries it as
 * `azureCode`), else the named error's code for such a call, else the error's name. Never the message,
 * which may carry URLs or details a status page or a log line does not need.
 */
export function describeFailure(e: unknown): string {
  if (e instanceof RotatorError && 'azureCode' in e)
    return typeof e.azureCode === 'string' ? e.azureCode : e.code;
  return e instanceof Error ? e.name : 'error';
}

/** Learn: reaching a vault with public access disabled from a function app (private endpoint + VNet integration). */
export const VAULT_NETWORK_FIX_URL =
  'https://learn.microsoft.com/azure/key-vault/general/private-link-service';

/** What to do when Key Vault's firewall refuses the app (`ForbiddenByConnection`, `ForbiddenByFirewall`): the one fix text. */
export function vaultUnreachableFix(vaultName: string): string {
  return `Give the rotator a network path to vault ${vaultName}: integrate the function app with a virtual network (Flex Consumption virtualNetworkSubnetId, a subnet delegated to Microsoft.App/environments) and add a private endpoint for the vault with the privatelink.vaultcore.azure.net private DNS zone linked to that network (infra: the network-isolated parameters), or allow the app's outbound addresses or subnet in the vault's firewall. Trusted-service bypass does not cover the app. See ${VAULT_NETWORK_FIX_URL}`;
}

/** Codes that mean Key Vault's firewall refused the app: Azure's inner code, or the named error's. */
export function isVaultUnreachable(code: string): boolean {
  const c = code.toLowerCase();
  return c === 'forbiddenbyconnection' || c === 'forbiddenbyfirewall' || c === 'vaultunreachable';
}

export function diagnose(code: string, ctx: DiagnosisContext): Diagnosis {
  const vault = `vault ${ctx.vaultName}`;
  const server = ctx.serverName ?? 'the server';
  switch (code.toLowerCase()) {
    case 'azurekeyvaultmissingpermissions':
      return {
        what: `${identityName(ctx.identityId)} of ${server} may not use key ${ctx.keyName} in ${vault}`,
        nextStep: `Grant ${identityName(ctx.identityId)} "Key Vault Crypto Service Encryption User" on ${vault} (RBAC) or get, wrapKey and unwrapKey (access policy), then re-run the rotation.`,
      };
    case 'forbiddenbyconnection':
    case 'forbiddenbyfirewall':
    case 'vaultunreachable':
      // Not a permission: Key Vault refused the app's network (403, inner code ForbiddenByConnection
      // when public access is disabled, ForbiddenByFirewall when no firewall rule matches). Granting
      // roles changes nothing; retrying changes nothing.
      return {
        what: `the rotator cannot reach ${vault} over the network: it refused the app (ForbiddenByConnection: public access disabled and no private endpoint; ForbiddenByFirewall: no firewall rule for the app)`,
        nextStep: vaultUnreachableFix(ctx.vaultName),
      };
    case 'crosstenantcmk':
      // shared/domain/crossTenant.ts: a stable-api PATCH would silently convert the server.
      return {
        what: `${server} uses cross-tenant CMK (a federated identity client id): it was skipped and not moved to the new version of ${ctx.keyName}, because a PATCH with the stable api-version would convert it to a same-tenant configuration`,
        nextStep: `Rotate ${server} yourself with a tool that sends primaryFederatedIdentityClientId (and geoBackupFederatedIdentityClientId) in the PATCH (api-version 2026-04-01-preview), or tag it with the opt-out tag to silence this page. See the runbook, "Cross-tenant server skipped".`,
      };
    case 'crosstenantundetermined':
      // shared/domain/crossTenant.ts: fail closed when the preview read is refused.
      return {
        what: `the rotator could not tell whether ${server} uses cross-tenant CMK (the preview api-version 2026-04-01-preview that shows federated identity client ids was refused: retired, or not served in its region), so it was not moved to the new version of ${ctx.keyName}: a stable-api PATCH would convert a cross-tenant server`,
        nextStep: `Check ${server}'s dataEncryption for primaryFederatedIdentityClientId with an api-version that shows it (portal, az rest). Cross-tenant: rotate it yourself as in the runbook, "Cross-tenant server skipped". Not cross-tenant: move it to the new version yourself, or tag it with the opt-out tag; update CROSS_TENANT_API_VERSION once the preview is retired.`,
      };
    case 'azurekeyvaultinvaliduserassignedidentity':
      return {
        what: `${server} names a user-assigned identity it does not have or that no longer exists`,
        nextStep: `Check the identities assigned to ${server} and its dataEncryption identity ids, then re-run the rotation.`,
      };
    case 'azurekeyvaultkeynotfound':
      return {
        what: `key ${ctx.keyName} (or the target version) was not found in ${vault}`,
        nextStep: `Check that the key and version exist and were not deleted (recover it from soft delete if needed).`,
      };
    case 'azurekeyvaultkeydisabled':
      return {
        what: `the target version of ${ctx.keyName} is disabled`,
        nextStep: `Enable the version in ${vault} or create a new one.`,
      };
    case 'azurekeyvaultkeyexpired':
      return {
        what: `the target version of ${ctx.keyName} has expired`,
        nextStep: `Create a new key version in ${vault}; the rotator moves servers to it.`,
      };
    case 'azurekeyvaultkeynotyetvalid':
      return {
        what: `the target version of ${ctx.keyName} is not active yet (activation date in the future)`,
        nextStep: `Wait for the activation date or create a version without one.`,
      };
    case 'azurekeyvaultinvalidkey':
      return {
        what: `the key cannot wrap and unwrap for ${server} (type, size or permitted operations)`,
        nextStep: `Use an RSA or RSA-HSM key of 2048, 3072 or 4096 bits that allows wrapKey and unwrapKey.`,
      };
    case 'authorizationfailed':
    case 'forbidden':
      return {
        what: `the rotator's identity is not allowed to update ${server}`,
        nextStep: `Assign the rotator's custom role (flexibleServers read/write, operation reads, identity assign) on the server's subscription or resource group.`,
      };
    case 'linkedauthorizationfailed':
      return {
        what: `the rotator's identity may not assign the server's user-assigned identity`,
        nextStep: `Grant the rotator Microsoft.ManagedIdentity/userAssignedIdentities/assign/action on the identity.`,
      };
    case 'operationtimedout':
      return {
        what: `the update of ${server} did not finish in time`,
        nextStep: `Check the server's activity log and operation status in the portal; re-run the rotation once it is Ready.`,
      };
    case 'verificationfailed':
      return {
        what: `${server} did not come back Ready with a Valid key on the target version`,
        nextStep: `Check the server's state and key status in the portal; an Invalid key status means it cannot reach the key.`,
      };
    case 'retriesexhausted':
      return {
        what: `Azure kept refusing the update of ${server} (throttled, busy or failing)`,
        nextStep: `Re-run the rotation later; check Azure status and the server's pending operations.`,
      };
    case 'throttledpastdeadline':
      return {
        what: `ARM kept throttling the update of ${server} (429, Retry-After) until the operation deadline passed; nothing was changed`,
        nextStep: `Look for what else spends the subscription's ARM write quota (other automation, a deployment loop); the sweep retries later, or re-run the rotation (POST /api/rotations).`,
      };
    case 'serverinaccessible': {
      // Microsoft Learn, "Data encryption with customer-managed keys" (PostgreSQL flexible server): a
      // server whose key version is disabled, deleted, expired or not granted goes Inaccessible; the
      // recovery is to restore access to that same version, wait until the server is available, and
      // only then point it at another version (a PATCH to a new version is refused meanwhile).
      const version =
        ctx.fromVersion === undefined ? 'the key version it uses' : `version ${ctx.fromVersion}`;
      return {
        what: `${server} is Inaccessible: it cannot use ${version} of key ${ctx.keyName} in ${vault}`,
        nextStep: `Restore access to ${version} of ${ctx.keyName} (re-enable it, extend its expiry, recover it from soft delete, or re-grant ${identityName(ctx.identityId)} "Key Vault Crypto Service Encryption User"); wait until ${server} is Ready again (up to about an hour), then the rotator moves it to the new version on its next run (sweep, event or POST /api/rotations). Do not create a new version expecting it to fix ${server}: an Inaccessible server does not accept a new key until access to its current one is back.`,
      };
    }
    case 'invalidconfiguration':
      return {
        what: `${server} cannot be planned: its encryption configuration is incomplete or unreadable`,
        nextStep: `Check ${server}'s dataEncryption (primary key URI and user-assigned identity) and identities in the portal; the rotator leaves it alone until they are consistent.`,
      };
    case 'unexpectederror':
      return {
        what: `the rotator met an unexpected error while handling ${server}`,
        nextStep: `Look up the audit trail and the Function App's logs for this rotation; re-run it once the cause is fixed.`,
      };
    case 'transient':
    case 'internalservererror':
    case 'serviceunavailable':
    case 'activityfailed':
    case 'toomanyrequests':
    case 'throttled':
      return {
        what: `Azure kept failing requests about ${server} (${code}) through every retry`,
        nextStep: `Check Azure status and the server's activity log; the sweep retries later, or re-run the rotation (POST /api/rotations).`,
      };
    case 'servernotready':
    case 'serverbusy':
      return {
        what: `${server} is busy with another operation or not Ready`,
        nextStep: `Let the running operation finish; the sweep retries.`,
      };
    default:
      return {
        what: `the update of ${server} failed with ${code}`,
        nextStep: `Check the server's activity log for ${code}; re-run the rotation once fixed.`,
      };
  }
}
