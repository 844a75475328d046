import type { PlannedServer } from '../../../../shared/rotation/activityIo';
import type {
  RolloutBatchInput,
  RotationOutput,
  ServerOutcome,
  ServerRolloverInput,
} from '../../../../shared/rotation/contract';
import { keyRotationOrchestrator } from '../../../../shared/rotation/orchestrators/keyRotation';
import { BATCHES_PER_SUBSCRIPTION } from '../../../../shared/rotation/pacing';
import {
  runOrchestration,
  type Responder,
  type Run,
  type ScheduledCall,
} from '../../../support/orchestration';
import { flexibleServerId, SUBSCRIPTION } from '../../../support/servers';
import { NOW, SETTINGS, V2, planned, rotationInput, serverId, version } from './fixtures';
import { type Scenario, responder, run, twoVersions } from './harness';

/**
 * The rollout in batches (batches.ts): one rolloutBatch per 100 servers of a subscription, paced by
 * the canary's operations; the rotation's history grows per batch, never per server.
 */

const fleet = (n: number): PlannedServer[] =>
  Array.from({ length: n }, (_, i) => planned(`pg-${String(i).padStart(4, '0')}`));

describe('keyRotation: the rollout in batches (batches.ts)', () => {
  it("paces the main ring's first polls by the canary's operations and looks at its batches every poll interval", async () => {
    const servers = [
      planned('canary-1', { ring: 'canary' }),
      ...Array.from({ length: 350 }, (_, i) => planned(`main-${String(i).padStart(3, '0')}`)),
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
      [100, 80],
      [50, 80],
    ]);
    const firstPolls = nested
      .filter((c) => c.name === 'serverRollover')
      .map((c) => (c.input as ServerRolloverInput).firstPollSeconds);
    expect(firstPolls[0]).toBe(SETTINGS.pollIntervalSeconds);
    expect(new Set(firstPolls.slice(1))).toEqual(new Set([80]));
    // The parent looks at its batches every poll interval, while a batch waits to start too: a
    // finished batch is replaced (and the next start times reserved) at most one poll interval late.
    const looks = r.history
      .filter((e) => e.EventType === 10)
      .map((e) => (Date.parse(String(e['FireAt'])) - Date.parse(e.Timestamp)) / 1000)
      .filter((s) => s > 0);
    expect(looks.length).toBeGreaterThan(2);
    expect(new Set(looks)).toEqual(new Set([SETTINGS.pollIntervalSeconds]));
  });

  it('starts the main ring in the episode that sees the canary batch end: no look by timer in between', async () => {
    const servers = [
      planned('canary-1', { ring: 'canary' }),
      planned('canary-2', { ring: 'canary' }),
      ...fleet(3),
    ];
    const r = await run(rotationInput(), { key: twoVersions, latest: version(V2, 1, 365), servers });
    expect(r.failed).toBeUndefined();
    const created = r.history
      .map((e, i) => ({ e, i }))
      .filter(({ e }) => e.EventType === 7 && e['Name'] === 'rolloutBatch');
    const [canary, main] = created;
    expect(created).toHaveLength(2);
    const between = r.history.slice(canary?.i, main?.i);
    // The canary batch's completion, and no timer set or fired before the main ring's batch.
    expect(between.filter((e) => e.EventType === 8)).toHaveLength(1);
    expect(between.filter((e) => e.EventType === 10 || e.EventType === 11)).toEqual([]);
    expect(main?.e.Timestamp).toBe(between.find((e) => e.EventType === 8)?.Timestamp);
    // Only the canary batch drains its servers together; the main ring's report as they settle.
    const inputs = r.calls.filter((c) => c.name === 'rolloutBatch').map((c) => c.input as RolloutBatchInput);
    expect(inputs.map((b) => b.canary)).toEqual([true, undefined]);
  });

  /** The lane key of a rotation's first batch that has one. */
  const firstLaneKey = (run: Run): string | undefined =>
    run.calls
      .filter((c) => c.name === 'rolloutBatch')
      .map((c) => (c.input as RolloutBatchInput).lane?.key)
      .find((k) => k !== undefined);

  it("gives the batches of a subscription that run alongside each other one lane, new for each run, and says a failed batch's permits go back", async () => {
    const other = '0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const servers = [
      planned('canary-1', { ring: 'canary' }),
      ...fleet(250),
      ...Array.from({ length: 30 }, (_, i) => ({
        ...planned(`b-${i}`),
        serverId: flexibleServerId(other, 'rg', `b-${i}`),
      })),
    ];
    const scenario: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers };
    const base = responder(scenario);
    // The second batch of the first subscription fails (a host fault): the rotation closes its permits.
    let batchesSeen = 0;
    const oneFails: Responder = (call, now) =>
      call.name === 'rolloutBatch' && ++batchesSeen === 3 ? { error: 'replay fault' } : base(call, now);
    const r = await runOrchestration(keyRotationOrchestrator, rotationInput(), oneFails, {
      instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
      start: NOW,
    });
    expect(r.failed).toBeUndefined();
    const created = r.calls.filter((c) => c.name === 'rolloutBatch');
    const inputs = created.map((c) => c.input as RolloutBatchInput);
    const lanes = inputs.map((b) => [b.servers.length, b.lane?.key.split(':')[0], b.lane?.limit]);
    expect(lanes).toEqual([
      [1, undefined, undefined],
      [100, SUBSCRIPTION, SETTINGS.maxParallelUpdates],
      [100, SUBSCRIPTION, SETTINGS.maxParallelUpdates],
      [30, undefined, undefined],
      [50, SUBSCRIPTION, SETTINGS.maxParallelUpdates],
    ]);
    expect(new Set(inputs.map((b) => b.lane?.key).filter((k) => k !== undefined)).size).toBe(1);
    const closed = r.calls.filter((c) => c.kind === 'signal' && c.name === 'close');
    expect(closed).toEqual([
      expect.objectContaining({
        instanceId: `@rolloutlane@${inputs[1]?.lane?.key ?? ''}`,
        input: { holder: created[2]?.instanceId },
      }),
    ]);
    // A later run of the same key draws new lanes.
    const again = await runOrchestration(keyRotationOrchestrator, rotationInput(), base, {
      instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
      start: '2026-12-06T12:00:00Z',
    });
    const laneAgain = firstLaneKey(again);
    expect(laneAgain).toBeDefined();
    expect(laneAgain).not.toBe(inputs[1]?.lane?.key);
    // The rotation of another key in the same subscription, at the same instant, has a lane of its own.
    const otherKey = await runOrchestration(keyRotationOrchestrator, rotationInput(), base, {
      instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk-2',
      start: NOW,
    });
    const laneOfOther = firstLaneKey(otherKey);
    expect(laneOfOther).toBeDefined();
    expect(laneOfOther).not.toBe(inputs[1]?.lane?.key);
    // Its lanes are ended with the phase.
    const ended = r.calls.filter((c) => c.kind === 'signal' && c.name === 'end');
    expect(ended.map((c) => c.instanceId)).toEqual([`@rolloutlane@${inputs[1]?.lane?.key ?? ''}`]);
  });

  it.each([1, 2, 5, 100])(
    'with CMK_MAX_PARALLEL_UPDATES=%s, the batches a subscription starts at once have at most that many servers in flight together',
    async (max) => {
      const servers = Array.from({ length: 700 }, (_, i) => planned(`main-${String(i).padStart(3, '0')}`));
      const scenario: Scenario = { key: twoVersions, latest: version(V2, 1, 365), servers };
      const r = await runOrchestration(
        keyRotationOrchestrator,
        rotationInput({ settings: { ...SETTINGS, maxParallelUpdates: max } }),
        responder(scenario),
        { instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk', start: NOW },
      );
      expect(r.failed).toBeUndefined();
      const created = r.history.filter((e) => e.EventType === 7 && e['Name'] === 'rolloutBatch');
      const atOnce = created
        .filter((e) => e.Timestamp === created[0]?.Timestamp)
        .map((e) => JSON.parse(String(e['Input'])) as RolloutBatchInput);
      expect(atOnce).toHaveLength(Math.min(BATCHES_PER_SUBSCRIPTION, max));
      expect(atOnce.reduce((n, b) => n + b.maxInFlight, 0)).toBeLessThanOrEqual(max);
      expect(created).toHaveLength(7);
    },
  );
});

describe("the rotation's output: counts for every server, details only for those that need attention", () => {
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
});

describe('keyRotation history at fleet scale', () => {
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
});
