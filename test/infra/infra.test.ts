import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTION_NAMES } from '../../shared/domain/names';

/**
 * What the Bicep compiler does not see: azd's parameter file (main.parameters.json, with ${VAR} substitutions)
 * and azure.yaml. Everything else about infra/ is proven by the real CLI (bicepCli.test.ts) and its predicted
 * resources (snapshot.test.ts, snapshotEvents.test.ts).
 */
const INFRA = join(__dirname, '..', '..', 'infra');
const main = readFileSync(join(INFRA, 'main.bicep'), 'utf8');
/** `param <name> <type>` declarations of main.bicep, and whether each has a default (or is nullable). */
const declared = new Map(
  [...main.matchAll(/^param\s+(\w+)\s+([\w[\]]+\??)(\s*=)?/gm)].map((m) => [
    m[1] ?? '',
    m[3] !== undefined || (m[2] ?? '').endsWith('?'),
  ]),
);
const parameters = (
  JSON.parse(readFileSync(join(INFRA, 'main.parameters.json'), 'utf8')) as {
    parameters: Record<string, { value?: unknown }>;
  }
).parameters;

describe('azd: main.parameters.json and azure.yaml agree with main.bicep', () => {
  it('names only parameters main.bicep declares', () => {
    expect(declared.size).toBeGreaterThan(10);
    expect(Object.keys(parameters).filter((p) => !declared.has(p))).toEqual([]);
  });

  it('gives every required parameter a value but keyVaults, which azd prompts for (an empty list would start an app without vaults)', () => {
    const missing = [...declared]
      .filter(([name, optional]) => !optional && !(name in parameters))
      .map(([n]) => n);
    expect(missing).toEqual(['keyVaults']);
    expect(main).toMatch(/@minLength\(1\)\s*@description\([^\n]*\)\s*param keyVaults array\s*$/m);
  });

  it('deploys the app as a function from infra/, and points Event Grid at the intake function by its registered name', () => {
    const azd = readFileSync(join(INFRA, '..', 'azure.yaml'), 'utf8');
    expect(azd).toMatch(/host: function/);
    expect(azd).toMatch(/path: infra/);
    expect(readFileSync(join(INFRA, 'modules', 'eventGrid.bicep'), 'utf8')).toContain(
      `param functionName string = '${FUNCTION_NAMES.keyVaultEvents}'`,
    );
  });
});
