import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { POSTURE_READER_ACTIONS } from '../../local/azure/arm-authz';

const INFRA = join(__dirname, '..', '..', 'infra');
const read = (f: string) => readFileSync(join(INFRA, f), 'utf8');

describe('infra grants the posture checks exactly the reads they make', () => {
  it('the posture role allows only vaults/read and roleAssignments/read, no wildcard', () => {
    const role = read('modules/vaultPostureRole.bicep');
    const start = role.indexOf('[', role.indexOf('var actions'));
    const actions = [...role.slice(start, role.indexOf(']', start)).matchAll(/'([^']+)'/g)].map((m) => m[1]);
    // KeyVaultManagementAdapter: Vaults_List (ARM's resource list, filtered per vault by read) then Vaults_Get;
    // RoleAssignmentsAdapter: RoleAssignments_ListForScope. All three are authorized at the vault.
    expect(actions).toEqual([
      'Microsoft.KeyVault/vaults/read',
      'Microsoft.Authorization/roleAssignments/read',
    ]);
    // The ARM stand-in grants the app the same by default (what infra deploys), so local runs hold what Azure would.
    expect(POSTURE_READER_ACTIONS).toEqual(actions);
    expect(role).not.toMatch(/\*/);
  });

  it('assigns it at each vault (not the subscription), and main.bicep passes it to every vault', () => {
    const access = read('modules/vaultAccess.bicep');
    const assignment = access.slice(access.indexOf('resource postureReader'));
    expect(assignment).toMatch(/scope:\s*vault\b/);
    expect(assignment).toMatch(/roleDefinitionId:\s*postureRoleDefinitionId/);
    expect(read('main.bicep')).toMatch(
      /postureRoleDefinitionId:\s*vaultPostureRole\.outputs\.roleDefinitionId/,
    );
  });
});
