import type { RotationOutput, RotationProgress } from '../../../../shared/rotation/contract';
import { packIds } from '../../../../shared/rotation/packing';
import { stepOk } from '../../../support/orchestration';
import { V2, planned, rotationInput, version } from './fixtures';
import { type Scenario, responder, run, subs, pages, audits, names, twoVersions } from './harness';

/**
 * The rotation of one key end to end (shared/rotation/orchestrators/keyRotation.ts tells the story):
 * the happy path, the progress it publishes, the deterministic replay of its history, and the two ways
 * the orchestrator itself ends a run (an unexpected exception, an instance of an older deployment).
 * Each phase has its own test file next to this one (readKey, plan, nearExpiry, preflight, rollout,
 * batches, expiryPages, finish, signals, stop, run); harness.ts drives them all.
 */
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

    it('an instance started by an older deployment (no schema version) ends at once without replaying its steps', async () => {
      const { schemaVersion: _dropped, ...old } = rotationInput();
      const r = await run(old, { key: twoVersions, latest: version(V2, 1, 365), servers: [planned('a')] });
      expect(r.calls).toEqual([]);
      expect(r.output).toMatchObject({ status: 'stopped', reasonCode: 'SchemaVersionChanged' });
    });
  });
});
