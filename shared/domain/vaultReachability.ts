/**
 * Can the app reach a vault's data plane over the network? A rule of its own, with a stable check id,
 * so the posture report, the sweep's snapshot and any health watch name the same cause the same way.
 *
 * The app (Functions on Flex Consumption) is not a trusted service for Key Vault: `bypass:
 * AzureServices` lets the PostgreSQL servers in (Learn, PostgreSQL "Data encryption": "Allow trusted
 * Microsoft services to bypass this firewall"), not the app's own key reads. A vault with public
 * network access disabled answers the app 403 with inner code `ForbiddenByConnection`, a deny-by-default
 * firewall without a rule for the app 403 `ForbiddenByFirewall`, unless the app reaches it through a private endpoint in
 * its virtual network (Learn, "Diagnose private links configuration issues on Azure Key Vault" and
 * "Integrate Key Vault with Azure Private Link"). What the vault's ARM properties say cannot prove the
 * app's path (the private endpoint and DNS live in the app's network), so the rule judges the
 * observation: what Key Vault answered the app.
 */
import { isVaultUnreachable, vaultUnreachableFix } from './diagnosis';
import type { VaultCheck, VaultProperties } from './posture';

/** Stable id of the check (`VaultCheck.name`): the app can reach the vault's data plane. */
export const APP_REACHABILITY_CHECK = 'appReachable' as const;

/** What the app met when it called the vault's data plane. */
export type AppReachability =
  | { readonly outcome: 'reached' }
  /** Refused by the firewall: Azure's code (`ForbiddenByConnection`, `ForbiddenByFirewall`) or the named error's (`VaultUnreachable`). */
  | { readonly outcome: 'refused'; readonly code: string }
  /** Not called (out of scope, or the report stopped before), or failed for another reason. */
  | { readonly outcome: 'unknown'; readonly why: string };

/** The app's reachability from the code a data-plane call failed with (or none: it succeeded). */
export function reachabilityFromCall(failureCode: string | undefined): AppReachability {
  if (failureCode === undefined) return { outcome: 'reached' };
  return isVaultUnreachable(failureCode)
    ? { outcome: 'refused', code: failureCode }
    : { outcome: 'unknown', why: `the app's call failed with ${failureCode}` };
}

function closedToPublic(vault: VaultProperties | undefined): boolean {
  if (vault === undefined) return false;
  return (
    (vault.publicNetworkAccess ?? 'Enabled').toLowerCase() === 'disabled' ||
    (vault.networkAcls?.defaultAction ?? 'Allow').toLowerCase() === 'deny'
  );
}

/**
 * The check: `failing` (a requirement, so critical) when Key Vault's firewall refused the app, with
 * the reason and the fix; `ok` when the app reached it; `unknown` when it was not called.
 */
export function appReachabilityCheck(
  vaultName: string,
  reach: AppReachability,
  vault?: VaultProperties,
): VaultCheck {
  const base = { name: APP_REACHABILITY_CHECK, kind: 'requirement' } as const;
  switch (reach.outcome) {
    case 'refused':
      return {
        ...base,
        status: 'failing',
        reason: `the app cannot reach vault ${vaultName}: Key Vault's firewall refused it (${reach.code}; ${
          vault === undefined
            ? 'public network access disabled or no firewall rule for the app'
            : (vault.publicNetworkAccess ?? 'Enabled').toLowerCase() === 'disabled'
              ? 'public network access is disabled'
              : 'the firewall denies by default and no rule matches the app'
        }), so no key in it can be read or rotated`,
        fix: vaultUnreachableFix(vaultName),
      };
    case 'reached':
      return {
        ...base,
        status: 'ok',
        reason: closedToPublic(vault)
          ? 'the app reaches it through its own network path (private endpoint or an allowed network)'
          : 'the app reaches it',
      };
    case 'unknown':
      return { ...base, status: 'unknown', reason: `not evaluated: ${reach.why}` };
  }
}
