import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REQUIRED_SETTINGS, SETTINGS } from '../../shared/config';
import { KEY_EVENT_TYPES, KEY_EVENT_TYPE_PREFIX } from '../../shared/domain/events';
import { FUNCTION_NAMES } from '../../shared/domain/names';
import { INFRA, bicepFiles, block, code, modules, params, read, topLevelKeys } from './bicep';

/** Built-in role definition ids the infrastructure may use, and why. */
const KNOWN_ROLES: Record<string, string> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b':
    'Storage Blob Data Owner (Functions runtime, deployment package, dead-letter)',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor (durable task hub)',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor (durable task hub)',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher (telemetry with Entra ID)',
  '21090545-7ca7-4776-b22c-e363652d74d2': 'Key Vault Reader (key metadata)',
  '14b46e9e-c2b7-41b4-b07b-48a6ebf60603': 'Key Vault Crypto Officer (rotate, only with auto-rotate)',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User (pager secrets by Key Vault reference)',
};
const FORBIDDEN_ROLES: Record<string, string> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '18d7d88d-d35e-4fb5-a5c3-7773c4a72d9d': 'User Access Administrator',
};
const GUID = /'([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'/g;

describe('infra/ agrees with the code', () => {
  const main = code('main.bicep');
  const appSettingsBody = (() => {
    const at = /appSettings:\s*\{/.exec(main);
    if (at === null) throw new Error('main.bicep passes no appSettings');
    return block(main, at.index + at[0].length - 1);
  })();
  const appSettings = topLevelKeys(appSettingsBody);
  const baseSettings = topLevelKeys(
    block(
      code('modules/functionApp.bicep'),
      code('modules/functionApp.bicep').indexOf(
        '{',
        code('modules/functionApp.bicep').indexOf('var baseSettings'),
      ),
    ),
  );

  it.each(Object.values(SETTINGS).map((s) => [s]))('the Function App sets %s', (setting) => {
    expect([...appSettings, ...baseSettings]).toContain(setting);
  });

  it.each(REQUIRED_SETTINGS.map((s) => [s]))('the required setting %s always gets a value', (setting) => {
    const line = appSettingsBody.split('\n').find((l) => l.trim().startsWith(`${setting}:`));
    if (line !== undefined) expect(line).not.toMatch(/:\s*''\s*$/);
    else expect(baseSettings).toContain(setting);
  });

  it('sets no setting the code does not read (besides the Functions runtime ones)', () => {
    const known = new Set<string>(Object.values(SETTINGS));
    expect(appSettings.filter((s) => !known.has(s))).toEqual([]);
  });

  it('subscribes exactly the key events the trigger handles, and keeps secrets and certificates out', () => {
    const eg = code('modules/eventGrid.bicep');
    const types = [
      ...block(eg, eg.indexOf('[', eg.indexOf('var includedEventTypes'))).matchAll(/'([^']+)'/g),
    ].map((m) => m[1]);
    expect(types.sort()).toEqual(KEY_EVENT_TYPES.map((t) => `${KEY_EVENT_TYPE_PREFIX}${t}`).sort());
    expect(eg).toMatch(/operatorType: 'StringIn', key: 'data\.ObjectType', values: \['Key'\]/);
    expect(eg).toMatch(/deadLetterWithResourceIdentity/);
    expect(eg).toMatch(/retryPolicy: \{ maxDeliveryAttempts: \d+, eventTimeToLiveInMinutes: \d+ \}/);
    expect(eg).toMatch(/endpointType: 'AzureFunction'/);
  });

  it('points the Event Grid subscription at the intake function by its registered name', () => {
    expect(code('modules/eventGrid.bicep')).toContain(
      `param functionName string = '${FUNCTION_NAMES.keyVaultEvents}'`,
    );
    expect(modules('main.bicep').find((m) => m.symbol === 'eventGrid')?.params).not.toContain('functionName');
  });

  it('uses only known built-in roles or the project custom role, never Owner, Contributor or User Access Administrator', () => {
    for (const file of bicepFiles()) {
      const text = code(file);
      for (const m of text.matchAll(GUID)) {
        const id = m[1] ?? '';
        expect(FORBIDDEN_ROLES[id]).toBeUndefined();
        expect([file, KNOWN_ROLES[id] !== undefined ? 'known' : id]).toEqual([file, 'known']);
      }
    }
    const custom = code('modules/serverOperatorRole.bicep');
    const actions = [
      ...block(custom, custom.indexOf('[', custom.indexOf('var actions'))).matchAll(/'([^']+)'/g),
    ].map((m) => m[1]);
    expect(actions).toEqual([
      'Microsoft.DBforPostgreSQL/flexibleServers/read',
      'Microsoft.DBforPostgreSQL/flexibleServers/write',
      'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read',
      'Microsoft.DBforPostgreSQL/locations/operationResults/read',
    ]);
    expect(custom).not.toMatch(/'\*'|\/\*'/);
  });

  it('names every role assignment guid(scope, principal, role)', () => {
    for (const file of bicepFiles()) {
      const text = code(file);
      for (const m of text.matchAll(
        /resource\s+\w+\s+'Microsoft\.Authorization\/roleAssignments@[^']+'\s*=\s*(\[\s*for[^:]+:\s*)?(if \([^)]*\)\s*)?\{/g,
      )) {
        const body = block(text, m.index + m[0].length - 1);
        expect([file, /name:\s*guid\([^,]+,\s*\w*[Pp]rincipalId\s*,\s*[^)]+\)/.test(body)]).toEqual([
          file,
          true,
        ]);
      }
    }
  });

  it('passes every module only parameters it declares, and all it requires', () => {
    for (const file of bicepFiles()) {
      for (const use of modules(file)) {
        const target = join(
          file.includes('/') ? 'modules' : '',
          use.path.replace(/^modules\//, file.includes('/') ? '' : 'modules/'),
        );
        expect(existsSync(join(INFRA, target))).toBe(true);
        const declared = params(target);
        expect([use.symbol, use.params.filter((p) => !declared.includes(p))]).toEqual([use.symbol, []]);
        const required = [...code(target).matchAll(/^param\s+(\w+)\s+\w+\s*$/gm)].map((m) => m[1] ?? '');
        expect([use.symbol, required.filter((p) => !use.params.includes(p))]).toEqual([use.symbol, []]);
      }
    }
  });

  it('provides every parameter main.bicep requires in main.parameters.json (but keyVaults), and no unknown one', () => {
    const file = JSON.parse(read('main.parameters.json')) as { parameters: Record<string, unknown> };
    const declared = params('main.bicep');
    const required = [...main.matchAll(/^param\s+(\w+)\s+\w+\s*$/gm)].map((m) => m[1] ?? '');
    expect(Object.keys(file.parameters).filter((p) => !declared.includes(p))).toEqual([]);
    // keyVaults alone is left out on purpose: azd prompts for it (test/infra/static.test.ts).
    expect(required.filter((p) => !(p in file.parameters) && p !== 'keyVaults')).toEqual([]);
  });

  it('runs on Flex Consumption, Linux, Node 22, with storage reached by identity only', () => {
    const app = code('modules/functionApp.bicep');
    expect(app).toMatch(/sku: \{ tier: 'FlexConsumption', name: 'FC1' \}/);
    expect(app).toMatch(/kind: 'functionapp,linux'/);
    expect(app).toMatch(/runtime: \{ name: 'node', version: '22' \}/);
    expect(app).toMatch(/AzureWebJobsStorage__credential: 'managedidentity'/);
    expect(code('modules/storage.bicep')).toMatch(/allowSharedKeyAccess: false/);
    expect(code('modules/monitoring.bicep')).toMatch(/DisableLocalAuth: true/);
  });

  it('has balanced braces in every file, and azure.yaml deploys the app as a function', () => {
    for (const file of bicepFiles()) {
      const text = code(file);
      const opens = (text.match(/[{[]/g) ?? []).length;
      const closes = (text.match(/[}\]]/g) ?? []).length;
      expect([file, opens]).toEqual([file, closes]);
    }
    const azd = readFileSync(join(INFRA, '..', 'azure.yaml'), 'utf8');
    expect(azd).toMatch(/host: function/);
    expect(azd).toMatch(/path: infra/);
  });
});
