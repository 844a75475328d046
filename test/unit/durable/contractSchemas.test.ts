import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGenerator } from 'ts-json-schema-generator';
import { ACTIVITY_NAMES, type StepName } from '../../../shared/rotation/contract';
import {
  contractProblem,
  InvalidDurableValueError,
  type ContractEntry,
} from '../../../shared/durable/contractSchemas';

const root = join(__dirname, '../../..');
const ORCHESTRATIONS = ['keyRotation', 'rolloutBatch', 'serverRollover'] as const;
const entries: ContractEntry[] = [
  ...(Object.keys(ACTIVITY_NAMES) as StepName[]).map((name) => ({ kind: 'activity' as const, name })),
  ...ORCHESTRATIONS.map((name) => ({ kind: 'orchestration' as const, name })),
  { kind: 'healthWatch', name: 'fleetHealthWatch' },
  { kind: 'healthWatch', name: 'checkFleetHealth' },
];

describe('the durable contract checked at run time', () => {
  it('has schemas generated from the contract types as they are now (npm run contract:schemas)', () => {
    // The same options as the package.json script: a type changed without regenerating fails here.
    const generated = createGenerator({
      path: join(root, 'shared/durable/contractTypes.ts'),
      tsconfig: join(root, 'tsconfig.json'),
      type: 'DurableContract',
      skipTypeCheck: true,
      additionalProperties: true,
      jsDoc: 'none',
    }).createSchema('DurableContract');
    const committed: unknown = JSON.parse(
      readFileSync(join(root, 'shared/durable/contractSchemas.json'), 'utf8'),
    );
    expect(committed).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it.each(entries.map((e) => [`${e.kind} ${e.name}`, e] as const))(
    'refuses a malformed input to %s: fatal, not retryable, InvalidDurableInput',
    (_, entry) => {
      const problem = contractProblem(entry, 'input', 'not an object');
      expect(problem).toBeInstanceOf(InvalidDurableValueError);
      expect(problem).toMatchObject({ code: 'InvalidDurableInput', retryable: false, entry });
      expect(problem?.message).toContain(`${entry.kind} ${entry.name}: input refused at /`);
    },
  );

  it.each([
    [{ kind: 'activity', name: 'readKey' }, { vaultUrl: 'https://contoso-kv.vault.azure.net' }, '/keyName'],
    [{ kind: 'activity', name: 'verifyServer' }, { serverId: 7, expected: {} }, '/serverId'],
    [{ kind: 'orchestration', name: 'serverRollover' }, { correlationId: 'c' }, '/trigger'],
  ] as const)('names the first bad path of %p: %p -> %s', (entry, input, path) => {
    expect(contractProblem(entry, 'input', input)).toMatchObject({ path, code: 'InvalidDurableInput' });
  });

  it('never quotes the refused value (it may sit next to a secret)', () => {
    const problem = contractProblem({ kind: 'activity', name: 'readKey' }, 'input', {
      vaultUrl: 'https://contoso-kv.vault.azure.net',
      keyName: { token: 'eyJ-secret-looking' },
    });
    expect(problem?.message).toBe('activity readKey: input refused at /keyName: must be string');
  });

  it('accepts what the contract says, and an output without the fields it may leave out', () => {
    expect(
      contractProblem({ kind: 'activity', name: 'readKey' }, 'input', {
        vaultUrl: 'https://contoso-kv.vault.azure.net',
        keyName: 'pg-cmk',
      }),
    ).toBeUndefined();
    expect(contractProblem({ kind: 'activity', name: 'recordAudit' }, 'output', null)).toBeUndefined();
    expect(
      contractProblem({ kind: 'activity', name: 'pollServerUpdate' }, 'output', { status: 'InProgress' }),
    ).toBeUndefined();
  });

  it('refuses an output the contract does not allow with InvalidDurableOutput', () => {
    expect(
      contractProblem({ kind: 'activity', name: 'pollServerUpdate' }, 'output', { status: 'Unknown' }),
    ).toMatchObject({ code: 'InvalidDurableOutput', retryable: false });
  });
});
