import { LocalTokenCredential } from '../../local/azure/credential';
import type { FleetFile } from '../../local/azure/fleet';
import { startLocalAzure, type LocalAzure } from '../../local/azure/server';
import { httpsJson } from '../support/https';
import { rawClient, type RawResponse } from '../support/raw';
import { expectValid, readSpec, validatorFor } from '../support/specs';

const PG = 'postgresql-flexible/2025-08-01';
const KV = 'keyvault-keys/2025-07-01/keys.json';
const ARG = 'resourcegraph/2021-03-01/resourcegraph.json';

type Example = {
  parameters: Record<string, unknown>;
  responses: Record<string, { body?: unknown; headers?: Record<string, string> }>;
};
const example = (file: string) => readSpec(file) as unknown as Example;

const getExample = example(`${PG}/examples/ServersGet.json`);
const listBySub = example(`${PG}/examples/ServersListBySubscription.json`);
const listByRg = example(`${PG}/examples/ServersListByResourceGroup.json`);
const patchExample = example(`${PG}/examples/ServersUpdateWithDataEncryptionEnabled.json`);
const exampleServers = [
  getExample.responses['200']?.body,
  ...(listBySub.responses['200']?.body as { value: unknown[] }).value,
  ...(listByRg.responses['200']?.body as { value: unknown[] }).value,
] as Record<string, unknown>[];

/** The server the PATCH example targets, built from the GET example with CMK turned on (as at create time). */
function patchTarget(): Record<string, unknown> {
  const base = structuredClone(getExample.responses['200']?.body) as Record<string, unknown>;
  const params = patchExample.parameters['parameters'] as {
    identity: Record<string, unknown>;
    properties: { dataEncryption: Record<string, unknown> };
  };
  const props = base['properties'] as Record<string, unknown>;
  props['dataEncryption'] = {
    ...params.properties.dataEncryption,
    primaryEncryptionKeyStatus: 'Valid',
    geoBackupEncryptionKeyStatus: 'Valid',
  };
  props['backup'] = { backupRetentionDays: 7, geoRedundantBackup: 'Enabled' };
  return {
    ...base,
    id: '/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff/resourceGroups/exampleresourcegroup/providers/Microsoft.DBforPostgreSQL/flexibleServers/exampleserver',
    name: 'exampleserver',
    identity: params.identity,
  };
}

/** The PATCH replay gets its own instance: its target shares its id with the GET example. */
const patchFleet: FleetFile = {
  identities: Object.keys(
    (
      patchExample.parameters['parameters'] as {
        identity: { userAssignedIdentities: Record<string, unknown> };
      }
    ).identity.userAssignedIdentities,
  ).map((id, i) => ({
    id,
    principalId: `00000000-0000-4000-8000-00000000000${i}`,
    clientId: `00000000-0000-4000-9000-00000000000${i}`,
  })),
  servers: [patchTarget()],
  // The example assigns identities: its caller needs assign/action on them (an Owner has it).
  roleAssignments: [
    { principalId: '*', scope: '/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff', role: 'Owner' },
  ],
  behaviour: { updateDurationMs: 100 },
};

const fleet: FleetFile = {
  vaults: [
    {
      name: 'myvault',
      subscriptionId: 'ffffffff-ffff-ffff-ffff-ffffffffffff',
      resourceGroup: 'exampleresourcegroup',
      keys: [
        {
          name: 'UpdateKeyAttributesTest',
          versions: [{ version: '3d31e6e5c4c14eaf9be8d42c00225088', created: 'now-10d' }],
        },
        { name: 'updateKey01', versions: [{ created: 'now-5d' }] },
        {
          name: 'CreateSoftKeyTest',
          versions: [
            { created: 'now-3d', exp: 'now+300d' },
            { created: 'now-1d', exp: 'now+364d' },
          ],
        },
      ],
    },
  ],
  servers: exampleServers,
  behaviour: { armPageSize: 2 },
};

/** Response headers/URLs must have the example's shape: same text with ids, GUIDs and versions abstracted. */
function shapeOf(url: string): string {
  return url
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/api-version=[^&]+/, 'api-version=<v>');
}

describe('the stand-ins answer in the wire shapes of the Azure REST specs', () => {
  let azure: LocalAzure;
  let call: (method: string, url: string, body?: unknown) => Promise<RawResponse>;

  beforeAll(async () => {
    azure = await startLocalAzure({ fleet });
    call = rawClient(azure);
  });
  afterAll(async () => {
    await azure.close();
  });

  describe('PostgreSQL flexible servers 2025-08-01', () => {
    const server = validatorFor(`${PG}/Servers.json`, 'Server');
    const list = validatorFor(`${PG}/Servers.json`, 'ServerList');
    const arm = (path: string) => `https://management.azure.com${path}?api-version=2025-08-01`;

    it.each(exampleServers.map((s) => [String(s['name']), s]))(
      'GET %s returns the example body as seeded, valid against Server',
      async (_name, body) => {
        const res = await call('GET', arm(String(body['id'])));
        expect(res.status).toBe(200);
        expectValid(server, res.body);
        const props = body['properties'] as { dataEncryption?: Record<string, unknown> };
        if (props.dataEncryption?.['type'] === 'AzureKeyVault') {
          // The example's vault does not exist here: like Azure, the stand-in reports the key Invalid.
          const got = res.body as { properties: { dataEncryption: Record<string, unknown> } };
          expect(got.properties.dataEncryption['primaryEncryptionKeyStatus']).toBe('Invalid');
          const expected = structuredClone(body) as {
            properties: { dataEncryption: Record<string, unknown> };
          };
          expected.properties.dataEncryption['primaryEncryptionKeyStatus'] = 'Invalid';
          expect(res.body).toEqual(expected);
        } else {
          expect(res.body).toEqual(body);
        }
      },
    );

    it('lists by subscription in pages with absolute nextLink, each page valid against ServerList', async () => {
      const sub =
        '/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff/providers/Microsoft.DBforPostgreSQL/flexibleServers';
      const names: string[] = [];
      let url: string | undefined = arm(sub);
      while (url !== undefined) {
        const res = await call('GET', url);
        expect(res.status).toBe(200);
        expectValid(list, res.body);
        const page = res.body as { value: { name: string }[]; nextLink?: string };
        names.push(...page.value.map((v) => v.name));
        url = page.nextLink;
        if (url !== undefined)
          expect(url).toMatch(/^https:\/\/management\.azure\.com\/subscriptions\/.*\$skiptoken=/);
      }
      expect(names.sort()).toEqual(
        exampleServers
          .filter((s) => String(s['id']).includes('ffffffff-ffff-ffff-ffff-ffffffffffff/'))
          .map((s) => String(s['name']))
          .sort(),
      );
    });

    it('replays the CMK update example: 202 with Azure-AsyncOperation and Location of the example shape', async () => {
      const patchAzure = await startLocalAzure({ fleet: patchFleet });
      try {
        await replayPatch(rawClient(patchAzure));
      } finally {
        await patchAzure.close();
      }
    });

    async function replayPatch(
      call: (method: string, url: string, body?: unknown) => Promise<RawResponse>,
    ): Promise<void> {
      const p = patchExample.parameters;
      const res = await call(
        'PATCH',
        arm(
          `/subscriptions/${String(p['subscriptionId'])}/resourceGroups/${String(p['resourceGroupName'])}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${String(p['serverName'])}`,
        ),
        p['parameters'],
      );
      expect(res.status).toBe(202);
      const expected = patchExample.responses['202']?.headers ?? {};
      expect(shapeOf(String(res.headers['azure-asyncoperation']))).toBe(
        shapeOf(expected['Azure-AsyncOperation'] ?? ''),
      );
      expect(shapeOf(String(res.headers['location']))).toBe(shapeOf(expected['Location'] ?? ''));
      // The example's vaults do not exist here, so the operation fails the way Azure fails it.
      let status: { status: string; error?: { code: string } } | undefined;
      for (let i = 0; i < 100 && (status === undefined || status.status === 'InProgress'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await call('GET', String(res.headers['azure-asyncoperation']))).body as typeof status;
      }
      expect(status).toMatchObject({ status: 'Failed', error: { code: 'AzureKeyVaultKeyNotFound' } });
    }

    it('answers errors in the ARM error shape', async () => {
      const res = await call(
        'GET',
        arm(
          '/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff/resourceGroups/exampleresourcegroup/providers/Microsoft.DBforPostgreSQL/flexibleServers/nope',
        ),
      );
      expect(res.status).toBe(404);
      expect(res.body).toEqual({
        error: {
          code: 'ResourceNotFound',
          message: expect.stringContaining("'Microsoft.DBforPostgreSQL/flexibleServers/nope'"),
        },
      });
    });
  });

  describe('Key Vault keys 2025-07-01', () => {
    const kv = (path: string, v = '2025-07-01') => `https://myvault.vault.azure.net${path}?api-version=${v}`;

    it('replays the UpdateKey example: same response shape, valid against KeyBundle', async () => {
      const ex = example('keyvault-keys/7.6/examples/UpdateKey-example.json');
      const res = await call(
        'PATCH',
        kv(`/keys/${String(ex.parameters['key-name'])}/${String(ex.parameters['key-version'])}`, '7.6'),
        ex.parameters['parameters'],
      );
      expect(res.status).toBe(200);
      expectValid(validatorFor(KV, 'KeyBundle'), res.body);
      const expected = ex.responses['200']?.body as {
        key: Record<string, unknown>;
        attributes: Record<string, unknown>;
      };
      const got = res.body as typeof expected;
      expect(Object.keys(got.key).sort()).toEqual(Object.keys(expected.key).sort());
      expect(got.key['kid']).toBe(expected.key['kid']);
      expect(got.attributes).toMatchObject({
        enabled: false,
        nbf: 631180800,
        exp: 662716800,
        recoveryLevel: 'Recoverable+Purgeable',
      });
    });

    it('replays the UpdateKeyRotationPolicy example: the example response, valid against KeyRotationPolicy', async () => {
      const ex = example('keyvault-keys/2025-07-01/examples/UpdateKeyRotationPolicy-example.json');
      const res = await call(
        'PUT',
        kv(`/keys/${String(ex.parameters['key-name'])}/rotationpolicy`),
        ex.parameters['keyRotationPolicy'],
      );
      expect(res.status).toBe(200);
      expectValid(validatorFor(KV, 'KeyRotationPolicy'), res.body);
      const expected = ex.responses['200']?.body as Record<string, unknown>;
      expect(res.body).toEqual({
        ...expected,
        attributes: {
          ...(expected['attributes'] as object),
          created: expect.any(Number),
          updated: expect.any(Number),
        },
      });
    });

    it('lists versions in KeyListResult pages and reads each as a KeyBundle', async () => {
      const page = await call('GET', `${kv('/keys/CreateSoftKeyTest/versions')}&maxresults=1`);
      expectValid(validatorFor(KV, 'KeyListResult'), page.body);
      const body = page.body as { value: { kid: string }[]; nextLink: string };
      expect(body.nextLink).toMatch(
        /^https:\/\/myvault\.vault\.azure\.net\/keys\/CreateSoftKeyTest\/versions\?/,
      );
      const next = await call('GET', body.nextLink);
      expect((next.body as { value: unknown[] }).value).toHaveLength(1);
      const version = body.value[0]?.kid.split('/').pop() ?? '';
      expectValid(
        validatorFor(KV, 'KeyBundle'),
        (await call('GET', kv(`/keys/CreateSoftKeyTest/${version}`))).body,
      );
    });

    it('wraps per the wrapKey example request and answers a KeyOperationResult', async () => {
      const ex = example('keyvault-keys/2025-07-01/examples/wrapKey-example.json');
      const params = ex.parameters['parameters'] as { alg: string; value: string };
      const latest =
        ((await call('GET', kv('/keys/CreateSoftKeyTest/'))).body as { key: { kid: string } }).key.kid
          .split('/')
          .pop() ?? '';
      const wrapped = await call('POST', kv(`/keys/CreateSoftKeyTest/${latest}/wrapkey`), params);
      expect(wrapped.status).toBe(200);
      expectValid(validatorFor(KV, 'KeyOperationResult'), wrapped.body);
    });

    it('answers a missing key with a KeyVaultError body', async () => {
      const res = await call('GET', kv('/keys/does-not-exist/'));
      expect(res.status).toBe(404);
      expectValid(validatorFor(KV, 'KeyVaultError'), res.body);
      expect(res.body).toMatchObject({ error: { code: 'KeyNotFound' } });
    });
  });

  describe('Resource Graph', () => {
    const url =
      'https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01';
    const response = validatorFor(ARG, 'QueryResponse');

    it('replays the basic query example and answers a valid QueryResponse', async () => {
      const ex = example('resourcegraph/2021-03-01/examples/ResourcesBasicQuery.json');
      const query = {
        ...(ex.parameters['query'] as Record<string, unknown>),
        subscriptions: ['ffffffff-ffff-ffff-ffff-ffffffffffff'],
      };
      const res = await call('POST', url, query);
      expect(res.status).toBe(200);
      expectValid(response, res.body);
      expect(res.body).toMatchObject({ resultTruncated: 'false' });
    });

    it('replays the first-page/next-page examples: $top gives a $skipToken that fetches the rest', async () => {
      const first = example('resourcegraph/2022-10-01/examples/ResourcesFirstPageQuery.json');
      const q = {
        ...(first.parameters['query'] as Record<string, unknown>),
        subscriptions: ['ffffffff-ffff-ffff-ffff-ffffffffffff'],
        query: "Resources | where name contains 'example' | project id, name, type, location",
        options: { $top: 3, $skip: 0 },
      };
      const p1 = await call('POST', url, q);
      expectValid(response, p1.body);
      const body1 = p1.body as {
        count: number;
        totalRecords: number;
        $skipToken?: string;
        data: { id: string }[];
      };
      expect(body1.count).toBe(3);
      expect(body1.$skipToken).toBeDefined();
      const p2 = await call('POST', url, { ...q, options: { $top: 100, $skipToken: body1.$skipToken } });
      const body2 = p2.body as typeof body1;
      expect(body1.data.length + body2.data.length).toBe(body1.totalRecords);
      expect(new Set([...body1.data, ...body2.data].map((d) => d.id)).size).toBe(body1.totalRecords);
    });
  });

  describe('Application Insights ingestion v2.1', () => {
    it('accepts the track example and answers a valid TrackResponse', async () => {
      const ex = readSpec('applicationinsights-track/2020-09-15_Preview/examples/track.json') as {
        parameters: { body: unknown[] };
      };
      // Local auth is disabled on the component (as infra deploys it): an Entra token for Monitor.
      const token = await new LocalTokenCredential(
        '0f0e0d0c-0b0a-4909-8807-060504030201',
        azure.tenantId,
      ).getToken('https://monitor.azure.com/.default');
      const res = await httpsJson(`${azure.url}/v2.1/track`, {
        method: 'POST',
        body: ex.parameters.body,
        ca: azure.caCertPem,
        headers: { authorization: `Bearer ${token.token}` },
      });
      expect(res.status).toBe(200);
      expectValid(validatorFor('applicationinsights-track/v2.1/swagger.json', 'TrackResponse'), res.body);
      expect(res.body).toEqual({
        itemsReceived: ex.parameters.body.length,
        itemsAccepted: ex.parameters.body.length,
        errors: [],
      });
      expect(azure.captures.telemetry).toHaveLength(ex.parameters.body.length);
    });
  });
});
