import { POSTURE_READER_ACTIONS, ROTATION_OPERATOR_ACTIONS } from '../../local/azure/arm-authz';
import { REQUIRED_SETTINGS, SETTINGS, loadConfig } from '../../shared/config';
import { REFERENCE_VALUES, evaluateArm, type ArmValue } from '../support/armExpression';
import { at, ofType, snapshot, type PredictedResource, type Snapshot } from '../support/bicep';

/**
 * What each deployment of infra/params/*.bicepparam puts in Azure, as `bicep snapshot` predicts it
 * (infra/params/*.snapshot.json; test/infra/bicepCli.test.ts proves with the CLI that they are today's
 * prediction). Role assignments are compared as a full set: a new one, or a wider scope, fails here.
 */
const APP_SUB = '11111111-1111-1111-1111-111111111111';
const VAULT_SUB = '22222222-2222-2222-2222-222222222222';
const RG = `/subscriptions/${APP_SUB}/resourceGroups/rg-prod-cmk-rotator`;
const IDENTITY = `${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-prod-cmk-rotator`;
const vault = (name: string, rg = 'rg-sec', sub = VAULT_SUB): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;

const BUILT_IN_ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  '21090545-7ca7-4776-b22c-e363652d74d2': 'Key Vault Reader',
  '14b46e9e-c2b7-41b4-b07b-48a6ebf60603': 'Key Vault Crypto Officer',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
};

/** The scope of a role assignment, from the id the snapshot predicts for it. */
export function assignmentScope(id: string): string {
  const ext = /^\[extensionResourceId\('([^']+)', 'Microsoft\.Authorization\/roleAssignments'/.exec(id);
  if (ext?.[1] !== undefined) return ext[1];
  const sub = /^\[subscriptionResourceId\('([^']+)', 'Microsoft\.Authorization\/roleAssignments'/.exec(id);
  if (sub?.[1] !== undefined) return `/subscriptions/${sub[1]}`;
  const rg = /^\[resourceId\('([^']+)', '([^']+)', 'Microsoft\.Authorization\/roleAssignments'/.exec(id);
  if (rg?.[1] !== undefined && rg[2] !== undefined) return `/subscriptions/${rg[1]}/resourceGroups/${rg[2]}`;
  throw new Error(`role assignment id of an unknown form: ${id}`);
}

/** Every role assignment as "<role> @ <scope>", custom roles by their role name. */
export function assignments(s: Snapshot): string[] {
  const custom = new Map(
    ofType(s, 'Microsoft.Authorization/roleDefinitions').map((d) => [
      d.id,
      String(at(d, 'properties.roleName')),
    ]),
  );
  return ofType(s, 'Microsoft.Authorization/roleAssignments')
    .map((a) => {
      const roleId = String(at(a, 'properties.roleDefinitionId'));
      expect(at(a, 'properties.principalType')).toBe('ServicePrincipal');
      expect(String(at(a, 'properties.principalId'))).toContain(`reference('${IDENTITY}'`);
      const role = custom.get(roleId) ?? BUILT_IN_ROLES[roleId.split('/').pop() ?? ''] ?? `unknown ${roleId}`;
      return `${role} @ ${assignmentScope(a.id)}`;
    })
    .sort();
}

const one = (s: Snapshot, type: string, nameEnd = ''): PredictedResource => {
  const found = ofType(s, type).filter((r) => r.name.endsWith(nameEnd));
  expect([type, nameEnd, found.length]).toEqual([type, nameEnd, 1]);
  return found[0] as PredictedResource;
};

const storageId = (s: Snapshot): string => one(s, 'Microsoft.Storage/storageAccounts').id;
const appInsightsId = `${RG}/providers/Microsoft.Insights/components/appi-prod-cmk-rotator`;
const runtimeRoles = (s: Snapshot): string[] => [
  `Monitoring Metrics Publisher @ ${appInsightsId}`,
  `Storage Blob Data Owner @ ${storageId(s)}`,
  `Storage Queue Data Contributor @ ${storageId(s)}`,
  `Storage Table Data Contributor @ ${storageId(s)}`,
];
const OPERATOR = `PostgreSQL CMK Rotation Operator (prod, ${APP_SUB})`;
const POSTURE = `PostgreSQL CMK Posture Reader (prod, ${APP_SUB})`;

describe('the snapshots', () => {
  it.each(['minimal', 'existing-topic', 'network-isolated', 'second-environment'])(
    '%s: every nested deployment expanded (no diagnostic, e.g. NestedDeploymentShortCircuited: a loop count known only at run time)',
    (name) => {
      expect(snapshot(name).diagnostics).toEqual([]);
      expect(snapshot(name).predictedResources.length).toBeGreaterThan(20);
    },
  );
});

describe('role assignments: exactly these, at exactly these scopes', () => {
  it.each([
    [
      'minimal',
      [
        `Key Vault Reader @ ${vault('kv-sec')}`,
        `${OPERATOR} @ /subscriptions/${APP_SUB}`,
        `${POSTURE} @ ${vault('kv-sec')}`,
      ],
    ],
    [
      'existing-topic',
      [
        `Key Vault Crypto Officer @ ${vault('kv-sec')}`,
        `Key Vault Reader @ ${vault('kv-sec')}`,
        `Key Vault Secrets User @ ${vault('kv-pager', 'rg-ops', APP_SUB)}`,
        `${OPERATOR} @ /subscriptions/${APP_SUB}/resourceGroups/rg-pg-billing`,
        `${OPERATOR} @ /subscriptions/33333333-3333-3333-3333-333333333333/resourceGroups/rg-pg-crm`,
        `${POSTURE} @ ${vault('kv-sec')}`,
      ],
    ],
    [
      'network-isolated',
      [
        `Key Vault Reader @ ${vault('kv-hub', 'rg-hub')}`,
        `Key Vault Reader @ ${vault('kv-sec')}`,
        `Key Vault Secrets User @ ${vault('kv-pager', 'rg-ops', APP_SUB)}`,
        `${OPERATOR} @ /subscriptions/${APP_SUB}`,
        `${POSTURE} @ ${vault('kv-hub', 'rg-hub')}`,
        `${POSTURE} @ ${vault('kv-sec')}`,
      ],
    ],
  ])('%s', (name, expected) => {
    const s = snapshot(name);
    expect(assignments(s)).toEqual([...expected, ...runtimeRoles(s)].sort());
  });

  it('grants the custom roles only what the code calls (the ARM stand-in grants the same), assignable where they are assigned', () => {
    const roles = (name: string): Record<string, unknown> =>
      Object.fromEntries(
        ofType(snapshot(name), 'Microsoft.Authorization/roleDefinitions').map((d) => [
          String(at(d, 'properties.roleName')),
          {
            permissions: at(d, 'properties.permissions'),
            assignableScopes: at(d, 'properties.assignableScopes'),
          },
        ]),
      );
    const operator = (scopes: string[]): unknown => ({
      permissions: [{ actions: ROTATION_OPERATOR_ACTIONS, notActions: [] }],
      assignableScopes: scopes.map((s) => `/subscriptions/${s}`),
    });
    const posture = (scopes: string[]): unknown => ({
      permissions: [{ actions: POSTURE_READER_ACTIONS, notActions: [] }],
      assignableScopes: scopes.map((s) => `/subscriptions/${s}`),
    });
    expect(roles('minimal')).toEqual({
      [OPERATOR]: operator([APP_SUB]),
      [POSTURE]: posture([APP_SUB, VAULT_SUB]),
    });
    // The subscriptions of targetResourceGroups are assignable scopes too (a resource group in 3333).
    expect(roles('existing-topic')).toEqual({
      [OPERATOR]: operator([APP_SUB, '33333333-3333-3333-3333-333333333333']),
      [POSTURE]: posture([APP_SUB, VAULT_SUB]),
    });
  });

  it('gives a second environment in the same subscription roles of its own (id and name), so neither replaces the other', () => {
    const defs = (name: string): PredictedResource[] =>
      ofType(snapshot(name), 'Microsoft.Authorization/roleDefinitions');
    const prod = defs('minimal');
    const staging = defs('second-environment');
    expect(staging.map((d) => String(at(d, 'properties.roleName'))).sort()).toEqual([
      `PostgreSQL CMK Posture Reader (staging, ${APP_SUB})`,
      `PostgreSQL CMK Rotation Operator (staging, ${APP_SUB})`,
    ]);
    for (const d of staging) {
      expect(d.id.startsWith(`/subscriptions/${APP_SUB}/`)).toBe(true);
      expect(prod.map((p) => p.id)).not.toContain(d.id);
    }
    const stagingOperator = staging.find((d) => String(at(d, 'properties.roleName')).includes('Operator'));
    expect(at(stagingOperator, 'properties.assignableScopes')).toEqual([
      `/subscriptions/${APP_SUB}`,
      '/subscriptions/55555555-5555-5555-5555-555555555555',
    ]);
  });
});

describe('the function app', () => {
  it.each(['minimal', 'existing-topic', 'network-isolated'])(
    '%s: Flex Consumption, Linux, Node 22, the user-assigned identity for everything',
    (name) => {
      const s = snapshot(name);
      expect(one(s, 'Microsoft.Web/serverfarms').sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
      const site = one(s, 'Microsoft.Web/sites');
      expect(site.kind).toBe('functionapp,linux');
      expect(site.identity).toEqual({ type: 'UserAssigned', userAssignedIdentities: { [IDENTITY]: {} } });
      expect(at(site, 'properties.functionAppConfig.runtime')).toEqual({ name: 'node', version: '22' });
      expect(at(site, 'properties.keyVaultReferenceIdentity')).toBe(IDENTITY);
      expect(at(site, 'properties.httpsOnly')).toBe(true);
      expect(at(site, 'properties.functionAppConfig.deployment.storage.authentication')).toEqual({
        type: 'UserAssignedIdentity',
        userAssignedIdentityResourceId: IDENTITY,
      });
      expect(at(one(s, 'Microsoft.Storage/storageAccounts'), 'properties.allowSharedKeyAccess')).toBe(false);
      expect(at(one(s, 'Microsoft.Insights/components'), 'properties.DisableLocalAuth')).toBe(true);
    },
  );

  /** The app settings as Azure would set them: ARM expressions evaluated, Key Vault references resolved. */
  const settings = (name: string): Record<string, string> => {
    const raw = at(one(snapshot(name), 'Microsoft.Web/sites/config', '/appsettings'), 'properties') as Record<
      string,
      string
    >;
    return Object.fromEntries(
      Object.entries(raw).map(([k, v]) => {
        const value = scalar(evaluateArm(v));
        // The platform resolves a Key Vault reference before the app starts: here, to a well-formed routing key.
        return [k, value.startsWith('@Microsoft.KeyVault(') ? '0123456789abcdef0123456789abcdef' : value];
      }),
    );
  };
  const scalar = (v: ArmValue): string => {
    if (typeof v !== 'string') throw new Error(`an app setting that is not text: ${JSON.stringify(v)}`);
    return v;
  };
  const RUNTIME = /^(AzureWebJobsStorage__\w+|APPLICATIONINSIGHTS_AUTHENTICATION_STRING)$/;

  const NO_PAGER = /^No pager is usable/;
  it.each([
    ['minimal', [NO_PAGER]],
    ['existing-topic', []],
    ['network-isolated', []],
    ['second-environment', [NO_PAGER]],
  ])('%s: sets every setting the code reads, no other, and loadConfig starts on them', (name, warnings) => {
    const app = settings(name);
    const known = new Set<string>(Object.values(SETTINGS));
    expect(Object.keys(app).filter((k) => !known.has(k) && !RUNTIME.test(k))).toEqual([]);
    expect([...known].filter((k) => !(k in app))).toEqual([]);
    for (const required of REQUIRED_SETTINGS) expect([required, app[required]]).not.toEqual([required, '']);
    const config = loadConfig(app);
    expect(config.subscriptions.length).toBeGreaterThan(0);
    expect(config.managedIdentityClientId).toBe(REFERENCE_VALUES['clientId']);
    expect(config.warnings).toEqual(warnings.map((w): unknown => expect.stringMatching(w)));
  });

  it('hands loadConfig the key stores as URLs of the cloud deployed to, Managed HSMs on their own suffix', () => {
    expect(loadConfig(settings('network-isolated')).allowedVaults.map((v) => v.vaultUrl)).toEqual([
      'https://kv-sec.vault.azure.net',
      'https://kv-hub.vault.azure.net',
      'https://hsm-sec.managedhsm.azure.net',
    ]);
    expect(settings('existing-topic')['CMK_AUTO_ROTATE_ON_NEAR_EXPIRY']).toBe('True');
    expect(loadConfig(settings('existing-topic')).autoRotateOnNearExpiry).toBe(true);
  });

  it('puts Easy Auth in front of the operator API only when asked, leaving the Event Grid webhook on its key', () => {
    expect(ofType(snapshot('minimal'), 'Microsoft.Web/sites/config').map((c) => c.name)).toEqual([
      'func-prod-cmk-rotator/appsettings',
    ]);
    const auth = one(snapshot('existing-topic'), 'Microsoft.Web/sites/config', '/authsettingsV2');
    expect(at(auth, 'properties.globalValidation')).toEqual({
      requireAuthentication: true,
      unauthenticatedClientAction: 'Return401',
      excludedPaths: ['/runtime/webhooks/eventgrid'],
    });
    expect(at(auth, 'properties.identityProviders.azureActiveDirectory.registration.clientId')).toBe(
      '44444444-4444-4444-4444-444444444444',
    );
  });
});
