import { durableOrchestrator } from '../../../shared/durable/activityBoundary';
import { contractProblem } from '../../../shared/durable/contractSchemas';
import { ROTATION_SCHEMA_VERSION, type RotationOutput } from '../../../shared/rotation/contract';
import { keyRotationOrchestrator } from '../../../shared/rotation/orchestrators/keyRotation';
import { runOrchestration } from '../../support/orchestration';
import { NOW, V2, rotationInput, version } from '../rotation/orchestrators/fixtures';
import { responder, twoVersions } from '../rotation/orchestrators/harness';

/**
 * An instance started by an older deployment carries an older `schemaVersion` and an input of that
 * deployment's shape. The orchestrator's own version check ends it cleanly (SchemaVersionChanged, no
 * step), and the key starts again under this version: the boundary's schema must not refuse it first,
 * or the instance fails (no output, its open incidents in none).
 */
const incident = {
  dedupKey: 'cmk-rotation:server:pg-a',
  kind: 'server' as const,
  serverId: '/subscriptions/s/x/pg-a',
};
// An older deployment's shape this schema refuses: settings without maxWriteAttempts, an unknown reason.
const olderShape = (schemaVersion: number): Record<string, unknown> => {
  const { maxWriteAttempts: _, ...settings } = rotationInput().settings;
  return {
    ...rotationInput(),
    schemaVersion,
    settings,
    reason: 'Manual',
    openIncidents: [incident, { kind: 'x' }],
  };
};
const runThroughBoundary = (input: unknown) =>
  runOrchestration(
    durableOrchestrator('keyRotation', keyRotationOrchestrator),
    input,
    responder({ key: twoVersions, latest: version(V2, 1, 365), servers: [] }, []),
    { instanceId: 'cmk-rotation:contoso-pg-kv:pg-cmk', start: NOW },
  );

describe('an instance started by an older deployment, through the durable boundary', () => {
  it.each([
    ['the previous version', ROTATION_SCHEMA_VERSION - 1],
    ['an older version', 1],
  ])(
    '%s, in a shape this schema refuses: ends at once (SchemaVersionChanged), keeping its incidents',
    async (_, v) => {
      expect(
        contractProblem({ kind: 'orchestration', name: 'keyRotation' }, 'input', olderShape(v)),
      ).toBeDefined();
      const r = await runThroughBoundary(olderShape(v));
      expect(r.failed).toBeUndefined();
      expect(r.calls).toEqual([]);
      const out = r.output as RotationOutput;
      expect([out.status, out.reasonCode]).toEqual(['stopped', 'SchemaVersionChanged']);
      expect(out.openIncidents).toEqual([incident]);
    },
  );

  it('the same shape under this version is still refused by the boundary', async () => {
    const r = await runThroughBoundary(olderShape(ROTATION_SCHEMA_VERSION));
    expect(r.failed).toMatch(/input refused/);
  });
});
