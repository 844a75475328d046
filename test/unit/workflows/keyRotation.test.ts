import type { AuditRecord } from '../../../shared/domain/audit';
import type { Incident } from '../../../shared/domain/incident';
import type { KeyInfo, KeyVersionInfo } from '../../../shared/domain/model';
import type {
  PlannedServer,
  RotationInput,
  RotationOutput,
  ServerOutcome,
  ServerRolloverInput,
} from '../../../shared/domain/rotation';
import { keyRotationOrchestrator } from '../../../shared/workflows/keyRotation';
import { runOrchestration, type Responder, type Run, type ScheduledCall } from '../../support/orchestration';
import {
  NOW,
  SETTINGS,
  V1,
  V2,
  V3,
  keyWith,
  outcome,
  planned,
  rotationInput,
  serverId,
  version,
} from './fixtures';

interface Scenario {
  key: KeyInfo;
  latest: KeyVersionInfo;
  /** What the final re-read of the key finds (defaults to `latest`). */
  rereadLatest?: KeyVersionInfo;
  servers: PlannedServer[];
  outcomes?: Record<string, ServerOutcome['outcome']>;
  rotateTo?: KeyVersionInfo;
}

function responder(s: Scenario): Responder {
  let reads = 0;
  return (call) => {
    switch (call.name) {
      case 'readKey':
        reads++;
        return {
          result: { ok: true, key: s.key, latest: reads === 1 ? s.latest : (s.rereadLatest ?? s.latest) },
        };
      case 'planRollout':
        return { result: { ok: true, servers: s.servers, discovered: s.servers.length } };
      case 'serverRollover': {
        const name = (call.input as ServerRolloverInput).server.serverName;
        return { result: outcome(name, s.outcomes?.[name] ?? 'updated') };
      }
      case 'rotateKey':
        return s.rotateTo === undefined
          ? { result: { ok: false, code: 'Forbidden', message: 'no' } }
          : { result: { ok: true, version: s.rotateTo } };
      case 'pageOperator':
        return { result: { delivered: true, channels: [{ channel: 'pagerduty', ok: true }] } };
      default:
        return { result: null };
    }
  };
}

const run = (input: RotationInput, s: Scenario): Promise<Run> =>
  runOrchestration(keyRotationOrchestrator, input, responder(s), {
    instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    start: NOW,
  });

const subs = (r: Run): string[] =>
  r.calls
    .filter((c) => c.kind === 'subOrchestration')
    .map((c) => (c.input as ServerRolloverInput).server.serverName);
const pages = (r: Run): Incident[] =>
  r.calls.filter((c) => c.name === 'pageOperator').map((c) => (c.input as { incident: Incident }).incident);
/** Audit records in the order sent: recorded directly, or with the page they caused. */
const audits = (r: Run): AuditRecord[] =>
  r.calls.flatMap((c) =>
    c.name === 'recordAudit'
      ? (c.input as AuditRecord[])
      : c.name === 'pageOperator'
        ? [(c.input as { audit: AuditRecord }).audit]
        : [],
  );
const names = (calls: ScheduledCall[]): string[] => calls.map((c) => c.name);

const twoVersions = keyWith(version(V1, 300, 65), version(V2, 1, 365));

describe('keyRotation orchestrator, driven by durable histories', () => {
  it('reads the key, plans, rolls out the canary ring alone first, then the rest in waves of maxParallelUpdates', async () => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [
        planned('main-a'),
        planned('canary-1', { ring: 'canary' }),
        planned('main-b'),
        planned('main-c'),
        planned('optout', { action: 'skip' }),
      ],
    });
    expect(r.failed).toBeUndefined();
    expect(names(r.calls).slice(0, 2)).toEqual(['readKey', 'planRollout']);
    expect(subs(r)).toEqual(['canary-1', 'main-a', 'main-b', 'main-c']);
    // Each wave is one Task.all: the history shows the canary's completion before the main ring starts.
    const created = r.history.filter((e) => e.EventType === 7).map((e) => e.EventId);
    const completedBefore = (id: number) =>
      r.history.findIndex((e) => e.EventType === 8 && e.TaskScheduledId === id) <
      r.history.findIndex((e) => e.EventType === 7 && e.EventId === created[1]);
    expect(completedBefore(created[0] ?? -1)).toBe(true);
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completed');
    expect(out.targetVersion).toBe(V2);
    expect(out.servers.map((s) => [s.serverName, s.outcome])).toEqual([
      ['optout', 'skipped'],
      ['canary-1', 'updated'],
      ['main-a', 'updated'],
      ['main-b', 'updated'],
      ['main-c', 'updated'],
    ]);
    expect(audits(r).map((a) => a.step)).toEqual(['PlanComputed', 'ServerSkipped', 'RotationCompleted']);
    expect(pages(r)).toEqual([]);
    // The last thing before completing: re-read the key.
    expect(names(r.calls).slice(-2)).toEqual(['readKey', 'recordAudit']);
  });

  it('holds the main ring back and pages once when a canary server fails', async () => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('canary-1', { ring: 'canary' }), planned('main-a'), planned('main-b')],
      outcomes: { 'canary-1': 'failed' },
    });
    expect(subs(r)).toEqual(['canary-1']);
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completedWithFailures');
    expect(out.servers.filter((s) => s.reasonCode === 'CanaryFailed').map((s) => s.serverName)).toEqual([
      'main-a',
      'main-b',
    ]);
    expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed']);
    expect(out.openIncidents.map((i) => i.dedupKey).sort()).toEqual([
      'cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed',
      'server-canary-1',
    ]);
  });

  it('continues as new (same instance) when a newer version appeared during the rollout', async () => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      rereadLatest: version(V3, 0, 365),
      servers: [planned('a')],
    });
    expect(subs(r)).toEqual(['a']);
    expect(r.continuedAsNewWith).toMatchObject({ generation: 1, hintVersion: V3, trigger: 'event:e1' });
    expect(audits(r).at(-1)).toMatchObject({ step: 'RotationCompleted', reasonCode: 'Superseded' });
  });

  it('on KeyNearExpiry with a newer valid version, rolls out to the newer version without an expiry page', async () => {
    const r = await run(rotationInput({ reason: 'KeyNearExpiry', hintVersion: V1 }), {
      key: keyWith(version(V1, 340, 25), version(V2, 5, 365)),
      latest: version(V2, 5, 365),
      servers: [planned('a', { from: V1 })],
    });
    expect(subs(r)).toEqual(['a']);
    expect((r.output as RotationOutput).targetVersion).toBe(V2);
    expect(pages(r)).toEqual([]);
  });

  it.each([
    [25, 'warning'],
    [5, 'critical'],
    [-1, 'critical'],
  ] as const)(
    'on a newest version expiring in %i days with no newer one and auto-rotate off, pages %s with the servers at risk and PATCHes nothing',
    async (days, severity) => {
      const latest = version(V2, 300, days);
      const r = await run(rotationInput({ reason: days < 0 ? 'KeyExpired' : 'KeyNearExpiry' }), {
        key: keyWith(version(V1, 400, -30), latest),
        latest,
        servers: [planned('a', { action: 'verify', from: V2 }), planned('b', { action: 'verify', from: V2 })],
      });
      expect(subs(r)).toEqual([]);
      const [page, ...others] = pages(r);
      expect(others).toEqual([]);
      expect(page).toMatchObject({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V2}:expiry:${severity}`,
        severity,
        deadline: latest.expiresOn,
      });
      expect(page?.summary).toContain('2 server(s)');
      expect(page?.summary).toContain(days < 0 ? 'EXPIRED' : `expires in ${days} day(s)`);
      // Preflight fails on the same expiry: recorded, not paged a second time.
      expect(audits(r).map((a) => a.step)).toContain('PreflightFailed');
      expect((r.output as RotationOutput).status).toBe('stopped');
    },
  );

  it('on near expiry with auto-rotate on, rotates the key in Key Vault and continues as new with the new version', async () => {
    const latest = version(V2, 300, 20);
    const r = await run(
      rotationInput({ reason: 'KeyNearExpiry', settings: { ...SETTINGS, autoRotateOnNearExpiry: true } }),
      {
        key: keyWith(latest),
        latest,
        rotateTo: version(V3, 0, 365),
        servers: [planned('a', { action: 'verify', from: V2 })],
      },
    );
    expect(names(r.calls)).toContain('rotateKey');
    expect(subs(r)).toEqual([]);
    expect(r.continuedAsNewWith).toMatchObject({ autoRotatedFrom: V2, hintVersion: V3, generation: 1 });
    expect(audits(r).find((a) => a.step === 'KeyRotated')).toMatchObject({ fromVersion: V2, toVersion: V3 });
  });

  it('does not auto-rotate twice in a row from the same version (a short rotation policy cannot loop)', async () => {
    const latest = version(V2, 300, 20);
    const r = await run(
      rotationInput({ settings: { ...SETTINGS, autoRotateOnNearExpiry: true }, autoRotatedFrom: V2 }),
      { key: keyWith(latest), latest, rotateTo: version(V3, 0, 365), servers: [] },
    );
    expect(names(r.calls)).not.toContain('rotateKey');
    expect(pages(r).map((p) => p.severity)).toEqual(['warning']);
  });

  it('pages a failed preflight and PATCHes nothing', async () => {
    const latest = { ...version(V2, 1, 365), enabled: false, keyType: 'EC' };
    const r = await run(rotationInput(), { key: twoVersions, latest, servers: [planned('a')] });
    expect(subs(r)).toEqual([]);
    expect(pages(r)).toEqual([
      expect.objectContaining({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V2}:preflight`,
        summary: expect.stringContaining('key version is disabled'),
      }),
    ]);
    expect(audits(r).find((a) => a.step === 'PreflightFailed')?.reasonCode).toBe('keyType,enabled');
  });

  it('pages and stops when the key cannot be read', async () => {
    const r = await runOrchestration(keyRotationOrchestrator, rotationInput(), (c) =>
      c.name === 'readKey'
        ? { result: { ok: false, code: 'Forbidden', message: 'denied' } }
        : { result: null },
    );
    expect(names(r.calls)).toEqual(['readKey', 'pageOperator', 'recordAudit']);
    expect((r.output as RotationOutput).status).toBe('stopped');
  });

  it('resolves the incidents of an earlier run once this run proves them fixed, and keeps the others open', async () => {
    const r = await run(
      rotationInput({
        openIncidents: [
          { dedupKey: 'server-a', kind: 'server', serverId: serverId('a'), version: V2 },
          { dedupKey: 'server-b', kind: 'server', serverId: serverId('b'), version: V2 },
          { dedupKey: 'preflight-old', kind: 'preflight', version: V2 },
        ],
      }),
      {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b')],
        outcomes: { a: 'updated', b: 'failed' },
      },
    );
    const resolve = r.calls.find((c) => c.name === 'resolvePages');
    expect((resolve?.input as { dedupKeys: string[] }).dedupKeys).toEqual(['server-a', 'preflight-old']);
    const out = r.output as RotationOutput;
    expect(out.resolvedIncidents).toEqual(['server-a', 'preflight-old']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['server-b']);
  });

  it('pages the servers left on an older version that expires soon (opted out or failed)', async () => {
    const r = await run(rotationInput(), {
      key: keyWith(version(V1, 360, 6), version(V2, 1, 365)),
      latest: version(V2, 1, 365),
      servers: [planned('legacy', { action: 'skip' }), planned('a')],
    });
    expect(pages(r)).toEqual([
      expect.objectContaining({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V1}:expiry:critical`,
        severity: 'critical',
        summary: expect.stringContaining('legacy'),
      }),
    ]);
  });

  it('is deterministic: replaying the same history gives the same actions', async () => {
    const scenario: Scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a', { ring: 'canary' }), planned('b'), planned('c')],
    };
    const first = await run(rotationInput(), scenario);
    const second = await run(rotationInput(), scenario);
    expect(second.calls).toEqual(first.calls);
    expect(first.calls.filter((c) => c.kind === 'subOrchestration').map((c) => c.instanceId)).toEqual(
      second.calls.filter((c) => c.kind === 'subOrchestration').map((c) => c.instanceId),
    );
  });
});
