import type { AuditRecord } from '../../../../shared/domain/audit';
import type { Incident } from '../../../../shared/domain/incident';
import type { KeyInfo, KeyVersionInfo } from '../../../../shared/domain/model';
import type {
  PlannedServer,
  ResolvePagesInput,
  UnplannableServer,
} from '../../../../shared/rotation/activityIo';
import type {
  RolloutBatchInput,
  RotationInput,
  RotationOutput,
  RotationProgress,
  ServerOutcome,
  ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import { packIds } from '../../../../shared/rotation/packing';
import { RETRY_POLICIES } from '../../../../shared/rotation/policy';
import { serverNameOf } from '../../../../shared/domain/resourceId';
import { RUN_HISTORY_LENGTH, type RunRecord } from '../../../../shared/rotation/runs';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { rolloutBatchOrchestrator } from '../../../../shared/rotation/orchestrators/rolloutBatch';
import {
  runOrchestration,
  stepFailed,
  stepOk,
  type Responder,
  type Run,
  type ScheduledCall,
  type Signal,
} from '../../../support/orchestration';
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
  outcomes?: Record<string, ServerOutcome['outcome'] | 'crashed'>;
  /** A server's reason code other than its outcome's usual one. */
  reasonCodes?: Record<string, string>;
  rotateTo?: KeyVersionInfo;
  rotated?: boolean;
  unplannable?: UnplannableServer[];
}

/**
 * The scenario's answers. A `rolloutBatch` sub-orchestration runs for real (the batch orchestrator
 * through its own durable history), its servers answered from the scenario; what the batches
 * scheduled is collected in `nested`.
 */
function responder(s: Scenario, nested: ScheduledCall[] = [], inner?: Responder): Responder {
  let reads = 0;
  const answer: Responder = async (call, now) => {
    switch (call.name) {
      case 'rolloutBatch': {
        // `inner`: a test's own answers reach the servers of the batch too.
        const batch = await runOrchestration(rolloutBatchOrchestrator, call.input, inner ?? answer, {
          instanceId: call.instanceId ?? 'batch',
          start: new Date(now).toISOString(),
        });
        nested.push(...batch.calls);
        return batch.failed === undefined ? { result: batch.output } : { error: batch.failed };
      }
      case 'readKey':
        reads++;
        return stepOk({ key: s.key, latest: reads === 1 ? s.latest : (s.rereadLatest ?? s.latest) });
      case 'planRollout':
        // Front-coded ids, as the activity answers.
        return stepOk({
          servers: packIds(s.servers),
          discovered: s.servers.length,
          unplannable: s.unplannable ?? [],
        });
      case 'serverRollover': {
        const name = (call.input as ServerRolloverInput).server.serverName;
        const kind = s.outcomes?.[name] ?? 'updated';
        return kind === 'crashed'
          ? { error: `serverRollover of ${name} failed: replay fault` }
          : {
              result: {
                ...outcome(name, kind),
                ...(s.reasonCodes?.[name] !== undefined ? { reasonCode: s.reasonCodes[name] } : {}),
              },
            };
      }
      case 'rotateKey':
        return s.rotateTo === undefined
          ? stepFailed('Forbidden', false)
          : stepOk({ version: s.rotateTo, rotated: s.rotated ?? true });
      case 'pageOperator':
        return stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] });
      case 'resolvePages':
        return stepOk({
          resolved: (call.input as ResolvePagesInput).dedupKeys.map((k) => ({ dedupKey: k, accepted: true })),
        });
      default:
        return stepOk(null);
    }
  };
  return answer;
}

type NestedRun = Run & { readonly nested: ScheduledCall[] };
const run = async (
  input: RotationInput,
  s: Scenario,
  signals: Signal[] = [],
  respond?: Responder,
): Promise<NestedRun> => {
  const nested: ScheduledCall[] = [];
  const r = await runOrchestration(keyRotationOrchestrator, input, respond ?? responder(s, nested), {
    instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    start: NOW,
    signals,
  });
  return { ...r, nested };
};

/** The servers the parent handed to its batches. */
const batched = (r: Run): string[] =>
  r.calls
    .filter((c) => c.name === 'rolloutBatch')
    .flatMap((c) => (c.input as RolloutBatchInput).servers.map((s) => serverNameOf(s.serverId)));
/** The parent's calls, then what its batches scheduled. */
const everything = (r: Run): ScheduledCall[] => [...r.calls, ...((r as Partial<NestedRun>).nested ?? [])];
const subs = (r: Run): string[] =>
  everything(r)
    .filter((c) => c.name === 'serverRollover')
    .map((c) => (c.input as ServerRolloverInput).server.serverName);
const pages = (r: Run): Incident[] =>
  everything(r)
    .filter((c) => c.name === 'pageOperator')
    .map((c) => (c.input as { incident: Incident }).incident);
/** Audit records in the order sent (a page's own outcome, OperatorPaged/PageFailed, left out). */
const audits = (r: Run): AuditRecord[] =>
  everything(r)
    .flatMap((c) => (c.name === 'recordAudit' ? (c.input as AuditRecord[]) : []))
    .filter((a) => a.step !== 'OperatorPaged' && a.step !== 'PageFailed');
const names = (calls: ScheduledCall[]): string[] => calls.map((c) => c.name);

const twoVersions = keyWith(version(V1, 300, 65), version(V2, 1, 365));

describe('keyRotation orchestrator, driven by durable histories', () => {
  it('reads the key, plans, rolls out the canary ring alone first (its own batch), then the rest', async () => {
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
    // The canary batch completes in the history before the main ring's batch is created.
    const created = r.history.filter((e) => e.EventType === 7).map((e) => e.EventId);
    const completedBefore = (id: number) =>
      r.history.findIndex((e) => e.EventType === 8 && e.TaskScheduledId === id) <
      r.history.findIndex((e) => e.EventType === 7 && e.EventId === created[1]);
    expect(completedBefore(created[0] ?? -1)).toBe(true);
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completed');
    expect(out.targetVersion).toBe(V2);
    // Servers that went well are counted, the opted-out one by its reason; none needs a line of its own.
    expect(out.counts).toEqual({
      updated: 4,
      verified: 0,
      failed: 0,
      skipped: 1,
      skippedBy: { excluded: 1 },
    });
    expect(out.servers).toEqual([]);
    expect(out.outputVersion).toBe(2);
    expect(audits(r).map((a) => a.step)).toEqual(['PlanComputed', 'ServerSkipped', 'RotationCompleted']);
    expect(pages(r)).toEqual([]);
    // The last things before completing: re-read the key, look for signals waiting (a zero timer),
    // the completion record, and a last look for signals raised meanwhile (a zero timer again).
    expect(names(r.calls).slice(-4)).toEqual(['readKey', 'timer', 'recordAudit', 'timer']);
  });

  it("paces the main ring's first polls by the canary's operations and looks at the canary and the last batches every poll interval", async () => {
    const servers = [
      planned('canary-1', { ring: 'canary' }),
      ...Array.from({ length: 250 }, (_, i) => planned(`main-${String(i).padStart(3, '0')}`)),
    ];
    const scenario: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers };
    const base = responder(scenario);
    // ARM reports 80 s for the canary's operation.
    const canaryTook80s: Responder = async (call, now) => {
      const out = await base(call, now);
      const name = call.name === 'serverRollover' && (call.input as ServerRolloverInput).server.serverName;
      return name === 'canary-1' && 'result' in out
        ? { result: { ...(out.result as ServerOutcome), operationSeconds: 80 } }
        : out;
    };
    const nested: ScheduledCall[] = [];
    const r = await runOrchestration(
      keyRotationOrchestrator,
      rotationInput(),
      responder(scenario, nested, canaryTook80s),
      { instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk', start: NOW },
    );
    expect(r.failed).toBeUndefined();
    const batches = r.calls.filter((c) => c.name === 'rolloutBatch').map((c) => c.input as RolloutBatchInput);
    expect(batches.map((b) => [b.servers.length, b.operationSeconds])).toEqual([
      [1, undefined],
      [100, 80],
      [100, 80],
      [50, 80],
    ]);
    const firstPolls = nested
      .filter((c) => c.name === 'serverRollover')
      .map((c) => (c.input as ServerRolloverInput).firstPollSeconds);
    expect(firstPolls[0]).toBe(SETTINGS.pollIntervalSeconds);
    expect(new Set(firstPolls.slice(1))).toEqual(new Set([80]));
    // The parent's looks at its batches: the canary's and, once every batch started, the last ones'
    // every poll interval; while a batch waits to start, every five.
    const looks = r.history
      .filter((e) => e.EventType === 10)
      .map((e) => (Date.parse(String(e['FireAt'])) - Date.parse(e.Timestamp)) / 1000)
      .filter((s) => s > 0);
    expect(looks[0]).toBe(SETTINGS.pollIntervalSeconds);
    expect(looks[1]).toBe(5 * SETTINGS.pollIntervalSeconds);
    expect(looks[looks.length - 1]).toBe(SETTINGS.pollIntervalSeconds);
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
    // The held-back servers are counted by their reason; only the failed canary is listed.
    expect(out.counts).toEqual({
      updated: 0,
      verified: 0,
      failed: 1,
      skipped: 2,
      skippedBy: { CanaryFailed: 2 },
    });
    expect(out.servers.map((s) => [s.serverName, s.outcome])).toEqual([['canary-1', 'failed']]);
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
        ? stepFailed('Forbidden', false)
        : c.name === 'pageOperator'
          ? stepOk({ delivered: true, channels: [{ channel: 'pagerduty', ok: true }] })
          : stepOk(null),
    );
    // Recorded first, then paged, then the page's outcome; a look for waiting signals; the completion
    // record; a last look for signals raised meanwhile; the end.
    expect(names(r.calls)).toEqual([
      'readKey',
      'recordAudit',
      'pageOperator',
      'recordAudit',
      'timer',
      'recordAudit',
      'timer',
    ]);
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

  it('publishes its progress as custom status: phase, batch i of n, counts and the servers in flight', async () => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [
        planned('canary-1', { ring: 'canary' }),
        planned('a'),
        planned('b'),
        planned('c'),
        planned('optout', { action: 'skip' }),
      ],
      outcomes: { b: 'failed' },
    });
    const statuses = r.customStatuses as RotationProgress[];
    expect(statuses.map((p) => [p.phase, p.batch?.index, p.batch?.of, p.current.join(',')])).toEqual([
      ['reading', undefined, undefined, ''],
      ['planning', undefined, undefined, ''],
      ['canary', 1, 1, 'canary-1'],
      // One rolloutBatch for the subscription's three servers (batches of up to ROLLOUT_BATCH_SIZE).
      ['rollout', 1, 1, 'a,b,c'],
      ['finishing', undefined, undefined, ''],
      // Its last records sent, the last look at its signals (`closing`).
      ['finishing', undefined, undefined, ''],
    ]);
    expect(statuses.map((p) => p.closing)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      true,
    ]);
    expect(statuses.map((p) => p.counts)).toEqual([
      { total: 0, done: 0, failed: 0, skipped: 0, remaining: 0 },
      { total: 0, done: 0, failed: 0, skipped: 0, remaining: 0 },
      { total: 5, done: 0, failed: 0, skipped: 1, remaining: 4 },
      { total: 5, done: 1, failed: 0, skipped: 1, remaining: 3 },
      { total: 5, done: 3, failed: 1, skipped: 1, remaining: 0 },
      { total: 5, done: 3, failed: 1, skipped: 1, remaining: 0 },
    ]);
    expect(statuses.every((p) => p.trigger === 'event:e1')).toBe(true);
    expect(statuses[2]?.targetVersion).toBe(V2);
  });

  it("an operator's retry of one server rolls out only that server and resolves only its incident", async () => {
    const r = await run(
      rotationInput({
        trigger: 'operator:alice',
        reason: 'Operator',
        onlyServers: [serverId('b').toLowerCase()],
        openIncidents: [
          { dedupKey: 'server-a', kind: 'server', serverId: serverId('a'), version: V2 },
          { dedupKey: 'server-b', kind: 'server', serverId: serverId('b'), version: V2 },
          { dedupKey: 'preflight-old', kind: 'preflight', version: V2 },
        ],
      }),
      {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b'), planned('c')],
        outcomes: { a: 'updated', b: 'updated', c: 'updated' },
      },
    );
    expect(subs(r)).toEqual(['b']);
    const out = r.output as RotationOutput;
    expect(out.counts).toMatchObject({ updated: 1, failed: 0, skipped: 0 });
    expect(out.servers).toEqual([]);
    expect(out.resolvedIncidents).toEqual(['server-b']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['server-a', 'preflight-old']);
    expect((r.customStatuses as RotationProgress[]).at(-1)?.onlyServers).toEqual([
      serverId('b').toLowerCase(),
    ]);
  });

  it('a retry of one server that continues as new (a newer version) runs the next generation for every server', async () => {
    const r = await run(
      rotationInput({
        reason: 'Operator',
        trigger: 'operator:alice',
        onlyServers: [serverId('b').toLowerCase()],
      }),
      {
        key: keyWith(version(V1, 300, 65), version(V2, 1, 365), version(V3, 0, 365)),
        latest: version(V2, 1, 365),
        rereadLatest: version(V3, 0, 365),
        servers: [planned('a'), planned('b')],
      },
    );
    expect(subs(r)).toEqual(['b']);
    expect(r.continuedAsNewWith).toMatchObject({ hintVersion: V3 });
    expect((r.continuedAsNewWith as RotationInput).onlyServers).toBeUndefined();
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

  describe('deterministic replay', () => {
    const scenario: Scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a', { ring: 'canary' }), planned('b'), planned('c')],
    };

    it('replaying the whole recorded history from the start produces the first run’s actions', async () => {
      const first = await run(rotationInput(), scenario);
      expect(first.episodes).toBeGreaterThan(3);
      expect(first.actions.length).toBeGreaterThan(first.episodes);
      const replay = await first.replay();
      expect(replay.failed).toBeUndefined();
      expect(replay.isDone).toBe(true);
      expect(replay.actions).toEqual(first.actions);
      expect(replay.output).toEqual(first.output);
    });

    it('the comparison is not blind: a history with one changed result replays to other actions', async () => {
      const first = await run(rotationInput(), scenario);
      const history = first.history.map((e) => ({ ...e }));
      // The plan's answer, with server "c" no longer planned.
      const planId = history.find((e) => e.EventType === 4 && e['Name'] === 'planRollout')?.EventId;
      const answer = history.find((e) => e.EventType === 5 && e['TaskScheduledId'] === planId);
      expect(answer).toBeDefined();
      const changed = stepOk({
        servers: packIds(scenario.servers.slice(0, 2)),
        discovered: 2,
        unplannable: [],
      });
      if (answer !== undefined && 'result' in changed) answer['Result'] = JSON.stringify(changed.result);
      const replay = await first.replay(history);
      expect(replay.actions).not.toEqual(first.actions);
    });
  });

  describe('failure paths that hold', () => {
    const pagesBy = (r: Run, prefix: string) => pages(r).filter((p) => p.dedupKey.startsWith(prefix));

    it('Key Vault 503 for 120 s at the start: rides it out on durable-timer backoff and rolls out', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
      const ok = responder(s);
      const outageEnds = Date.parse(NOW) + 120_000;
      const r = await run(rotationInput(), s, [], (call, now) =>
        call.name === 'readKey' && now < outageEnds ? stepFailed('ServiceUnavailable', true) : ok(call, now),
      );
      expect(r.failed).toBeUndefined();
      // 5 + 10 + 20 + 40 + 80 s of backoff (plus the activities) outlast the 120 s outage.
      // Refused at 0, 6, 17, 38 and 79 s (the driver's activities take 1 s); the attempt at 160 s reads it.
      const waits = r.history
        .filter((h) => h.EventType === 10)
        .map((e) => (Date.parse(String(e['FireAt'])) - Date.parse(e.Timestamp)) / 1000);
      expect(waits.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
      expect(r.calls.filter((c) => c.name === 'readKey')).toHaveLength(6 + 1); // + the final re-read
      expect(batched(r)).toEqual(['a']);
      expect((r.output as RotationOutput).status).toBe('completed');
      expect(pages(r)).toEqual([]);
    });

    it('Key Vault failing beyond the retry budget: pages "key unreadable" once and ends cleanly (stopped, not Failed)', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [] },
        [],
        (call) =>
          call.name === 'readKey'
            ? stepFailed('ServiceUnavailable', true)
            : responder({ key: twoVersions, latest: version(V2, 1, 365), servers: [] })(call, 0),
      );
      expect(r.failed).toBeUndefined();
      expect(r.calls.filter((c) => c.name === 'readKey')).toHaveLength(RETRY_POLICIES.read.maxAttempts);
      expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:keyunreadable']);
      expect(pages(r)[0]?.summary).toContain('key unreadable');
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'ServiceUnavailable' });
      expect(subs(r)).toEqual([]);
    });

    it('a server that cannot be planned is skipped as InvalidConfiguration, audited and paged once; the others proceed', async () => {
      const bad: UnplannableServer = {
        serverId: serverId('no-identity'),
        serverName: 'no-identity',
        subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
        code: 'InvalidConfiguration',
        reason: 'Server has no primary key URI and identity to keep in the PATCH body.',
      };
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b')],
        unplannable: [bad],
      });
      expect(subs(r)).toEqual(['a', 'b']);
      expect(pages(r)).toHaveLength(1);
      expect(pages(r)[0]?.dedupKey).toContain(':server:no-identity:');
      expect(audits(r).find((a) => a.serverId === serverId('no-identity'))).toMatchObject({
        step: 'ServerSkipped',
        reasonCode: 'InvalidConfiguration',
      });
      const out = r.output as RotationOutput;
      expect(out.status).toBe('completedWithFailures');
      expect(out.servers.find((o) => o.serverName === 'no-identity')).toMatchObject({
        outcome: 'skipped',
        reasonCode: 'InvalidConfiguration',
      });
    });

    it('a planning step that fails permanently (TypeError in discovery) is not retried: paged once, run stopped', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [] };
      const r = await run(rotationInput(), s, [], (call) =>
        call.name === 'planRollout'
          ? stepFailed('UnexpectedError', false, { message: 'TypeError: x is undefined' })
          : responder(s)(call, 0),
      );
      expect(r.calls.filter((c) => c.name === 'planRollout')).toHaveLength(1);
      expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:discoveryfailed']);
      expect(r.output).toMatchObject({ status: 'stopped' });
    });

    it('a server rollover that fails as a sub-orchestration does not fail the run: its siblings keep their outcomes, it is recorded and paged', async () => {
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('a'), planned('b'), planned('c')],
        outcomes: { b: 'crashed' },
      });
      expect(r.failed).toBeUndefined();
      const out = r.output as RotationOutput;
      expect(out.status).toBe('completedWithFailures');
      expect(out.servers.map((o) => [o.serverName, o.outcome])).toEqual([['b', 'failed']]);
      expect(out.counts).toMatchObject({ updated: 2, failed: 1 });
      expect(pagesBy(r, 'cmk:contoso-pg-kv:pg-cmk:' + V2 + ':server:b:')).toHaveLength(1);
      expect(audits(r).find((a) => a.step === 'ServerFailed')).toMatchObject({
        serverId: serverId('b'),
        reasonCode: 'SubOrchestrationFailed',
      });
    });

    it('an unexpected exception in the orchestrator itself ends it cleanly, paged, never Failed', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
      const r = await run(rotationInput(), s, [], (call) =>
        call.name === 'planRollout'
          ? stepOk({ servers: null, discovered: 0, unplannable: [] })
          : responder(s)(call, 0),
      );
      expect(r.failed).toBeUndefined();
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'UnexpectedError' });
      expect(pages(r).map((p) => p.dedupKey)).toEqual(['cmk:contoso-pg-kv:pg-cmk:rotation:unexpectederror']);
    });

    it('a key event for a newer version signalled during the rollout is consumed before completing: continue as new with it', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: { trigger: 'event:e2', reason: 'KeyNewVersionCreated', version: V3 },
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.raised).toHaveLength(1);
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'event:e2', hintVersion: V3, generation: 1 });
      expect(audits(r).at(-1)).toMatchObject({ step: 'RotationCompleted', reasonCode: 'Superseded' });
    });

    it('an operator request during a run is honoured after it (continue as new, attributed to the operator)', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:alice', reason: 'Operator', version: undefined },
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.continuedAsNewWith).toMatchObject({
        trigger: 'operator:alice',
        reason: 'Operator',
        generation: 1,
      });
    });

    it('a redelivered event for the version this run handles is consumed and dropped: the run completes', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: { trigger: 'event:e1-again', reason: 'KeyNewVersionCreated', version: V2 },
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.raised).toHaveLength(1);
      expect(r.continuedAsNewWith).toBeUndefined();
      expect((r.output as RotationOutput).status).toBe('completed');
    });

    it('a signal waiting when the run stops early (key unreadable) still gets its run', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [] };
      const r = await run(
        rotationInput(),
        s,
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:bob', reason: 'Operator', version: undefined },
            when: () => true,
          },
        ],
        (call) => (call.name === 'readKey' ? stepFailed('Forbidden', false) : responder(s)(call, 0)),
      );
      expect(r.output).toMatchObject({ status: 'stopped' });
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'operator:bob' });
    });

    // The window issue 20 §3 named: the run has looked at its signals, then still sends its last
    // records. A signal raised then found the instance Running (the intake answered "signalled") and
    // was never read: the instance completed with it unconsumed in its history.
    const completionSent = (calls: readonly ScheduledCall[]) =>
      calls.some(
        (c) =>
          c.name === 'recordAudit' && (c.input as AuditRecord[]).some((a) => a.step === 'RotationCompleted'),
      );
    it.each([
      [
        'a key event for a newer version',
        { trigger: 'event:e3', reason: 'KeyNewVersionCreated', version: V3 },
      ],
      ['an operator request', { trigger: 'operator:carol', reason: 'Operator', version: undefined }],
    ])(
      '%s raised after the run looked at its signals, while it sends its completion record, is consumed: continue as new with it',
      async (_, signal) => {
        const r = await run(
          rotationInput(),
          { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
          [{ name: 'keyEvent', input: signal, when: completionSent }],
        );
        expect(r.raised).toHaveLength(1);
        expect(audits(r).at(-1)).toMatchObject({ step: 'RotationCompleted', outcome: 'success' });
        // Its last look is published (the intake waits for the end of a closing run).
        expect(r.customStatuses.at(-1)).toMatchObject({ phase: 'finishing', closing: true });
        expect(r.continuedAsNewWith).toMatchObject({
          trigger: signal.trigger,
          reason: signal.reason,
          hintVersion: signal.version,
          generation: 1,
        });
      },
    );

    it('a signal raised while a stopped run sends its last record is consumed: continue as new with it', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [] };
      const r = await run(
        rotationInput(),
        s,
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:dave', reason: 'Operator', version: undefined },
            when: completionSent,
          },
        ],
        (call) => (call.name === 'readKey' ? stepFailed('Forbidden', false) : responder(s)(call, 0)),
      );
      expect(r.raised).toHaveLength(1);
      expect(r.output).toMatchObject({ status: 'stopped' });
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'operator:dave', generation: 1 });
      expect(r.customStatuses.at(-1)).toMatchObject({ phase: 'reading', closing: true });
    });

    it('a signal raised while an unexpected error is paged still gets its run', async () => {
      const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
      const r = await run(
        rotationInput(),
        s,
        [
          {
            name: 'keyEvent',
            input: { trigger: 'operator:erin', reason: 'Operator', version: undefined },
            when: (calls) => calls.some((c) => c.name === 'pageOperator'),
          },
        ],
        (call) =>
          call.name === 'planRollout'
            ? stepOk({ servers: null, discovered: 0, unplannable: [] })
            : responder(s)(call, 0),
      );
      expect(r.failed).toBeUndefined();
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'UnexpectedError' });
      expect(r.continuedAsNewWith).toMatchObject({ trigger: 'operator:erin', generation: 1 });
    });

    it('a malformed keyEvent (raised by hand) is read and ignored; the run completes', async () => {
      const r = await run(
        rotationInput(),
        { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] },
        [
          {
            name: 'keyEvent',
            input: null,
            when: (calls) => calls.some((c) => c.kind === 'subOrchestration'),
          },
        ],
      );
      expect(r.failed).toBeUndefined();
      expect(r.raised).toHaveLength(1);
      expect(r.continuedAsNewWith).toBeUndefined();
      expect((r.output as RotationOutput).status).toBe('completed');
    });

    it('auto-rotate with a rotation policy shorter than the warning window (P28D, 30 days): at most one automatic rotation per expiring version', async () => {
      const settings = { ...SETTINGS, autoRotateOnNearExpiry: true };
      const old = version(V1, 340, 20); // a 360-day version, 20 days left
      const fresh = version(V2, 0, 28); // what a P28D policy creates: inside the window from birth
      const first = await run(rotationInput({ reason: 'KeyNearExpiry', settings }), {
        key: keyWith(old),
        latest: old,
        rotateTo: fresh,
        servers: [planned('a', { action: 'verify', from: V1 })],
      });
      expect(names(first.calls).filter((n) => n === 'rotateKey')).toHaveLength(1);
      // The next generation (continue as new), and a fresh instance for the new version's own
      // KeyNearExpiry event: neither rotates again.
      for (const next of [
        first.continuedAsNewWith as RotationInput,
        rotationInput({ reason: 'KeyNearExpiry', settings, hintVersion: V2 }),
      ]) {
        const r = await run(next, {
          key: keyWith(old, fresh),
          latest: fresh,
          rotateTo: version(V3, 0, 28),
          servers: [planned('a', { from: V1 })],
        });
        expect(names(r.calls)).not.toContain('rotateKey');
        expect(pages(r).map((p) => p.severity)).toContain('warning');
      }
    });

    it('a rotateKey retried after Key Vault already made the version does not rotate again (rotated: false)', async () => {
      const latest = version(V2, 300, 20);
      const r = await run(
        rotationInput({ reason: 'KeyNearExpiry', settings: { ...SETTINGS, autoRotateOnNearExpiry: true } }),
        { key: keyWith(latest), latest, rotateTo: version(V3, 0, 365), rotated: false, servers: [] },
      );
      expect(r.calls.find((c) => c.name === 'rotateKey')?.input).toMatchObject({ fromVersion: V2 });
      expect(audits(r).find((a) => a.step === 'KeyRotated')).toMatchObject({
        outcome: 'skipped',
        toVersion: V3,
      });
      expect(r.continuedAsNewWith).toMatchObject({ hintVersion: V3 });
    });

    it('an expired pinned version is paged with the documented recovery (restore access first), never "the rotator moves them"', async () => {
      const r = await run(rotationInput(), {
        key: keyWith(version(V1, 400, -2), version(V2, 1, 365)),
        latest: version(V2, 1, 365),
        servers: [planned('legacy', { action: 'skip' }), planned('a')],
      });
      const [page] = pages(r);
      expect(page?.summary).toContain('EXPIRED');
      expect(page?.nextStep).toContain(`Restore access to pg-cmk/${V1} first`);
      expect(page?.nextStep).toContain('Ready again');
      expect(page?.nextStep).not.toMatch(/moves them as soon as a valid version exists/);
    });

    it.each([
      [
        'only opted-out servers',
        [planned('legacy', { action: 'skip' })],
        /yourself: the rotator leaves them alone/,
        /rotator moves/,
      ],
      [
        'an opted-out, a held and a failed server',
        [
          planned('legacy', { action: 'skip' }),
          {
            ...planned('frozen', { action: 'skip' }),
            slots: [{ slot: 'primary' as const, decision: 'held' as const, version: V1, reason: 'test' }],
          },
          planned('a'),
        ],
        /the rotator moves the others .*The rotator does not move legacy \(opted out: whoever owns them moves them\) or frozen \(on hold: remove the hold tag, or move them yourself\)/,
        /the rotator moves them/,
      ],
    ])(
      'an expired version listing %s: the page never says the rotator moves a server it leaves alone',
      async (_name, servers, says, never) => {
        const r = await run(rotationInput(), {
          key: keyWith(version(V1, 400, -2), version(V2, 1, 365)),
          latest: version(V2, 1, 365),
          servers,
          outcomes: { a: 'failed' },
        });
        const page = pages(r).find((p) => p.dedupKey.includes(`${V1}:expiry`));
        expect(page?.nextStep).toMatch(says);
        expect(page?.nextStep).not.toMatch(never);
      },
    );

    it('an Inaccessible server goes through its rollover (which pages the recovery) and keeps the run completedWithFailures', async () => {
      const base = planned('dark', { action: 'skip' });
      const inaccessible: PlannedServer = {
        ...base,
        state: 'Inaccessible',
        slots: base.slots.map((x) => ({
          ...x,
          decision: 'deferred' as const,
          reason: 'server is Inaccessible, not Ready',
        })),
      };
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [inaccessible, planned('a')],
        outcomes: { dark: 'failed' },
      });
      expect(subs(r)).toEqual(['dark', 'a']);
      expect((r.output as RotationOutput).status).toBe('completedWithFailures');
    });

    it('an Inaccessible canary (it never tried the new version) does not hold the main ring back', async () => {
      const base = planned('dark-canary', { ring: 'canary', action: 'skip' });
      const canary: PlannedServer = {
        ...base,
        state: 'Inaccessible',
        slots: base.slots.map((x) => ({ ...x, decision: 'deferred' as const })),
      };
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [canary, planned('a')],
        outcomes: { 'dark-canary': 'failed' },
        reasonCodes: { 'dark-canary': 'ServerInaccessible' },
      });
      expect(subs(r)).toEqual(['dark-canary', 'a']);
      const out = r.output as RotationOutput;
      expect(out.status).toBe('completedWithFailures');
      expect(out.servers.map((o) => o.serverName)).toEqual(['dark-canary']);
      expect(out.counts).toMatchObject({ updated: 1, failed: 1, skipped: 0 });
      expect(pages(r).map((p) => p.dedupKey)).not.toContain('cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed');
    });

    it.each(['CrossTenantCmk', 'CrossTenantUndetermined'])(
      'a canary left alone as %s (never PATCHed: it never tried the new version) does not hold the main ring back',
      async (code) => {
        const r = await run(rotationInput(), {
          key: twoVersions,
          latest: version(V2, 1, 365),
          servers: [planned('xt-canary', { ring: 'canary' }), planned('a')],
          outcomes: { 'xt-canary': 'failed' },
          reasonCodes: { 'xt-canary': code },
        });
        expect(subs(r)).toEqual(['xt-canary', 'a']);
        expect((r.output as RotationOutput).counts).toMatchObject({ updated: 1, failed: 1, skipped: 0 });
        expect(pages(r).map((p) => p.dedupKey)).not.toContain(
          'cmk:contoso-pg-kv:pg-cmk:rotation:canaryfailed',
        );
      },
    );

    it('an instance started by an older deployment (no schema version) ends at once without replaying its steps', async () => {
      const { schemaVersion: _dropped, ...old } = rotationInput();
      const r = await run(old, { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] });
      expect(r.calls).toEqual([]);
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'SchemaVersionChanged' });
    });
  });
  describe('audit records the trail refused (never claimed sent: counted, paged)', () => {
    const AUDIT_GAP = 'cmk:contoso-pg-kv:pg-cmk:rotation:auditundelivered';
    const s: Scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a'), planned('b')],
    };

    it("counts its own refused records and its servers' into auditUndelivered and pages the gap once", async () => {
      const answer: Responder = (call, now) =>
        call.name === 'recordAudit'
          ? stepFailed('AuditDeliveryFailed', false)
          : call.name === 'serverRollover' && (call.input as ServerRolloverInput).server.serverName === 'b'
            ? { result: { ...outcome('b', 'updated'), auditUndelivered: 3 } }
            : base(call, now);
      const base = responder(s, [], answer);
      const r = await run(rotationInput(), s, [], answer);
      const out = r.output as RotationOutput;
      const own = r.calls
        .filter((c) => c.name === 'recordAudit')
        .reduce((n, c) => n + (c.input as AuditRecord[]).length, 0);
      expect(own).toBeGreaterThan(0);
      expect(out.auditUndelivered).toBe(own + 3);
      expect(out.status).toBe('completed');
      const gap = pages(r).filter((p) => p.dedupKey === AUDIT_GAP);
      expect(gap).toHaveLength(1);
      expect(gap[0]).toMatchObject({ severity: 'warning' });
      expect(gap[0]?.nextStep).toContain('GET /api/rotations/contoso-pg-kv/pg-cmk');
      expect(out.openIncidents.map((i) => i.dedupKey)).toContain(AUDIT_GAP);
    });

    it('every record accepted: no count in the output, no page; an earlier gap is resolved', async () => {
      const r = await run(rotationInput({ openIncidents: [{ dedupKey: AUDIT_GAP, kind: 'rotation' }] }), s);
      const out = r.output as RotationOutput;
      expect(out.auditUndelivered).toBeUndefined();
      expect(pages(r).map((p) => p.dedupKey)).not.toContain(AUDIT_GAP);
      expect(out.resolvedIncidents).toContain(AUDIT_GAP);
    });

    it('an earlier gap stays open while this run still loses records', async () => {
      const r = await run(
        rotationInput({ openIncidents: [{ dedupKey: AUDIT_GAP, kind: 'rotation' }] }),
        s,
        [],
        (call, now) =>
          call.name === 'recordAudit' ? stepFailed('AuditDeliveryFailed', false) : responder(s)(call, now),
      );
      const out = r.output as RotationOutput;
      expect(out.resolvedIncidents).not.toContain(AUDIT_GAP);
      expect(out.openIncidents.map((i) => i.dedupKey)).toContain(AUDIT_GAP);
    });
  });

  describe("runs that fail again for the same version (the sweep's exponential backoff)", () => {
    const s: Scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a'), planned('b')],
      outcomes: { b: 'failed' },
    };
    it.each([
      ['first failed run', undefined, { version: V2, count: 1 }],
      ['third in a row', { version: V2, count: 2 }, { version: V2, count: 3 }],
      ['after failures for an older version', { version: V1, count: 4 }, { version: V2, count: 1 }],
    ])('%s: the output carries the count', async (_, failedRuns, expected) => {
      const r = await run(rotationInput({ failedRuns }), s);
      expect(r.output).toMatchObject({ status: 'completedWithFailures', failedRuns: expected });
    });

    it('a clean run carries no count', async () => {
      const r = await run(rotationInput({ failedRuns: { version: V2, count: 5 } }), { ...s, outcomes: {} });
      expect((r.output as RotationOutput).failedRuns).toBeUndefined();
    });
  });
});

describe("the rotation's output: counts for every server, details only for those that need attention", () => {
  const fleet = (n: number): PlannedServer[] =>
    Array.from({ length: n }, (_, i) => planned(`pg-${String(i).padStart(4, '0')}`));
  const allWell = (n: number) =>
    run(rotationInput(), { key: twoVersions, latest: version(V2, 1, 365), servers: fleet(n) });
  /** The outputs of the batches as the rotation's history holds them. */
  const batchOutputs = (r: Run): string[] =>
    r.history.filter((e) => e.EventType === 8).map((e) => String(e['Result']));

  it('does not grow with the servers that went well: the output and each batch output at 10 and at 200 servers', async () => {
    const [small, large] = [await allWell(10), await allWell(200)];
    const [a, b] = [small.output as RotationOutput, large.output as RotationOutput];
    expect([a.counts?.updated, b.counts?.updated]).toEqual([10, 200]);
    expect([a.servers, b.servers]).toEqual([[], []]);
    // The counts get a digit longer; nothing else in the output grows.
    expect(JSON.stringify(b).length - JSON.stringify(a).length).toBeLessThanOrEqual(2);
    // Two batches of 100 (one subscription) at 200 servers, each as long as the one batch of 10
    // (bar the digits of its counts).
    expect(batchOutputs(large)).toHaveLength(2);
    const longest = (r: Run) => Math.max(...batchOutputs(r).map((o) => o.length));
    expect(longest(large) - longest(small)).toBeLessThanOrEqual(2);
  });

  it('per server, the history holds only the plan entry and the reference handed to a batch: no name, reason or key', async () => {
    const r = await allWell(200);
    const batchInputs = r.history
      .filter((e) => e.EventType === 7)
      .map((e) => JSON.parse(String(e['Input'])) as RolloutBatchInput);
    for (const input of batchInputs)
      for (const [i, s] of input.servers.entries())
        expect(Object.keys(s).sort()).toEqual(
          i === 0 ? ['behind', 'expiresOn', 'serverId'] : ['behind', 'expiresOn', 'serverId', 'shared'],
        );
    expect(batchInputs.map((i) => i.servers.length)).toEqual([100, 100]);
    // Front-coded: the first server of a batch has its whole id, the others what they do not share.
    expect(batchInputs[0]?.servers[0]?.serverId).toBe(serverId('pg-0000'));
    expect(batchInputs[0]?.servers[1]).toMatchObject({ serverId: '1', shared: serverId('pg-000').length });
  });

  it.each([
    ['updated', 'updated', undefined, false],
    ['verified', 'verified', undefined, false],
    ['failed', 'failed', 'AzureKeyVaultMissingPermissions', true],
    ['skipped by its rollover (planned to move, left where it was)', 'skipped', 'ServerBusy', true],
  ] as const)(
    'a server %s: counted as %s (reason code %s); listed with its details: %s',
    async (_, kind, code, listed) => {
      const r = await run(rotationInput(), {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [planned('x'), planned('ok')],
        outcomes: { x: kind },
        ...(code !== undefined ? { reasonCodes: { x: code } } : {}),
      });
      const out = r.output as RotationOutput;
      expect(out.counts).toMatchObject({ [kind]: kind === 'updated' ? 2 : 1 });
      if (kind === 'skipped') expect(out.counts?.skippedBy).toEqual({ ServerBusy: 1 });
      expect(out.servers).toEqual(listed ? [{ ...outcome('x', kind), reasonCode: code }] : []);
    },
  );

  it('lists what needs attention with its details, counts the rest (skipped ones by reason), and resolves only proven fixes', async () => {
    const r = await run(
      rotationInput({
        openIncidents: [
          { dedupKey: 'server-ok', kind: 'server', serverId: serverId('ok'), version: V2 },
          { dedupKey: 'server-optout', kind: 'server', serverId: serverId('optout'), version: V2 },
        ],
      }),
      {
        key: twoVersions,
        latest: version(V2, 1, 365),
        servers: [
          planned('ok'),
          planned('same', { action: 'verify' }),
          planned('bad'),
          planned('optout', { action: 'skip' }),
          planned('optout-2', { action: 'skip' }),
        ],
        outcomes: { same: 'verified', bad: 'failed' },
        unplannable: [
          {
            serverId: serverId('odd'),
            serverName: 'odd',
            subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
            code: 'InvalidConfiguration',
            reason: 'no primary identity',
          },
        ],
      },
    );
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completedWithFailures');
    expect(out.counts).toEqual({
      updated: 1,
      verified: 1,
      failed: 1,
      skipped: 3,
      skippedBy: { InvalidConfiguration: 1, excluded: 2 },
    });
    expect(out.servers.map((s) => [s.serverName, s.outcome, s.reasonCode, s.incident?.dedupKey])).toEqual([
      ['odd', 'skipped', 'InvalidConfiguration', expect.stringContaining(':server:odd:')],
      ['bad', 'failed', 'AzureKeyVaultMissingPermissions', 'server-bad'],
    ]);
    expect(out.servers[1]?.slots).toEqual([{ slot: 'primary', from: V1, to: V2 }]);
    // `ok` went well (a batch lists every other outcome): its incident is resolved; the opted-out
    // server was not touched, so nothing proves its incident fixed.
    expect(out.resolvedIncidents).toEqual(['server-ok']);
    expect(out.openIncidents.map((i) => i.dedupKey)).toContain('server-optout');
    // The run's audit record carries the counts; each skipped server has its own record.
    expect(audits(r).find((a) => a.step === 'RotationCompleted')?.reason).toBe(
      '1 updated, 1 verified, 1 failed, 3 skipped',
    );
    expect(
      audits(r)
        .filter((a) => a.step === 'ServerSkipped')
        .map((a) => a.serverId),
    ).toEqual([serverId('odd'), serverId('optout'), serverId('optout-2')]);
  });

  it('takes the plan front-coded (as the activity answers): every server reaches a batch with its whole id', async () => {
    const servers = [planned('pg-0001'), planned('pg-0002', { ring: 'canary' }), planned('pg-0010')];
    const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers };
    const nested: ScheduledCall[] = [];
    const r = await run(rotationInput(), s, [], (call, now) =>
      call.name === 'planRollout'
        ? stepOk({ servers: packIds(servers), discovered: 3, unplannable: [] })
        : responder(s, nested)(call, now),
    );
    const planEntry = r.history.find((e) => e.EventType === 5 && String(e['Result']).includes('"shared"'));
    expect(planEntry).toBeDefined();
    expect(
      [...r.calls, ...nested]
        .filter((c) => c.name === 'serverRollover')
        .map((c) => (c.input as ServerRolloverInput).server.serverId),
    ).toEqual([serverId('pg-0002'), serverId('pg-0001'), serverId('pg-0010')]);
    expect((r.output as RotationOutput).counts?.updated).toBe(3);
  });

  it('a batch output whose counts do not add up proves no server of it fixed', async () => {
    const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('ok')] };
    const incident = {
      dedupKey: 'server-ok',
      kind: 'server' as const,
      serverId: serverId('ok'),
      version: V2,
    };
    const r = await run(rotationInput({ openIncidents: [incident] }), s, [], (call, now) =>
      call.name === 'rolloutBatch'
        ? {
            result: {
              counts: { updated: 0, verified: 0, failed: 0, skipped: 0, skippedBy: {} },
              servers: [],
              peakInFlight: 0,
              throttled: 0,
            },
          }
        : responder(s)(call, now),
    );
    const out = r.output as RotationOutput;
    expect(out.resolvedIncidents).toEqual([]);
    expect(out.openIncidents.map((i) => i.dedupKey)).toEqual(['server-ok']);
  });

  it('a batch that counts a failure it does not list still makes the run completedWithFailures', async () => {
    const s: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] };
    const r = await run(rotationInput(), s, [], (call, now) =>
      call.name === 'rolloutBatch'
        ? {
            result: {
              counts: { updated: 0, verified: 0, failed: 1, skipped: 0, skippedBy: {} },
              servers: [],
              peakInFlight: 1,
              throttled: 0,
            },
          }
        : responder(s)(call, now),
    );
    const out = r.output as RotationOutput;
    expect(out.status).toBe('completedWithFailures');
    expect(out.counts?.failed).toBe(1);
  });

  it('pages a server its rollover skipped that is left on an expiring version (it is listed, so the run knows)', async () => {
    const r = await run(rotationInput(), {
      key: keyWith(version(V1, 360, 6), version(V2, 1, 365)),
      latest: version(V2, 1, 365),
      servers: [planned('busy'), planned('a')],
      outcomes: { busy: 'skipped' },
      reasonCodes: { busy: 'ServerBusy' },
    });
    expect(pages(r)).toEqual([
      expect.objectContaining({
        dedupKey: `cmk:contoso-pg-kv:pg-cmk:${V1}:expiry:critical`,
        summary: expect.stringMatching(/1 server\(s\) use it: busy$/),
      }),
    ]);
  });
});

describe('keyRotation history at fleet scale', () => {
  const fleet = (n: number): PlannedServer[] =>
    Array.from({ length: n }, (_, i) => planned(`pg-${String(i).padStart(4, '0')}`));
  const measure = async (n: number) => {
    const r = await run(rotationInput(), {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: fleet(n),
    });
    expect((r.output as RotationOutput).counts?.updated).toBe(n);
    return { events: r.history.length, bytes: JSON.stringify(r.history).length };
  };

  it('holds one entry per batch of servers, not one per server: 1,000 servers add a few events per 100, not thousands', async () => {
    const small = await measure(100);
    const large = await measure(1000);
    // One batch more per 100 servers: its creation, its completion and the episode around them.
    expect(large.events - small.events).toBeLessThanOrEqual(9 * 6);
    expect(large.events).toBeLessThan(150);
    // What still grows is the plan and the servers handed to the batches (JSON in JSON): about 300
    // bytes per server (the end of its id twice, its version, its deadline); no outcome of a server
    // that went well, no key, no settings, nothing per step (it was 1.1 KB with every outcome listed).
    expect(large.bytes / 1000).toBeLessThan(350);
  });

  describe('run history (the task hub keeps one instance per key: each output carries the runs before it)', () => {
    const earlier = (i: number): RunRecord => ({
      kind: 'sweep',
      trigger: `sweep:${i}`,
      startedAt: `2026-11-${String(10 + (i % 10)).padStart(2, '0')}T00:00:00.000Z`,
      endedAt: `2026-11-${String(10 + (i % 10)).padStart(2, '0')}T00:05:00.000Z`,
      status: 'completed',
      targetVersion: V1,
      reasonCode: undefined,
      counts: { done: 1, failed: 0, skipped: 0 },
    });
    const scenario = {
      key: twoVersions,
      latest: version(V2, 1, 365),
      servers: [planned('a'), planned('b'), planned('c', { action: 'skip' as const })],
      outcomes: { b: 'failed' as const },
    };

    it.each([
      ['an event', 'event:e1', undefined, 'event'],
      ['an operator', 'operator:alice', undefined, 'operator'],
      ['the sweep', 'sweep:2026-11-24T10:00:00Z', undefined, 'sweep'],
      ['the health watch', 'health:2026-11-24T10:00:00Z', undefined, 'health'],
      ['an operator’s retry', 'operator:alice', [serverId('b').toLowerCase()], 'retry'],
    ] as const)(
      'a run started by %s (%s) is recorded first, before the earlier runs',
      async (_, trigger, only, kind) => {
        const r = await run(
          rotationInput({
            trigger,
            history: [earlier(1)],
            ...(only !== undefined ? { onlyServers: only } : {}),
          }),
          scenario,
        );
        const out = r.output as RotationOutput;
        expect(out.history?.[0]).toEqual({
          kind,
          trigger,
          startedAt: NOW,
          endedAt: out.completedAt,
          status: 'completedWithFailures',
          targetVersion: V2,
          reasonCode: out.reasonCode,
          counts:
            only === undefined ? { done: 1, failed: 1, skipped: 1 } : { done: 0, failed: 1, skipped: 0 },
        });
        expect(out.history?.slice(1)).toEqual([earlier(1)]);
      },
    );

    it(`keeps the newest ${RUN_HISTORY_LENGTH} runs`, async () => {
      const many = Array.from({ length: RUN_HISTORY_LENGTH }, (_, i) => earlier(i));
      const out = (await run(rotationInput({ history: many }), scenario)).output as RotationOutput;
      expect(out.history).toHaveLength(RUN_HISTORY_LENGTH);
      expect(out.history?.slice(1)).toEqual(many.slice(0, RUN_HISTORY_LENGTH - 1));
    });
  });
});
