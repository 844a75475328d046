import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The dependency rule of docs/architecture.md, checked by running the project's own lint configuration. */
const cases: [string, string, string, boolean][] = [
  [
    'domain may use the pure identifier parser',
    'shared/domain/x.ts',
    "import { parseKeyVaultKeyIdentifier } from '@azure/keyvault-keys';",
    true,
  ],
  [
    'domain may not use the Key Vault client',
    'shared/domain/x.ts',
    "import { KeyClient } from '@azure/keyvault-keys';",
    false,
  ],
  [
    'domain may not use another SDK',
    'shared/domain/x.ts',
    "import { PostgreSQLManagementFlexibleServerClient } from '@azure/arm-postgresql-flexible';",
    false,
  ],
  [
    'domain may not import ports',
    'shared/domain/x.ts',
    "import type { KeyVaultKeys } from '../ports/keyVaultKeys';",
    false,
  ],
  ['domain may not do I/O', 'shared/domain/x.ts', "import { readFileSync } from 'node:fs';", false],
  ['domain may import domain', 'shared/domain/x.ts', "import { parseKeyUri } from './keyId';", true],
  [
    'workflows may not import adapters',
    'shared/workflows/x.ts',
    "import { ArmServerFleet } from '../adapters/armServerFleet';",
    false,
  ],
  [
    'workflows may not import an SDK',
    'shared/workflows/x.ts',
    "import { KeyClient } from '@azure/keyvault-keys';",
    false,
  ],
  [
    'domain may not import the rotation',
    'shared/domain/x.ts',
    "import { rotationInstanceId } from '../rotation/ids';",
    false,
  ],
  [
    'rotation orchestrators may not import adapters',
    'shared/rotation/orchestrators/x.ts',
    "import { ArmServerFleet } from '../../adapters/armServerFleet';",
    false,
  ],
  [
    'rotation orchestrators may not import activities',
    'shared/rotation/orchestrators/x.ts',
    "import { createRotationActivities } from '../activities/rotationActivities';",
    false,
  ],
  [
    'rotation orchestrators may not use node modules',
    'shared/rotation/orchestrators/x.ts',
    "import { randomUUID } from 'node:crypto';",
    false,
  ],
  [
    'rotation orchestrators may not import config',
    'shared/rotation/orchestrators/x.ts',
    "import { loadConfig } from '../../config';",
    false,
  ],
  [
    'rotation orchestrators may use the contract and the durable helpers',
    'shared/rotation/orchestrators/x.ts',
    "import type { RotationInput } from '../contract';\nimport { callStep } from '../../workflows/activityCalls';",
    true,
  ],
  [
    'rotation activities may not import an SDK',
    'shared/rotation/activities/x.ts',
    "import { KeyClient } from '@azure/keyvault-keys';",
    false,
  ],
  [
    'rotation activities may not import adapters',
    'shared/rotation/activities/x.ts',
    "import { ArmServerFleet } from '../../adapters/armServerFleet';",
    false,
  ],
  [
    'rotation activities may use ports',
    'shared/rotation/activities/x.ts',
    "import type { KeyVaultKeys } from '../../ports/keyVaultKeys';",
    true,
  ],
  [
    'the pure rotation files may not import ports',
    'shared/rotation/x.ts',
    "import type { KeyVaultKeys } from '../ports/keyVaultKeys';",
    false,
  ],
  [
    'the pure rotation files may not import an orchestrator',
    'shared/rotation/x.ts',
    "import { keyRotationOrchestrator } from './orchestrators/keyRotation';",
    false,
  ],
  [
    'the pure rotation files may not import the durable helpers',
    'shared/rotation/x.ts',
    "import { callStep } from '../workflows/activityCalls';",
    false,
  ],
  [
    'the pure rotation files may not import an SDK',
    'shared/rotation/x.ts',
    "import type { OrchestrationContext } from 'durable-functions';",
    false,
  ],
  [
    'the pure rotation files do no I/O',
    'shared/rotation/x.ts',
    "import { readFileSync } from 'node:fs';",
    false,
  ],
  [
    'the pure rotation files may import domain and each other',
    'shared/rotation/x.ts',
    "import { daysLeft } from '../domain/expiry';\nimport type { RotationInput } from './contract';",
    true,
  ],
  [
    'activities may not import an SDK',
    'shared/activities/x.ts',
    "import { KeyClient } from '@azure/keyvault-keys';",
    false,
  ],
  [
    'activities may use ports',
    'shared/activities/x.ts',
    "import type { KeyVaultKeys } from '../ports/keyVaultKeys';",
    true,
  ],
  [
    'adapters may import SDKs',
    'shared/adapters/x.ts',
    "import { KeyClient } from '@azure/keyvault-keys';",
    true,
  ],
  [
    'adapters may not import local/',
    'shared/adapters/x.ts',
    "import { startLocalAzure } from '../../local/azure/server';",
    false,
  ],
  [
    'functions may not import an SDK directly',
    'functions/x.ts',
    "import { KeyClient } from '@azure/keyvault-keys';",
    false,
  ],
  [
    'functions may import the Functions library',
    'functions/x.ts',
    "import { app } from '@azure/functions';",
    true,
  ],
  ['local may import SDKs', 'local/azure/x.ts', "import { KeyClient } from '@azure/keyvault-keys';", true],
  [
    'the stand-ins may not use the product key URI parser',
    'local/azure/x.ts',
    "import { tryParseKeyUri } from '../../shared/domain/keyId';",
    false,
  ],
  [
    'the stand-ins may not use the product resource id parser',
    'local/azure/x.ts',
    "import { parseFlexibleServerId } from '../../shared/domain/resourceId';",
    false,
  ],
  ['the stand-ins use their own parsing', 'local/azure/x.ts', "import { splitKeyUri } from './ids';", true],
  [
    "npm start's checks may not use the product key URI parser",
    'local/start.ts',
    "import { tryParseKeyUri } from '../shared/domain/keyId';",
    false,
  ],
  [
    "npm start's checks may not use the product's instance ids or output type",
    'local/results.ts',
    "import type { RotationOutput } from '../shared/rotation/contract';",
    false,
  ],
  [
    "npm start's checks use the stand-ins' parsing",
    'local/start.ts',
    "import { splitKeyUri } from './azure/ids';",
    true,
  ],
  ['the CLI may not import the app', 'cli/x.ts', "import { SLOTS } from '../shared/domain/model';", false],
  ['the CLI may not import local/', 'cli/x.ts', "import { splitKeyUri } from '../local/azure/ids';", false],
  [
    'the CLI shares the one did-you-mean rule',
    'cli/x.ts',
    "import { didYouMean } from '../shared/domain/suggest';",
    true,
  ],
];

describe('the dependency rule is enforced by lint', () => {
  const root = join(__dirname, '..', '..', '..');
  const results = JSON.parse(
    execFileSync(process.execPath, [join(__dirname, 'check-layers.mjs')], {
      cwd: root,
      input: JSON.stringify(
        cases.map(([, filePath, code]) => ({
          filePath: join(root, filePath),
          code: `${code}\nexport {};\n`,
        })),
      ),
    }).toString('utf8'),
  ) as string[][];

  it.each(cases.map((c, i) => [...c, i] as const))('%s', (_name, _file, _code, allowed, i) => {
    const messages = results[i] ?? [];
    if (allowed) expect(messages).toEqual([]);
    else expect(messages.join('\n')).toMatch(/restricted/);
  });
});
