import { EventGridKeyVaultEvents } from '../../../shared/adapters/eventGridKeyVaultEvents';
import { handleKeyVaultEvent } from '../../../shared/triggers/keyVaultEvents';
import { FakeInstances, MemoryAudit, SUB, config, FakeKeys } from './fakes';

// Issue 10, "Event Grid event with NBF "99999999999999" or EXP 1e300, or 5,000-deep JSON": each threw
// (RangeError: Invalid time value / stack overflow), so the host answered 500 forever and nothing was
// audited. Each is now a typed rejection: audited, acknowledged (the handler returns), nothing started.

const V3 = '0123456789abcdef0123456789abcdef';

function event(data: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    id: 'poison-1',
    topic: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/contoso-pg-kv`,
    subject: 'pg-cmk',
    eventType: 'Microsoft.KeyVault.KeyNearExpiry',
    eventTime: '2026-11-24T10:00:00Z',
    dataVersion: '1',
    metadataVersion: '1',
    data: {
      Id: `https://contoso-pg-kv.vault.azure.net/keys/pg-cmk/${V3}`,
      VaultName: 'contoso-pg-kv',
      ObjectType: 'Key',
      ObjectName: 'pg-cmk',
      Version: V3,
      ...data,
    },
    ...extra,
  };
}

function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('a poison event at the intake', () => {
  it.each([
    ['NBF "99999999999999"', event({ NBF: '99999999999999' }), 'Malformed'],
    ['EXP 1e300', event({ EXP: 1e300 }), 'Malformed'],
    ['5,000-deep JSON in data', event({ Nested: deep(5000) }), 'TooLarge'],
    ['5,000-deep JSON beside the envelope', event({}, { extension: deep(5000) }), 'TooLarge'],
    ['eventTime that is not a time', event({}, { eventTime: 'not a time' }), 'Malformed'],
    [
      'a CloudEvent of specversion 0.3',
      { specversion: '0.3', id: 'poison-1', source: '/x', type: 'x' },
      'Malformed',
    ],
  ])('%s: rejected, audited with the event id, acknowledged, nothing started', async (_what, raw, code) => {
    const audit = new MemoryAudit();
    const instances = new FakeInstances();
    const outcome = await handleKeyVaultEvent(raw, instances, {
      config,
      audit,
      events: new EventGridKeyVaultEvents(),
      keys: new FakeKeys(),
      invocationId: 'inv-1',
    });
    expect(outcome).toMatchObject({ kind: 'rejected', code });
    expect(instances.started).toEqual([]);
    expect(instances.raised).toEqual([]);
    expect(audit.records).toEqual([
      expect.objectContaining({
        step: 'EventRejected',
        outcome: 'failure',
        reasonCode: code,
        trigger: 'event:poison-1',
      }),
    ]);
  });
});
