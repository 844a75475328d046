import { KeyClient } from '@azure/keyvault-keys';
import { isRestError } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/core-auth';
import { LocalTokenCredential } from '../../../local/azure/credential';
import type { FleetAppNetwork, FleetFile, FleetVault } from '../../../local/azure/fleet';
import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { KeyVaultKeysAdapter } from '../../../shared/adapters/keyVaultKeysAdapter';
import { KeyVaultManagementAdapter } from '../../../shared/adapters/keyVaultManagementAdapter';
import { RoleAssignmentsAdapter } from '../../../shared/adapters/roleAssignmentsAdapter';
import { loadConfig } from '../../../shared/config';
import { readPosture } from '../../../shared/triggers/posture';
import { ForbiddenError, VaultUnreachableError } from '../../../shared/ports/errors';
import { KEY, SUB_A, SUB_B, SUB_SECURITY, V1, VAULT, VAULT_URL, testFleet, uai } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';

const SUBNET =
  '/subscriptions/3f9a1c7e-5b2d-4e8f-a1c3-7d9e0b2f4a6c/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-app/subnets/snet-func';

function fleetWith(network: Partial<FleetVault>, appNetwork?: FleetAppNetwork): FleetFile {
  const base = testFleet().fleet;
  return {
    ...base,
    ...(appNetwork !== undefined ? { appNetwork } : {}),
    vaults: (base.vaults ?? []).map((v) => (v.name === VAULT ? { ...v, ...network } : v)),
  };
}

/** What Key Vault answered the real KeyClient: ok, or the 403's code, inner code and message. */
async function getKeyAs(
  h: Harness,
  credential: TokenCredential = h.credential,
): Promise<'ok' | { status?: number; code?: string; inner?: string; message: string }> {
  const client = new KeyClient(VAULT_URL, credential, h.clientOptions);
  try {
    await client.getKey(KEY);
    return 'ok';
  } catch (e) {
    if (!isRestError(e)) throw e;
    const details = e.details as { error?: { innerError?: { code?: string } } } | undefined;
    return {
      status: e.statusCode,
      code: e.code,
      inner: details?.error?.innerError?.code,
      message: e.message,
    };
  }
}

const CLOSED = {
  publicNetworkAccess: 'Disabled',
  networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny' },
};
const DENY = {
  networkAcls: {
    bypass: 'AzureServices',
    defaultAction: 'Deny',
    ipRules: ['203.0.113.0/24'],
    virtualNetworkRules: [SUBNET],
  },
};

describe("Key Vault's firewall in the stand-in, as the real KeyClient meets it", () => {
  // Inner codes as Key Vault answers them: public access disabled -> ForbiddenByConnection
  // (microsoft/multimodal-ai#171 quotes the whole 403), deny by default without a rule ->
  // ForbiddenByFirewall (Azure-Samples/azuresandbox#429).
  type Refused = readonly ['ForbiddenByConnection' | 'ForbiddenByFirewall', RegExp];
  it.each<[string, Partial<FleetVault>, FleetAppNetwork | undefined, 'ok' | Refused]>([
    [
      'public access disabled, no private endpoint: ForbiddenByConnection',
      CLOSED,
      undefined,
      [
        'ForbiddenByConnection',
        /^Public network access is disabled and request is not from a trusted service nor via an approved private link\./,
      ],
    ],
    [
      'public access disabled, trusted services bypass: the app is no trusted service (ForbiddenByConnection)',
      CLOSED,
      { outboundIpAddresses: ['203.0.113.9'] },
      ['ForbiddenByConnection', /^Public network access is disabled/],
    ],
    [
      'public access disabled, reached through a private endpoint',
      CLOSED,
      { privateEndpoints: [VAULT] },
      'ok',
    ],
    [
      'deny by default, the app outside every rule: ForbiddenByFirewall',
      DENY,
      { outboundIpAddresses: ['198.51.100.7'] },
      [
        'ForbiddenByFirewall',
        /^Client address is not authorized and caller is not a trusted service\.\r\nClient address: 198\.51\.100\.7/,
      ],
    ],
    [
      'deny by default, the app egress inside an ipRule range',
      DENY,
      { outboundIpAddresses: ['203.0.113.9'] },
      'ok',
    ],
    [
      'deny by default, the app subnet in virtualNetworkRules (service endpoint)',
      DENY,
      { subnetId: SUBNET.toUpperCase() },
      'ok',
    ],
    ['no firewall', {}, undefined, 'ok'],
  ])('%s', async (_name, network, appNetwork, expected) => {
    const h = await startHarness(fleetWith(network, appNetwork));
    try {
      const answer = await getKeyAs(h);
      if (expected === 'ok') expect(answer).toBe('ok');
      else
        expect(answer).toMatchObject({
          status: 403,
          code: 'Forbidden',
          inner: expected[0],
          message: expect.stringMatching(expected[1]) as string,
        });
      if (answer !== 'ok') expect(answer.message).toMatch(new RegExp(`\\r\\nVault: ${VAULT};location=`));
    } finally {
      await h.azure.close();
    }
  });

  it("names the caller's application (client) id as appid, never its object id", async () => {
    const h = await startHarness(fleetWith(CLOSED));
    try {
      const principal = 'aaaaaaaa-0000-4000-8000-00000000000a';
      const clientId = 'cccccccc-0000-4000-8000-00000000000c';
      const withAppId = await getKeyAs(h, new LocalTokenCredential(principal, h.azure.tenantId, clientId));
      expect(withAppId).toMatchObject({
        message: expect.stringContaining(`\r\nCaller: appid=${clientId};oid=${principal};iss=`) as string,
      });
      // A token without an appid claim: the message names none rather than the object id in its place.
      const without = await getKeyAs(h, new LocalTokenCredential(principal, h.azure.tenantId));
      expect(without).toMatchObject({
        message: expect.stringContaining(`\r\nCaller: oid=${principal};iss=`) as string,
      });
    } finally {
      await h.azure.close();
    }
  });

  it('refuses the app but not the server: trusted-service bypass lets the PostgreSQL server use its key', async () => {
    const h = await startHarness(fleetWith(CLOSED));
    try {
      await expect(getKeyAs(h)).resolves.toMatchObject({ inner: 'ForbiddenByConnection' });
      const server = h.azure.world.checkKeyAccess(`${VAULT_URL}/keys/${KEY}/${V1}`, uai(SUB_A, 'id-a'), true);
      expect(server.ok).toBe(true);
    } finally {
      await h.azure.close();
    }
  });

  it.each([
    ['public access disabled', CLOSED, undefined, 'ForbiddenByConnection'],
    [
      'deny by default without a rule',
      DENY,
      { outboundIpAddresses: ['198.51.100.7'] },
      'ForbiddenByFirewall',
    ],
  ] as const)(
    'the adapter names the refusal (%s) VaultUnreachable with its inner code, never a missing permission',
    async (_name, network, appNetwork, inner) => {
      const h = await startHarness(fleetWith(network, appNetwork));
      try {
        const adapter = new KeyVaultKeysAdapter({ credential: h.credential, clientOptions: h.clientOptions });
        const before = h.azure.requests.length;
        const e: unknown = await adapter.readKey(VAULT_URL, KEY).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(VaultUnreachableError);
        expect(e).not.toBeInstanceOf(ForbiddenError);
        expect(e).toMatchObject({
          code: 'VaultUnreachable',
          azureCode: inner,
          statusCode: 403,
          retryable: false,
        });
        // One refused call after the challenge: the SDK does not retry a 403, and neither does the adapter.
        const calls = h.azure.requests.slice(before).map((r) => r.status);
        expect(calls).toEqual([401, 403]);
        // A listing too (the SDK's paging drops the inner code; the client policy keeps it).
        const listed: unknown = await adapter.listKeys(VAULT_URL).catch((x: unknown) => x);
        expect(listed).toMatchObject({ code: 'VaultUnreachable', azureCode: inner });
      } finally {
        await h.azure.close();
      }
    },
  );

  it('posture: the vault in use that the app cannot reach is critical, with the reason and the fix', async () => {
    const h = await startHarness(fleetWith(CLOSED));
    try {
      const config = loadConfig({
        CMK_SUBSCRIPTIONS: `${SUB_A},${SUB_B}`,
        CMK_VAULT_SUBSCRIPTIONS: SUB_SECURITY,
        CMK_ALLOWED_VAULTS: VAULT,
        CMK_DISCOVERY: 'armList',
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
      });
      const { credential, clientOptions } = h;
      const keys = new KeyVaultKeysAdapter({ credential, clientOptions });
      const report = await readPosture(
        { status: () => Promise.resolve(undefined) },
        {
          config,
          keys,
          rotationPolicies: keys,
          fleet: new ArmServerFleet({ credential, subscriptions: config.subscriptions, clientOptions }),
          vaults: new KeyVaultManagementAdapter({
            credential,
            subscriptions: [SUB_A, SUB_B, SUB_SECURITY],
            clientOptions,
          }),
          roleAssignments: new RoleAssignmentsAdapter({ credential, clientOptions }),
        },
        new Date(),
      );
      const vault = report.vaults.find((v) => v.vaultName === VAULT);
      expect(vault?.risk).toBe('critical');
      expect(vault?.checks.find((c) => c.name === 'appReachable')).toMatchObject({
        status: 'failing',
        reason: expect.stringMatching(/cannot reach vault contoso-pg-kv.*ForbiddenByConnection/) as string,
        fix: expect.stringMatching(/private endpoint/) as string,
      });
      // The servers' own path (trusted services bypass) is fine: that check stays ok.
      expect(vault?.checks.find((c) => c.name === 'networkAccess')?.status).toBe('ok');
      expect(report.errors.join('\n')).toMatch(/contoso-pg-kv: keys not listed \(ForbiddenByConnection\)/);
    } finally {
      await h.azure.close();
    }
  });
});
