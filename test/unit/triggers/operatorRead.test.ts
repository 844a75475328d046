import { getRuns, getVaults } from '../../../shared/triggers/operatorRead';
import { ForbiddenError } from '../../../shared/ports/errors';
import { loadConfig } from '../../../shared/config';
import { FakeInstances, SUB } from './fakes';

/** The CLI's read-only endpoints: GET /api/runs and GET /api/vaults. */
describe('GET /api/vaults: the allowed vaults and their keys', () => {
  const config = loadConfig({
    CMK_SUBSCRIPTIONS: SUB,
    CMK_ALLOWED_VAULTS: 'contoso-pg-kv,contoso-pg-geo-kv',
    APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
  });

  it('lists each vault’s keys; a vault Key Vault will not list says why and leaves the others', async () => {
    const res = await getVaults({
      config,
      keys: {
        listKeys: (url) =>
          url.includes('geo')
            ? Promise.reject(new ForbiddenError('no list permission', 'Forbidden', 403))
            : Promise.resolve(['pg-cmk', 'other-key']),
      },
    });
    expect(res.status).toBe(200);
    expect(res.jsonBody).toEqual({
      vaults: [
        {
          vault: 'contoso-pg-kv',
          vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
          keys: ['other-key', 'pg-cmk'],
        },
        {
          vault: 'contoso-pg-geo-kv',
          vaultUrl: 'https://contoso-pg-geo-kv.vault.azure.net',
          error: expect.stringContaining('Forbidden') as unknown,
        },
      ],
    });
  });
});

describe('GET /api/runs: every key’s runs', () => {
  const run = {
    kind: 'event',
    trigger: 'event:e1',
    startedAt: '2026-11-24T10:00:00.000Z',
    endedAt: '2026-11-24T10:05:00.000Z',
    status: 'completed',
    targetVersion: 'v2',
    counts: { done: 3, failed: 0, skipped: 1 },
  };

  it('an ended key: the runs its output carries, newest first', async () => {
    const instances = new FakeInstances({
      runtimeStatus: 'Completed',
      output: { status: 'completed', history: [run] },
    });
    const res = await getRuns(instances);
    expect(res.jsonBody).toEqual({
      keys: [
        {
          vault: 'contoso-pg-kv',
          key: 'pg-cmk',
          instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
          running: undefined,
          runs: [{ ...run, reasonCode: undefined }],
        },
      ],
    });
  });

  it('a running key: the run in progress with its start, and no ended run invented', async () => {
    const instances = new FakeInstances({
      runtimeStatus: 'Running',
      output: null,
      createdTime: '2026-11-24T11:00:00.000Z',
    });
    const res = (await getRuns(instances)).jsonBody as { keys: { running: unknown; runs: unknown[] }[] };
    expect(res.keys[0]?.running).toMatchObject({
      runtimeStatus: 'Running',
      startedAt: '2026-11-24T11:00:00.000Z',
    });
    expect(res.keys[0]?.runs).toEqual([]);
  });

  it('a run that ended without a history (failed, older format) is still listed', async () => {
    const instances = new FakeInstances({
      runtimeStatus: 'Failed',
      output: 'boom',
      createdTime: '2026-11-24T11:00:00.000Z',
      lastUpdatedTime: '2026-11-24T11:01:00.000Z',
    });
    const res = (await getRuns(instances)).jsonBody as { keys: { runs: { status: string }[] }[] };
    expect(res.keys[0]?.runs).toEqual([
      expect.objectContaining({ status: 'Failed', startedAt: '2026-11-24T11:00:00.000Z' }),
    ]);
  });
});
