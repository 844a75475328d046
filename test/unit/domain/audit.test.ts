import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AUDIT_PREFIX,
  AUDIT_STEPS,
  auditId,
  toCustomEvent,
  type AuditRecord,
} from '../../../shared/domain/audit';

const base: AuditRecord = {
  step: 'ServerVerified',
  correlationId: 'rotation-contoso-pg-kv-pg-cmk',
  trigger: 'event:0f1e',
  outcome: 'success',
  vault: 'contoso-pg-kv',
  key: 'pg-cmk',
  fromVersion: '5f1e2d3c4b5a69788796a5b4c3d2e1f0',
  toVersion: 'a0b1c2d3e4f5061728394a5b6c7d8e9f',
  serverId:
    '/subscriptions/6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a',
  slot: 'primary',
  durationMs: 1234,
};

describe('audit records', () => {
  it('get the same auditId when the same step is recorded twice (retried activity)', () => {
    expect(auditId({ ...base })).toBe(auditId({ ...base, durationMs: 99, reason: 'other words' }));
    expect(auditId(base)).toMatch(/^[0-9a-f]{32}$/);
  });

  it.each<[string, Partial<AuditRecord>]>([
    ['another server', { serverId: base.serverId?.replace('pg-a', 'pg-b') }],
    ['another slot', { slot: 'geoBackup' }],
    ['another step', { step: 'ServerFailed' }],
    ['another target version', { toVersion: 'ffffffffffffffffffffffffffffffff' }],
    ['another rotation', { correlationId: 'other' }],
  ])('get a different auditId for %s', (_name, change) => {
    expect(auditId({ ...base, ...change })).not.toBe(auditId(base));
  });

  it('keep a refused write and a failed step of the same activity apart, and the same retry twice together', () => {
    const retried = (what: string, attempt = '1'): AuditRecord => ({
      ...base,
      step: 'ServerUpdateRetried',
      outcome: 'info',
      reasonCode: 'InternalServerError',
      details: { step: 'updateServer', what, attempt, waitSeconds: '5' },
    });
    expect(auditId(retried('writeRefused'))).not.toBe(auditId(retried('stepFailed')));
    expect(auditId(retried('stepFailed', '2'))).not.toBe(auditId(retried('stepFailed')));
    expect(auditId(retried('writeRefused'))).toBe(
      auditId({ ...retried('writeRefused'), reason: 'reworded' }),
    );
  });

  it('become a custom event under the common prefix with string properties and a duration measurement', () => {
    const e = toCustomEvent({ ...base, details: { lastKnownGood: '{"primaryKeyURI":"..."}' } });
    expect(e.name).toBe(`${AUDIT_PREFIX}ServerVerified`);
    expect(e.properties).toMatchObject({
      auditId: auditId(base),
      vault: 'contoso-pg-kv',
      slot: 'primary',
      outcome: 'success',
      'detail.lastKnownGood': '{"primaryKeyURI":"..."}',
    });
    expect(Object.values(e.properties).every((v) => typeof v === 'string')).toBe(true);
    expect(e.properties).not.toHaveProperty('reasonCode');
    expect(e.measurements).toEqual({ durationMs: 1234 });
  });
});

describe('the README', () => {
  it('lists every audit step name under "Reading the audit trail"', () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const section = readme.split('## Reading the audit trail')[1]?.split('\n## ')[0] ?? '';
    const missing = AUDIT_STEPS.filter((step) => !section.includes(`\`${step}\``));
    expect(missing).toEqual([]);
  });
});
