import type { RotationInput } from '../../../shared/rotation/contract';
import type { InstanceInfo, ListedInstance, RotationInstances } from '../../../shared/ports/rotations';
import {
  coveredByEndedRun,
  requestRotation,
  RunClosingError,
  startedBySameEvent,
  type RotationRequest,
} from '../../../shared/triggers/rotationRequests';
import { rotationSettings } from '../../../shared/config';
import { config } from './fakes';

const SETTINGS = rotationSettings(config);

const V3 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';

const request = (reason: RotationRequest['reason'], version: string | undefined): RotationRequest => ({
  vaultUrl: 'https://contoso-pg-kv.vault.azure.net',
  vaultName: 'contoso-pg-kv',
  keyName: 'pg-cmk',
  trigger: 't',
  reason,
  version,
});
const terminated: InstanceInfo = { runtimeStatus: 'Terminated', output: { targetVersion: V3 } };
const completed = (targetVersion: string | undefined): InstanceInfo => ({
  runtimeStatus: 'Completed',
  output: { status: 'completed', targetVersion },
});

describe('is a request raised to an instance that then ended covered by that run?', () => {
  it.each([
    ['an event for the version the run handled', request('KeyNewVersionCreated', V3), completed(V3), true],
    ['the same, version in other case', request('KeyNearExpiry', V3.toUpperCase()), completed(V3), true],
    ['an event for another version', request('KeyNewVersionCreated', V3), completed(V2), false],
    [
      'an event when the run handled no version',
      request('KeyNewVersionCreated', V3),
      completed(undefined),
      false,
    ],
    [
      'a request naming no version (the run re-examined everything)',
      request('Sweep', undefined),
      completed(V2),
      true,
    ],
    ['a sweep naming a newer version than the run handled', request('Sweep', V3), completed(V2), false],
    [
      'an operator request (asks for a run whatever happened)',
      request('Operator', undefined),
      completed(V3),
      false,
    ],
    [
      'any request when the run Failed or was Terminated',
      request('KeyNewVersionCreated', V3),
      terminated,
      false,
    ],
    ['any request when the instance is gone', request('Sweep', undefined), undefined, false],
  ])('%s', (_, req, ended, covered) => {
    expect(coveredByEndedRun(req, ended)).toBe(covered);
  });
});

describe('a request raised to a run that is taking its last look at its signals (closing)', () => {
  /** A task hub whose instance answers `afterRaise` in turn to each read after the raise. */
  class ClosingInstances implements RotationInstances {
    readonly started: RotationInput[] = [];
    raised = 0;
    constructor(
      private readonly before: InstanceInfo,
      private readonly afterRaise: InstanceInfo[],
    ) {}
    status(): Promise<InstanceInfo | undefined> {
      if (this.raised === 0) return Promise.resolve(this.before);
      return Promise.resolve(this.afterRaise.length > 1 ? this.afterRaise.shift() : this.afterRaise[0]);
    }
    start(_id: string, input: RotationInput): Promise<'started' | 'alreadyRunning'> {
      this.started.push(input);
      return Promise.resolve('started');
    }
    raise(): Promise<void> {
      this.raised++;
      return Promise.resolve();
    }
    list(): Promise<ListedInstance[]> {
      return Promise.resolve([]);
    }
  }
  const running = (closing: boolean): InstanceInfo => ({
    runtimeStatus: 'Running',
    output: undefined,
    customStatus: {
      phase: 'finishing',
      trigger: 't0',
      targetVersion: V2,
      ...(closing ? { closing: true } : {}),
    },
  });
  const noPause = { polls: 40, pause: () => Promise.resolve() };

  it.each([
    ['a newer version', request('KeyNewVersionCreated', V3)],
    ['an operator request', request('Operator', undefined)],
  ])(
    '%s: the intake waits for the run to end, and it completed without it: started again',
    async (_, req) => {
      const instances = new ClosingInstances(running(false), [running(true), running(true), completed(V2)]);
      const outcome = await requestRotation(instances, req, SETTINGS, noPause);
      expect(instances.raised).toBe(1);
      expect(outcome.kind).toBe('started');
      expect(instances.started).toHaveLength(1);
    },
  );

  it('the run continued as new (it read the signal): signalled, nothing started', async () => {
    const next: InstanceInfo = {
      runtimeStatus: 'Running',
      output: undefined,
      customStatus: { phase: 'reading', trigger: 't', counts: {}, current: [] },
    };
    const instances = new ClosingInstances(running(false), [running(true), next]);
    expect((await requestRotation(instances, request('Operator', undefined), SETTINGS, noPause)).kind).toBe(
      'signalled',
    );
    expect(instances.started).toEqual([]);
  });

  it('a run not closing is not waited for: signalled (its last look is still ahead)', async () => {
    const pauses: number[] = [];
    const instances = new ClosingInstances(running(false), [running(false), completed(V2)]);
    const outcome = await requestRotation(instances, request('KeyNewVersionCreated', V3), SETTINGS, {
      polls: 40,
      pause: (ms) => (pauses.push(ms), Promise.resolve()),
    });
    expect(outcome.kind).toBe('signalled');
    expect(pauses).toEqual([]);
  });

  it.each([
    ['an event', request('KeyNewVersionCreated', V3)],
    ['an operator request', request('Operator', undefined)],
  ])(
    '%s raised to a run still closing when the wait runs out: RunClosing (retryable), never "signalled", nothing started',
    async (_, req) => {
      const instances = new ClosingInstances(running(false), [running(true)]);
      const pauses: number[] = [];
      const outcome = requestRotation(instances, req, SETTINGS, {
        polls: 3,
        pause: (ms) => (pauses.push(ms), Promise.resolve()),
      });
      await expect(outcome).rejects.toBeInstanceOf(RunClosingError);
      await expect(outcome).rejects.toMatchObject({ code: 'RunClosing', retryable: true });
      expect(instances.raised).toBe(1);
      expect(pauses).toHaveLength(3);
      expect(instances.started).toEqual([]);
    },
  );
});

describe('the same event id is a duplicate only while its run is active or after it Completed', () => {
  const EVENT = 'event:11111111-2222-3333-4444-555555555555';
  const byEvent = (runtimeStatus: InstanceInfo['runtimeStatus']): InstanceInfo => ({
    runtimeStatus,
    input: { trigger: EVENT },
    output: undefined,
  });
  it.each([
    ['Pending', true],
    ['Running', true],
    ['Suspended', true],
    ['Completed', true],
    ['Failed', false],
    ['Terminated', false],
  ] as const)('the execution it started is %s: duplicate %s', (status, duplicate) => {
    expect(
      startedBySameEvent({ ...request('KeyNewVersionCreated', V3), trigger: EVENT }, byEvent(status)),
    ).toBe(duplicate);
  });

  it('a redelivery after its run Failed starts the rotation again', async () => {
    const started: RotationInput[] = [];
    const instances: RotationInstances = {
      status: () => Promise.resolve(byEvent('Failed')),
      start: (_id, input) => (started.push(input), Promise.resolve('started')),
      raise: () => Promise.resolve(),
      list: () => Promise.resolve([]),
    };
    const outcome = await requestRotation(
      instances,
      { ...request('KeyNewVersionCreated', V3), trigger: EVENT },
      SETTINGS,
    );
    expect(outcome.kind).toBe('started');
    expect(started).toHaveLength(1);
  });
});

describe('the open incidents a run left are carried into the next, even when it ended without an output', () => {
  const incidents = [
    {
      dedupKey: 'cmk-rotation:server:pg-a',
      kind: 'server',
      serverId: '/subscriptions/s/x/pg-a',
      version: V3,
    },
    { dedupKey: 'cmk-rotation:expiry:pg-cmk', kind: 'expiry' },
  ];
  const malformed = [
    { dedupKey: 'k-unknown-kind', kind: 'health' },
    { dedupKey: 'k-server-number', kind: 'server', serverId: 42 },
    { kind: 'rotation' },
  ];
  const startedFrom = async (current: InstanceInfo): Promise<RotationInput | undefined> => {
    const started: RotationInput[] = [];
    const instances: RotationInstances = {
      status: () => Promise.resolve(current),
      start: (_id, input) => (started.push(input), Promise.resolve('started')),
      raise: () => Promise.resolve(),
      list: () => Promise.resolve([]),
    };
    await requestRotation(instances, request('Sweep', undefined), SETTINGS);
    return started[0];
  };

  it.each(['Failed', 'Terminated'] as const)(
    'a %s run (no output): the incidents of its input, the ones the contract accepts',
    async (runtimeStatus) => {
      const next = await startedFrom({
        runtimeStatus,
        input: { trigger: 'sweep:t0', openIncidents: [...incidents, ...malformed] },
        output: undefined,
      });
      expect(next?.openIncidents).toEqual(incidents);
    },
  );

  it('a Completed run: the incidents of its output, not of its input', async () => {
    const next = await startedFrom({
      runtimeStatus: 'Completed',
      input: { trigger: 'sweep:t0', openIncidents: incidents },
      output: { status: 'completed', targetVersion: V2, openIncidents: [incidents[1], ...malformed] },
    });
    expect(next?.openIncidents).toEqual([incidents[1]]);
  });
});
