import { EventGridKeyVaultEvents } from '../../../shared/adapters/eventGridKeyVaultEvents';
import { replayDeadLetters } from '../../../shared/triggers/keyVaultEvents';
import { FakeInstances, MemoryAudit, SUB, config, FakeKeys } from './fakes';

const V3 = '0123456789abcdef0123456789abcdef';
const events = new EventGridKeyVaultEvents();

const keyEvent = (id: string, vault = 'contoso-pg-kv') => ({
  id,
  topic: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${vault}`,
  subject: 'pg-cmk',
  eventType: 'Microsoft.KeyVault.KeyNewVersionCreated',
  eventTime: '2026-11-24T10:00:00Z',
  dataVersion: '1',
  metadataVersion: '1',
  data: {
    Id: `https://${vault}.vault.azure.net/keys/pg-cmk/${V3}`,
    VaultName: vault,
    ObjectType: 'Key',
    ObjectName: 'pg-cmk',
    Version: V3,
    NBF: null,
    EXP: null,
  },
});

/** A dead-letter blob as Event Grid writes it: the envelopes with the dead-letter fields beside them. */
const blob = (evs: object[]) =>
  JSON.stringify(
    evs.map((e) => ({
      ...e,
      deadLetterReason: 'MaxDeliveryAttemptsExceeded',
      deliveryAttempts: 30,
      lastDeliveryOutcome: 'GenericError',
      lastHttpStatusCode: 503,
      publishTime: '2026-11-24T10:00:00.0000000Z',
      lastDeliveryAttemptTime: '2026-11-25T10:00:00.0000000Z',
    })),
  );

describe('replaying a dead-letter blob through the intake', () => {
  it.each([
    ['no rotation ran: starts it', undefined, 'started'],
    ['the rotation is running: signals it', { runtimeStatus: 'Running' as const, output: null }, 'signalled'],
    [
      'the last run handled this version: a duplicate, dropped',
      { runtimeStatus: 'Completed' as const, output: { status: 'completed', targetVersion: V3 } },
      'duplicate',
    ],
  ])('%s', async (_name, current, kind) => {
    const instances = new FakeInstances(current);
    const audit = new MemoryAudit();
    const out = await replayDeadLetters(
      blob([keyEvent('e-1')]),
      'topic/SUB/2026/11/25/10/x.json',
      instances,
      {
        config,
        audit,
        events,
        keys: new FakeKeys(),
        invocationId: 'inv-1',
      },
    );
    expect(out).toEqual([{ eventId: 'e-1', outcome: expect.objectContaining({ kind }) }]);
    expect(audit.records[0]?.details).toMatchObject({ replay: 'topic/SUB/2026/11/25/10/x.json' });
  });

  it('rejects a poison event and an out-of-scope vault beside a good one, each audited, none thrown', async () => {
    const instances = new FakeInstances();
    const audit = new MemoryAudit();
    const poison = { ...keyEvent('e-2'), eventTime: 'yesterday' };
    const out = await replayDeadLetters(
      blob([keyEvent('e-1'), poison, keyEvent('e-3', 'other-vault')]),
      'b.json',
      instances,
      { config, audit, events, keys: new FakeKeys(), invocationId: 'inv-1' },
    );
    expect(out.map((r) => [r.eventId, r.outcome.kind])).toEqual([
      ['e-1', 'started'],
      ['e-2', 'rejected'],
      ['e-3', 'rejected'],
    ]);
    expect(instances.started).toHaveLength(1);
    expect(audit.records.map((r) => r.step)).toEqual(['EventReceived', 'EventRejected', 'EventRejected']);
  });

  it('a blob that is not JSON is one rejection, not a throw', async () => {
    const out = await replayDeadLetters('{not json', 'b.json', new FakeInstances(), {
      config,
      audit: new MemoryAudit(),
      events,
      keys: new FakeKeys(),
      invocationId: 'inv-1',
    });
    expect(out).toEqual([{ eventId: undefined, outcome: expect.objectContaining({ kind: 'rejected' }) }]);
  });
});
