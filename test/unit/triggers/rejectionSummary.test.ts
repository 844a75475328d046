import { EventGridKeyVaultEvents } from '../../../shared/adapters/eventGridKeyVaultEvents';
import type { AuditRecord } from '../../../shared/domain/audit';
import { handleKeyVaultEvent } from '../../../shared/triggers/keyVaultEvents';
import { RejectionSummarizer, summaryRecord } from '../../../shared/triggers/rejectionSummary';
import { validKeyEvent } from '../../support/eventFuzz';
import { FakeInstances, FakeKeys, MemoryAudit, SUB, config } from './fakes';

const events = new EventGridKeyVaultEvents();
const opts = {
  vault: 'contoso-pg-kv',
  key: 'pg-cmk',
  version: '0123456789abcdef0123456789abcdef',
  subscriptionId: SUB,
};

/** A junk delivery: what issue 23's harness sent (5,000 events nobody can act on). */
function junk(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => {
    const e = { ...validKeyEvent(i % 2 === 0 ? 'EventGrid' : 'CloudEvents', opts), id: `junk-${i}` };
    if (i % 3 === 0) return { ...e, eventTime: 'not a date', time: 'not a date' };
    if (i % 3 === 1)
      return { ...e, eventType: 'Microsoft.Storage.BlobCreated', type: 'Microsoft.Storage.BlobCreated' };
    return { ...e, data: 'not an object' };
  });
}

describe('the rejections of one delivery become one audit record', () => {
  it('5,000 junk events invoked at once (as the Event Grid extension does): one EventRejected record with the count per reason and sample ids; every invocation acknowledged after it was accepted', async () => {
    const audit = new MemoryAudit();
    const rejections = new RejectionSummarizer(audit);
    const instances = new FakeInstances();
    const outcomes = await Promise.all(
      junk(5_000).map((raw, i) =>
        handleKeyVaultEvent(raw, instances, {
          config,
          audit,
          events,
          keys: new FakeKeys(),
          invocationId: `inv-${i}`,
          rejections,
        }),
      ),
    );
    expect(outcomes.every((o) => o.kind === 'rejected')).toBe(true);
    expect(instances.started).toEqual([]);
    expect(audit.records).toHaveLength(1);
    const [record] = audit.records;
    expect(record).toMatchObject({
      step: 'EventRejected',
      outcome: 'failure',
      reasonCode: 'Several',
      trigger: 'event:batch',
    });
    expect(JSON.parse(record?.details?.['byReason'] ?? '{}')).toEqual({
      Malformed: 3333,
      NotAKeyEvent: 1667,
    });
    expect(record?.details?.['rejected']).toBe('5000');
    expect(record?.details?.['sampleEventIds']?.split(',')).toHaveLength(5);
    expect(rejections.pending).toBe(0);
  });

  it('a valid event beside junk still starts its rotation; the junk is one record', async () => {
    const audit = new MemoryAudit();
    const rejections = new RejectionSummarizer(audit);
    const instances = new FakeInstances();
    const deliveries = [...junk(10), { ...validKeyEvent('EventGrid', opts), id: 'good' }];
    const outcomes = await Promise.all(
      deliveries.map((raw) =>
        handleKeyVaultEvent(raw, instances, {
          config,
          audit,
          events,
          keys: new FakeKeys(),
          invocationId: 'i',
          rejections,
        }),
      ),
    );
    expect(outcomes.filter((o) => o.kind === 'started')).toHaveLength(1);
    expect(audit.records.map((r) => r.step).sort()).toEqual(['EventReceived', 'EventRejected']);
  });

  it('fails every invocation of the batch when the audit trail refuses its record (Event Grid redelivers)', async () => {
    const rejections = new RejectionSummarizer({ record: () => Promise.reject(new Error('ingestion 503')) });
    const results = await Promise.allSettled(
      junk(3).map((raw) =>
        handleKeyVaultEvent(raw, new FakeInstances(), {
          config,
          audit: new MemoryAudit(),
          events,
          keys: new FakeKeys(),
          invocationId: 'i',
          rejections,
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });

  it('does not wait for a read that never ends: the batch goes out after MAX_WAIT_MS', async () => {
    const audit = new MemoryAudit();
    const rejections = new RejectionSummarizer(audit);
    let release: () => void = () => undefined;
    const stuck = rejections.read(() => new Promise<void>((r) => (release = r)));
    const record: AuditRecord = {
      step: 'EventRejected',
      correlationId: 'inv',
      trigger: 'event:e-1',
      outcome: 'failure',
      reasonCode: 'Malformed',
    };
    await rejections.add({ eventId: 'e-1', record });
    expect(audit.records).toEqual([record]);
    release();
    await stuck;
  });

  it('keeps a lone rejection as it always was (its event id in the trigger)', () => {
    const record: AuditRecord = {
      step: 'EventRejected',
      correlationId: 'inv',
      trigger: 'event:e-1',
      outcome: 'failure',
      reasonCode: 'Malformed',
    };
    expect(summaryRecord([{ eventId: 'e-1', record }])).toBe(record);
    expect(summaryRecord([])).toBeUndefined();
  });
});
