import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  PARAMS,
  PARAM_FILES,
  ROOT,
  bicepCli,
  describeWithBicep,
  runBicep,
  validateSnapshots,
} from '../support/bicep';

/**
 * The infra compiled, linted and evaluated by the real Bicep CLI (restored from NuGet by infra/tools/bicep.csproj,
 * found by infra/bicep.mjs). Skipped with the command that enables it where there is no CLI and no .NET SDK,
 * failing instead under CI=true.
 */
jest.setTimeout(180_000);

/** Lint findings that depend on today's date (an api version gets "old" while nothing changes): reported, not failed. */
const DATED = /use-recent-api-versions/;

describeWithBicep('infra with the real Bicep CLI')('infra with the real Bicep CLI', () => {
  let scratch = '';
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'bicep-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** `bicep snapshot` of network-isolated.bicepparam edited by `edit` (a scratch copy): what the CLI says of it. */
  function snapshotIsolatedVariant(
    name: string,
    edit: (text: string) => string,
  ): ReturnType<typeof runBicep> {
    const file = join(scratch, name);
    const original = readFileSync(join(PARAMS, 'network-isolated.bicepparam'), 'utf8').replace(
      "using '../main.bicep'",
      `using '${relative(scratch, join(ROOT, 'infra', 'main.bicep'))}'`,
    );
    writeFileSync(file, edit(original));
    return runBicep([
      'snapshot',
      file,
      '--mode',
      'overwrite',
      '--subscription-id',
      '11111111-1111-1111-1111-111111111111',
      '--location',
      'westeurope',
    ]);
  }

  it('uses the version pinned in infra/tools/bicep.csproj when it restores the CLI itself', () => {
    const cli = bicepCli();
    const pinned = /Version="\[([\d.]+)\]"/.exec(
      readFileSync(join(ROOT, 'infra', 'tools', 'bicep.csproj'), 'utf8'),
    )?.[1];
    expect(cli?.version).toMatch(/^\d+\.\d+\.\d+$/);
    if (cli?.source.startsWith('NuGet') === true) expect(cli.version).toBe(pinned);
    // Under CI the snapshots must come from the pinned CLI, whichever way it was found (.ci/run points
    // BICEP_CLI at the restored package; `CI=true npm test` by hand restores it): a newer bicep on PATH
    // cannot change them.
    if (process.env.CI === 'true') expect(cli?.version).toBe(pinned);
  });

  it('compiles infra/main.bicep with no error and no warning (api-version age reported, not failed, as in lint)', () => {
    // `bicep build` runs the linter too: the dated finding is filtered the same way as in the lint test below.
    const r = runBicep(['build', 'infra/main.bicep', '--stdout']);
    const dated = r.diagnostics.filter((d) => DATED.test(d));
    if (dated.length > 0) console.info(`bicep build, api versions to review:\n${dated.join('\n')}`);
    expect(r.diagnostics.filter((d) => !DATED.test(d))).toEqual([]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      $schema: expect.stringContaining('subscriptionDeploymentTemplate'),
    });
  });

  it("bicep build reports the linter's dated api-version finding too, which the build test sets apart", () => {
    // A resource on a years-old api version under infra's bicepconfig.json: build (not only lint) warns.
    const dir = join(scratch, 'dated');
    mkdirSync(dir);
    writeFileSync(join(dir, 'bicepconfig.json'), readFileSync(join(ROOT, 'infra', 'bicepconfig.json')));
    writeFileSync(
      join(dir, 'old.bicep'),
      "resource st 'Microsoft.Storage/storageAccounts@2019-06-01' existing = { name: 'stold' }\noutput id string = st.id\n",
    );
    const r = runBicep(['build', join(dir, 'old.bicep'), '--stdout']);
    expect(r.status).toBe(0);
    expect(r.diagnostics.some((d) => DATED.test(d))).toBe(true);
    expect(r.diagnostics.filter((d) => !DATED.test(d))).toEqual([]);
  });

  it('lints clean with infra/bicepconfig.json (api-version age reported, not failed: it changes with the date)', () => {
    const r = runBicep(['lint', 'infra/main.bicep']);
    const dated = r.diagnostics.filter((d) => DATED.test(d));
    if (dated.length > 0) console.info(`bicep lint, api versions to review:\n${dated.join('\n')}`);
    expect(r.diagnostics.filter((d) => !DATED.test(d))).toEqual([]);
  });

  it('lint with infra/bicepconfig.json refuses secrets in outputs, hard-coded cloud hosts (Key Vault ones too) and secret-named plain params', () => {
    const file = join(scratch, 'bad.bicep');
    writeFileSync(
      file,
      [
        "param adminPassword string = ''",
        "resource st 'Microsoft.Storage/storageAccounts@2025-06-01' existing = { name: 'st' }",
        'output key string = st.listKeys().keys[0].value',
        "output arm string = 'https://management.azure.com/${adminPassword}'",
        "output hsm string = 'https://hsm.managedhsm.azure.net'",
        "output zone string = 'privatelink.vaultcore.azure.net'",
        '',
      ].join('\n'),
    );
    const r = runBicep(['lint', file, '--config', join(ROOT, 'infra', 'bicepconfig.json')]);
    const codes = r.diagnostics.map((d) => /: Error ([\w-]+):/.exec(d)?.[1]);
    expect(codes).toEqual(
      expect.arrayContaining([
        'outputs-should-not-contain-secrets',
        'no-hardcoded-env-urls',
        'secure-secrets-in-params',
      ]),
    );
    // Bicep's default host list does not know the Managed HSM and private-link Key Vault hosts: infra's does.
    expect(codes.filter((c) => c === 'no-hardcoded-env-urls')).toHaveLength(3);
    expect(r.status).not.toBe(0);
  });

  it(`builds every parameter file (${PARAM_FILES.join(', ')}) with no diagnostic`, () => {
    const out = join(scratch, 'params');
    const r = runBicep(['build-params', '--pattern', 'infra/params/*.bicepparam', '--outdir', out]);
    expect(r.diagnostics).toEqual([]);
    expect(r.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(PARAM_FILES.map((f) => f.replace(/\.bicepparam$/, '.json')));
  });

  it('refuses a parameter file with a misspelt privateNetwork field, naming it, before anything is deployed', () => {
    const file = join(scratch, 'typo.bicepparam');
    const good = readFileSync(join(PARAMS, 'network-isolated.bicepparam'), 'utf8');
    writeFileSync(
      file,
      good
        .replace("using '../main.bicep'", `using '${relative(scratch, join(ROOT, 'infra', 'main.bicep'))}'`)
        .replace('privateStorage: true', 'privateStorag: true'),
    );
    const r = runBicep(['build-params', file, '--stdout']);
    expect(r.status).not.toBe(0);
    expect(r.diagnostics.join('\n')).toMatch(/privateStorag/);
  });

  it('stops the deployment before it starts when privateNetwork.peeredVaults names no key store of it', () => {
    const r = snapshotIsolatedVariant('peered-typo.bicepparam', (text) =>
      text.replace("peeredVaults: ['kv-hub']", "peeredVaults: ['kv-hbu']"),
    );
    expect(r.status).not.toBe(0);
    expect(r.output).toContain(
      'privateNetwork.peeredVaults names kv-hbu, which is not in keyVaults or pagerSecretsVault',
    );
  });

  it('stops the deployment when peeredVaults sit beside vaults with endpoints here but no hub vault zone is named', () => {
    const r = snapshotIsolatedVariant('peered-no-zone.bicepparam', (text) =>
      text.replace(/\n\s*vaultDnsZoneId: '[^']*'/, ''),
    );
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('privateNetwork.peeredVaults needs privateNetwork.vaultDnsZoneId');
  });

  it('predicts exactly the committed snapshots (infra/params/*.snapshot.json): npm run infra:snapshots after a change', () => {
    const r = validateSnapshots();
    expect([r.status, r.output]).toEqual([0, expect.stringMatching(/ok validate/)]);
  });
});
