import type { AuditRecord } from '../../../shared/domain/audit';
import { AuditDeliveryError } from '../../../shared/ports/errors';
import type { AuditTrail } from '../../../shared/ports/auditTrail';
import { DuplicateRecords } from '../../../shared/triggers/duplicateRecords';

/** An audit trail whose writes stay under way until the test settles them. */
class GatedAudit implements AuditTrail {
  readonly writes: { records: readonly AuditRecord[]; settle: (error?: Error) => void }[] = [];
  record(records: readonly AuditRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writes.push({ records, settle: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  }
}

const duplicate = (eventId: string): AuditRecord => ({
  step: 'EventReceived',
  correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
  trigger: `event:${eventId}`,
  outcome: 'skipped',
  vault: 'contoso-pg-kv',
  key: 'pg-cmk',
  toVersion: '0123456789abcdef0123456789abcdef',
  reasonCode: 'KeyNewVersionCreated',
  reason: 'this event (same id) already started the rotation: duplicate ignored',
  details: { eventType: 'KeyNewVersionCreated' },
});

/** Settles with what the promise did, without leaving a rejection unhandled. */
const outcomeOf = (p: Promise<void>): Promise<string> =>
  p.then(
    () => 'accepted',
    (e: unknown) => (e instanceof Error ? e.message : 'refused'),
  );

describe('identical duplicate records in flight share one write', () => {
  it('a record identical to one being written joins that write and is acknowledged when it is accepted', async () => {
    const audit = new GatedAudit();
    const joiner = new DuplicateRecords(audit);
    const results = [1, 2, 3].map(() => outcomeOf(joiner.record(duplicate('e-1'))));
    expect(audit.writes).toHaveLength(1);
    audit.writes[0]?.settle();
    expect(await Promise.all(results)).toEqual(['accepted', 'accepted', 'accepted']);
  });

  it('another event’s record (another fact) is written on its own', async () => {
    const audit = new GatedAudit();
    const joiner = new DuplicateRecords(audit);
    const results = [joiner.record(duplicate('e-1')), joiner.record(duplicate('e-2'))];
    expect(audit.writes.map((w) => w.records[0]?.trigger)).toEqual(['event:e-1', 'event:e-2']);
    for (const w of audit.writes) w.settle();
    await Promise.all(results);
  });

  it('a refused write fails every delivery that joined it (Event Grid redelivers them); the next one writes again', async () => {
    const audit = new GatedAudit();
    const joiner = new DuplicateRecords(audit);
    const results = [1, 2].map(() => outcomeOf(joiner.record(duplicate('e-1'))));
    audit.writes[0]?.settle(new AuditDeliveryError('accepted 0 of 1', '503', 503, true));
    expect(await Promise.all(results)).toEqual(['accepted 0 of 1', 'accepted 0 of 1']);
    const again = outcomeOf(joiner.record(duplicate('e-1')));
    expect(audit.writes).toHaveLength(2);
    audit.writes[1]?.settle();
    expect(await again).toBe('accepted');
  });

  it('nothing is remembered once a write was accepted: a later redelivery sends its record again', async () => {
    const audit = new GatedAudit();
    const joiner = new DuplicateRecords(audit);
    const first = joiner.record(duplicate('e-1'));
    audit.writes[0]?.settle();
    await first;
    const second = joiner.record(duplicate('e-1'));
    expect(audit.writes).toHaveLength(2);
    audit.writes[1]?.settle();
    await second;
  });
});
