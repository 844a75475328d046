import { contractProblem } from '../../../shared/durable/contractSchemas';
import { HEALTH_WATCH_SCHEMA_VERSION, type HealthWatchInput } from '../../../shared/domain/healthWatch';
import type { InstanceInfo } from '../../../shared/ports/rotations';
import {
  healthWatchTick,
  isHealthIncident,
  type HealthWatchInstances,
} from '../../../shared/triggers/healthWatch';
import { healthIncident } from '../../support/healthIncidents';

/**
 * The health watch carries the incidents of the last pass (its output, or its input when it ended
 * without one) into the next pass's input, which the durable boundary checks against the contract's
 * schema. An incident the tick keeps but the schema refuses fails that pass, and the next tick carries
 * the same input again: every pass would fail forever.
 */
const HEALTH_WATCH = { kind: 'healthWatch', name: 'fleetHealthWatch' } as const;
const NOW = new Date('2026-12-05T00:00:00Z');

const valid = healthIncident({ causes: [{ code: 'KeyVersionDisabled', slot: 'primary', what: 'x' }] });
const without = (field: keyof typeof valid): Record<string, unknown> => {
  const { [field]: _, ...rest } = valid;
  return rest;
};

class OneInstance implements HealthWatchInstances {
  constructor(
    public info: InstanceInfo,
    public started: HealthWatchInput[] = [],
  ) {}
  status(): Promise<InstanceInfo> {
    return Promise.resolve(this.info);
  }
  start(input: HealthWatchInput): Promise<'started'> {
    this.started.push(input);
    this.info = { runtimeStatus: 'Running', output: null, input };
    return Promise.resolve('started');
  }
}

describe('isHealthIncident accepts exactly the incidents the health watch input schema accepts', () => {
  it.each([
    ['a complete incident', valid, true],
    ['one marked resolving', { ...valid, resolving: true }, true],
    ['a cause without slot', { ...valid, causes: [{ code: 'Undetermined', what: 'x' }] }, true],
    ['no subscriptionId', without('subscriptionId'), false],
    ['no severity', without('severity'), false],
    ['a severity other than critical', { ...valid, severity: 'warning' }, false],
    ['no summary', without('summary'), false],
    ['no paged', without('paged'), false],
    ['paged as a string', { ...valid, paged: 'true' }, false],
    ['no since', without('since'), false],
    ['resolving that is not a boolean', { ...valid, resolving: 'yes' }, false],
    ['a cause code outside the contract', { ...valid, causes: [{ code: 'Broken', what: 'x' }] }, false],
    ['a cause without words', { ...valid, causes: [{ code: 'Undetermined' }] }, false],
    [
      'a cause slot outside the contract',
      { ...valid, causes: [{ code: 'Undetermined', slot: 'x', what: 'x' }] },
      false,
    ],
    ['causes that are not a list', { ...valid, causes: {} }, false],
    ['null', null, false],
  ])('%s: %p', (_, incident, accepted) => {
    expect(isHealthIncident(incident)).toBe(accepted);
    const input = { schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, trigger: 'health:t0', open: [incident] };
    expect(contractProblem(HEALTH_WATCH, 'input', input) === undefined).toBe(accepted);
  });
});

describe('a malformed incident carried from a failed pass', () => {
  // Every field the guard checked before, but none of subscriptionId, severity, summary, paged.
  const malformed = {
    dedupKey: 'cmk-health:pg-b:0123456789ab',
    serverId: '/subscriptions/s/x/pg-b',
    serverName: 'pg-b',
    since: 't',
    nextStep: 'n',
    causes: [],
  };

  it('is dropped (named for a warning): the next pass starts from an input the boundary accepts, the others kept', async () => {
    const watch = new OneInstance({
      runtimeStatus: 'Failed',
      output: undefined,
      input: { schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, trigger: 'health:t0', open: [malformed, valid] },
    });
    const outcome = await healthWatchTick(watch, NOW);
    expect(outcome).toEqual({ kind: 'started', open: 1, dropped: ['cmk-health:pg-b:0123456789ab'] });
    expect(watch.started[0]?.open).toEqual([valid]);
    expect(contractProblem(HEALTH_WATCH, 'input', watch.started[0])).toBeUndefined();
  });

  it('the loop is broken: a pass that fails again does not carry it into the pass after', async () => {
    const watch = new OneInstance({
      runtimeStatus: 'Failed',
      output: undefined,
      input: { schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, trigger: 'health:t0', open: [malformed] },
    });
    await healthWatchTick(watch, NOW);
    watch.info = { ...watch.info, runtimeStatus: 'Failed' };
    const second = await healthWatchTick(watch, NOW);
    expect(second).toEqual({ kind: 'started', open: 0 });
    expect(watch.started.map((i) => contractProblem(HEALTH_WATCH, 'input', i)?.message)).toEqual([
      undefined,
      undefined,
    ]);
  });
});
