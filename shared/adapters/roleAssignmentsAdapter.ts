import {
  AuthorizationManagementClient,
  type AuthorizationManagementClientOptionalParams,
} from '@azure/arm-authorization';
import type { TokenCredential } from '@azure/core-auth';
import type { RoleAssignmentInfo } from '../domain/posture';
import { BadRequestError } from '../ports/errors';
import type { RoleAssignments } from '../ports/vaultPosture';
import { mapAzureError } from './azureErrors';

export interface RoleAssignmentsAdapterOptions {
  readonly credential: TokenCredential;
  readonly clientOptions?: AuthorizationManagementClientOptionalParams;
}

/** `RoleAssignments` over `@azure/arm-authorization` (RoleAssignments_ListForScope, api-version 2022-04-01). */
export class RoleAssignmentsAdapter implements RoleAssignments {
  constructor(private readonly options: RoleAssignmentsAdapterOptions) {}

  async listAtScope(scope: string): Promise<RoleAssignmentInfo[]> {
    const subscription = /^\/subscriptions\/([^/]+)/i.exec(scope)?.[1];
    if (subscription === undefined)
      throw new BadRequestError(`${scope} is not a subscription-level scope`, undefined, undefined);
    const client = new AuthorizationManagementClient(
      this.options.credential,
      subscription,
      this.options.clientOptions ?? {},
    );
    const out: RoleAssignmentInfo[] = [];
    try {
      // `atScope()`: assignments at or above the scope (the spec's $filter description) — inherited ones
      // count. The SDK puts the scope into `/{scope}/providers/...` unencoded: without its leading slash,
      // as the spec's RoleAssignments_ListForScope example writes it ("subscriptions/<id>").
      for await (const a of client.roleAssignments.listForScope(scope.replace(/^\/+/, ''), {
        filter: 'atScope()',
      })) {
        if (a.roleDefinitionId === undefined || a.principalId === undefined) continue;
        out.push({
          id: a.id ?? '',
          scope: a.scope ?? '',
          roleDefinitionId: a.roleDefinitionId,
          principalId: a.principalId,
          principalType: a.principalType,
        });
      }
    } catch (e) {
      throw mapAzureError(e, `role assignments at ${scope}`);
    }
    return out;
  }
}
