import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ALERT_RULES,
  MINUTES,
  alertWindowProblems,
  declarations,
  evaluate,
  forExpressionsOutOfPlace,
  infraSource,
  memorySource,
  resources,
  structure,
  undeclaredDependencies,
  type BicepSource,
} from './bicep';

/*
 * What a Bicep compiler or ARM would refuse on the first deployment, checked without either (none installs offline).
 * Every check runs on a small snippet that has the error (taken from the infra as it was before these checks) and
 * on the real infra/.
 */

const problems = (findings: { file: string; line: number; problem: string }[]): string[] =>
  findings.map((f) => `${f.file}:${f.line} ${f.problem}`);

describe('for-expressions stand only where Bicep allows them (BCP138)', () => {
  it('flags a for-expression inside string(...), as the workbook had it', () => {
    const bad = memorySource({
      'main.bicep': `var queries = [{ title: 'a' }]
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: 'w'
  properties: {
    serializedData: string({
      version: 'Notebook/1.0'
      items: [
        for (q, i) in queries: { type: 3, name: 'query-\${i}' }
      ]
    })
  }
}
`,
    });
    expect(problems(forExpressionsOutOfPlace(bad))).toEqual([
      'main.bicep:7 for-expression inside a function call (BCP138): hoist it into a variable',
    ]);
  });

  it('flags a for-expression as an operand of ?: and inside parentheses', () => {
    const bad = memorySource({
      'main.bicep':
        'param on bool\nvar a = on ? [for x in range(0, 2): x] : []\nvar b = ([for x in range(0, 2): x])\n',
    });
    expect(forExpressionsOutOfPlace(bad).map((f) => f.line)).toEqual([2, 3]);
  });

  it('accepts for-expressions as values of variables, properties and module collections, and ignores strings', () => {
    const good = memorySource({
      'main.bicep': `var items = [for (q, i) in range(0, 2): { name: 'query-\${i}' }]
var text = 'string([for x in y: x])'
module m 'modules/x.bicep' = [for s in subs: { name: s, params: { ids: [for t in s.ids: t] } }]
output o array = [for i in range(0, 3): i]
`,
    });
    expect(forExpressionsOutOfPlace(good)).toEqual([]);
  });

  it('finds none in infra/', () => {
    expect(problems(forExpressionsOutOfPlace(infraSource))).toEqual([]);
  });
});

describe('alert windows and frequencies are ones Azure accepts, for the default parameter values', () => {
  const oldAlerts = memorySource({
    'main.bicep': `param heartbeatMinutes int = 420
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: { heartbeatMinutes: heartbeatMinutes }
}
`,
    'modules/alerts.bicep': `param heartbeatMinutes int
resource silent 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'silent'
  properties: {
    evaluationFrequency: 'PT1H'
    windowSize: 'PT\${heartbeatMinutes}M'
  }
}
`,
  });

  it('flags the "app silent" window PT${heartbeatMinutes}M with the default 420 (PT420M)', () => {
    expect(problems(alertWindowProblems(oldAlerts))).toEqual([
      `modules/alerts.bicep:2 silent: window PT420M is not one of ${ALERT_RULES['Microsoft.Insights/scheduledQueryRules'].windows.join(', ')}`,
    ]);
  });

  it.each([
    ["'PT5M'", "'PT15M'", 'window PT5M is shorter than the frequency PT15M'],
    ["'P2D'", "'P2D'", 'frequency P2D is not one of'],
    ["'PT1M'", "'PT5M'", 'a PT1M window needs a PT1M frequency'],
    ['someVar', "'PT5M'", 'windowSize cannot be evaluated'],
  ])('flags window %s with frequency %s (%s)', (window, frequency, expected) => {
    const src = memorySource({
      'main.bicep': `resource r 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'r'
  properties: {
    windowSize: ${window}
    evaluationFrequency: ${frequency}
  }
}
`,
    });
    expect(problems(alertWindowProblems(src)).join('\n')).toContain(expected);
  });

  it('flags a metric alert window Azure does not offer for metric alerts', () => {
    const src = memorySource({
      'main.bicep': `resource r 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'r'
  properties: { evaluationFrequency: 'PT5M', windowSize: 'PT45M' }
}
`,
    });
    expect(problems(alertWindowProblems(src)).join('\n')).toContain('window PT45M is not one of');
  });

  it('finds none in infra/', () => {
    expect(problems(alertWindowProblems(infraSource))).toEqual([]);
  });

  it.each([60, 61, 120, 359, 360, 361, 420, 1440, 1441, 2880])(
    'heartbeatMinutes %i gets an allowed window that covers it, and the query looks back exactly that long',
    (minutes) => {
      const alerts = infraSource.text('modules/alerts.bicep');
      const { vars } = declarations(alerts);
      const window = String(
        evaluate(vars.get('heartbeatWindow') ?? "''", (name) => {
          if (name !== 'heartbeatMinutes') throw new Error(name);
          return minutes;
        }),
      );
      expect(ALERT_RULES['Microsoft.Insights/scheduledQueryRules'].windows).toContain(window);
      expect(MINUTES[window]).toBeGreaterThanOrEqual(minutes);
      expect(alerts).toContain('customEvents | where timestamp > ago(${heartbeatMinutes}m)');
    },
  );

  it('bounds heartbeatMinutes to what a window can cover (1 h to 2 days) in main.bicep and the module', () => {
    for (const file of ['main.bicep', 'modules/alerts.bicep'])
      expect(infraSource.text(file)).toMatch(
        /@minValue\(60\)\s*@maxValue\(2880\)\s*param heartbeatMinutes int/,
      );
  });
});

describe('references to resources this deployment creates carry a dependency on their creator', () => {
  const topicModule = `param name string
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: 'westeurope'
}
output id string = topic.id
`;

  it('flags resourceId() of a system topic that the Event Grid module creates, as main.bicep had it', () => {
    const bad = memorySource({
      'main.bicep': `param vaults array
var systemTopicIds = [for v in vaults: resourceId(v.subscriptionId, v.resourceGroup, 'Microsoft.EventGrid/systemTopics', 'evgt-\${v.name}')]
module eventGrid 'modules/eventGrid.bicep' = [for v in vaults: { name: v.name, params: { name: v.name } }]
module alerts 'modules/alerts.bicep' = { name: 'alerts', params: { ids: systemTopicIds } }
`,
      'modules/eventGrid.bicep': topicModule,
      'modules/alerts.bicep': 'param ids array\n',
    });
    expect(problems(undeclaredDependencies(bad))).toEqual([
      "main.bicep:2 resourceId() of Microsoft.EventGrid/systemTopics, which a module of this deployment creates: use that module's output (a dependency)",
    ]);
  });

  it('flags a module that reads an existing resource another module creates, unless it uses its outputs or dependsOn', () => {
    const files = (useParams: string): BicepSource =>
      memorySource({
        'main.bicep': `module eventGrid 'modules/eventGrid.bicep' = { name: 'eg', params: { name: 'evgt' } }
module alert 'modules/alert.bicep' = { name: 'alert', ${useParams} }
`,
        'modules/eventGrid.bicep': topicModule,
        'modules/alert.bicep': `param name string = 'evgt'
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = { name: name }
`,
      });
    expect(problems(undeclaredDependencies(files("params: { name: 'evgt' }")))).toEqual([
      'main.bicep:2 module alert reads an existing Microsoft.EventGrid/systemTopics (modules/alert.bicep) that module eventGrid creates, without depending on it',
    ]);
    expect(undeclaredDependencies(files('params: { name: eventGrid.outputs.id }'))).toEqual([]);
    expect(undeclaredDependencies(files('dependsOn: [eventGrid]'))).toEqual([]);
  });

  it('flags resourceId() of a resource the same module creates, but not of one it does not (a built-in role)', () => {
    const src = memorySource({
      'main.bicep': "module app 'modules/app.bicep' = { name: 'app' }\n",
      'modules/app.bicep': `resource site 'Microsoft.Web/sites@2024-04-01' = { name: 'func' }
output id string = resourceId('Microsoft.Web/sites', 'func')
output reader string = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '21090545-7ca7-4776-b22c-e363652d74d2')
`,
    });
    expect(problems(undeclaredDependencies(src))).toEqual([
      "modules/app.bicep:2 resourceId() of Microsoft.Web/sites, which this file creates: use the resource's symbol or its module's output (a dependency)",
    ]);
  });

  it('finds none in infra/', () => {
    expect(problems(undeclaredDependencies(infraSource))).toEqual([]);
  });
});

describe('every resource type@apiVersion is one checked against Azure/bicep-types-az', () => {
  const listed = (
    JSON.parse(readFileSync(join(__dirname, 'resource-types.json'), 'utf8')) as {
      types: { type: string; source: string }[];
    }
  ).types;
  const unlisted = (src: BicepSource): string[] =>
    [...new Set(resources(src).map((r) => `${r.type}@${r.apiVersion}`))].filter(
      (t) => !listed.some((l) => l.type === t),
    );

  it('flags a type or api version that is not in the list', () => {
    const src = memorySource({
      'main.bicep': `resource a 'Microsoft.Web/sites@2024-13-01' = { name: 'a' }
resource b 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' existing = { name: 'b' }
resource c 'Microsoft.Web/sites@2024-04-01' = { name: 'c' }
`,
    });
    expect(unlisted(src)).toEqual([
      'Microsoft.Web/sites@2024-13-01',
      'Microsoft.EventGrid/systemTopics@2024-06-01-preview',
    ]);
  });

  it('lists every one infra/ declares, deployed or existing, and no other, each with its bicep-types-az path', () => {
    expect(unlisted(infraSource)).toEqual([]);
    const used = new Set(resources(infraSource).map((r) => `${r.type}@${r.apiVersion}`));
    expect(listed.map((l) => l.type).filter((t) => !used.has(t))).toEqual([]);
    for (const l of listed) {
      const [type, version] = l.type.split('@');
      const provider = (type ?? '').split('/')[0]?.toLowerCase() ?? '';
      expect([l.type, l.source]).toEqual([
        l.type,
        expect.stringMatching(
          new RegExp(
            `^Azure/bicep-types-az generated/[\\w-]+/${provider.replace('.', '\\.')}/${version}/types\\.md`,
          ),
        ),
      ]);
    }
  });
});

describe('the deployment refuses to start an app that cannot start', () => {
  const main = infraSource.text('main.bicep');
  const parameters = JSON.parse(infraSource.text('main.parameters.json')) as {
    parameters: Record<string, { value?: unknown }>;
  };

  it('requires at least one key store: keyVaults has no default, @minLength(1), and no value in main.parameters.json', () => {
    expect(main).toMatch(/@minLength\(1\)\s*@description\([^\n]*\)\s*param keyVaults array\s*$/m);
    // Absent, azd prompts for it (a required parameter without a value); [] there would deploy an app that
    // refuses to start.
    expect(parameters.parameters.keyVaults).toBeUndefined();
  });

  it('gives no required array parameter an empty array in main.parameters.json', () => {
    const { params } = declarations(main);
    const emptyRequired = Object.entries(parameters.parameters)
      .filter(([name]) => params.has(name) && params.get(name) === undefined)
      .filter(([, p]) => Array.isArray(p.value) && p.value.length === 0)
      .map(([name]) => name);
    expect(emptyRequired).toEqual([]);
  });
});

describe('key stores are URLs from the cloud the deployment runs in', () => {
  it('builds CMK_ALLOWED_VAULTS from environment().suffixes.keyvaultDns, with Managed HSMs on their own suffix', () => {
    const main = infraSource.text('main.bicep');
    expect(main).toMatch(/var vaultDnsSuffix = environment\(\)\.suffixes\.keyvaultDns/);
    expect(main).toMatch(
      /var managedHsmDnsSuffix = replace\(vaultDnsSuffix, '\.vault\.', '\.managedhsm\.'\)/,
    );
    expect(main).toMatch(/CMK_ALLOWED_VAULTS: join\(keyStoreUrls, ','\)/);
    expect(main).toMatch(
      /'https:\/\/\$\{toLower\(v\.name\)\}\$\{\(v\.\?kind \?\? 'vault'\) == 'managedHsm' \? managedHsmDnsSuffix : vaultDnsSuffix\}'/,
    );
  });

  it('hard-codes no public-cloud host anywhere in infra/', () => {
    for (const file of infraSource.files) {
      const code = structure(infraSource.text(file)).length === 0 ? '' : infraSource.text(file);
      const withoutComments = code
        .split('\n')
        .filter((l) => !l.trim().startsWith('//'))
        .join('\n');
      expect([
        file,
        withoutComments.match(/\b(vault\.azure\.net|managedhsm\.azure\.net|core\.windows\.net)\b/g),
      ]).toEqual([file, null]);
    }
  });
});

describe('a reused Event Grid system topic gets the identity it dead-letters with', () => {
  it('redeclares the existing topic with its identity, tags and properties read first, plus the app identity', () => {
    const eg = infraSource.text('modules/eventGrid.bicep');
    expect(eg).toMatch(
      /module existingTopicIdentity 'systemTopicIdentity\.bicep' = if \(useExistingSystemTopic\)/,
    );
    expect(eg).toMatch(
      /currentIdentity: useExistingSystemTopic \? \(existingTopic\.\?identity \?\? \{\}\) : \{\}/,
    );
    expect(eg).toMatch(/dependsOn: \[newTopic, existingTopicIdentity\]/);
    const topic = resources(infraSource).find(
      (r) => r.file === 'modules/systemTopicIdentity.bicep' && r.type === 'Microsoft.EventGrid/systemTopics',
    );
    expect(topic?.existing).toBe(false);
    expect(topic?.body).toMatch(
      /userAssignedIdentities: union\(keptUserAssigned, \{ '\$\{toLower\(identityId\)\}': \{\} \}\)/,
    );
    expect(topic?.body).toMatch(
      /type: keepsSystemAssigned \? 'SystemAssigned, UserAssigned' : 'UserAssigned'/,
    );
  });
});
