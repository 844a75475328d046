import type { DurableClient, DurableOrchestrationStatus, GetStatusOptions } from 'durable-functions';
import { DurableHealthWatch } from '../../../shared/adapters/durableHealthWatch';
import { HEALTH_WATCH_SCHEMA_VERSION } from '../../../shared/domain/healthWatch';

const INPUT = { schemaVersion: HEALTH_WATCH_SCHEMA_VERSION, trigger: 'health:t', open: [] };

// The library's client class (its package index exports the type only).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DurableClient: Client } = require('durable-functions/lib/src/durableClient/DurableClient') as {
  DurableClient: new (clientData: unknown) => DurableClient;
};
const CLIENT_DATA = {
  taskHubName: 'test',
  creationUrls: { createNewInstancePostUri: 'http://localhost/unused' },
  managementUrls: { statusQueryGetUri: 'http://localhost/unused' },
  baseUrl: 'http://localhost/unused',
};

/** A client whose reads and starts are counted (the durable-functions class, its HTTP calls replaced). */
class CountingClient extends Client {
  reads: (GetStatusOptions | undefined)[] = [];
  constructor(
    private readonly runtimeStatus: string,
    private readonly startError?: Error,
  ) {
    super(CLIENT_DATA);
  }
  override getStatus(_id: string, options?: GetStatusOptions): Promise<DurableOrchestrationStatus> {
    this.reads.push(options);
    const input = options?.showInput === true ? INPUT : null;
    return Promise.resolve({
      runtimeStatus: this.runtimeStatus,
      input,
    } as unknown as DurableOrchestrationStatus);
  }
  override startNew(): Promise<string> {
    return this.startError === undefined
      ? Promise.resolve('cmk-health-watch')
      : Promise.reject(this.startError);
  }
}

describe('DurableHealthWatch', () => {
  it.each(['Failed', 'Terminated', 'Completed', 'Running'])(
    'reads a %s instance once, with its input',
    async (runtimeStatus) => {
      const client = new CountingClient(runtimeStatus);
      const info = await new DurableHealthWatch(client).status();
      expect(client.reads).toEqual([{ showHistory: false, showInput: true }]);
      expect(info).toMatchObject({ runtimeStatus, input: INPUT });
    },
  );

  it.each([
    ['the local host', new Error('Webhook returned unexpected status code: 409')],
    ['Azure Storage', new Error('An Orchestration instance with the status Pending already exists.')],
  ])('a start refused by %s as already running answers alreadyRunning', async (_who, error) => {
    await expect(new DurableHealthWatch(new CountingClient('Running', error)).start(INPUT)).resolves.toBe(
      'alreadyRunning',
    );
  });

  it('any other start failure is thrown', async () => {
    const client = new CountingClient('Running', new Error('boom'));
    await expect(new DurableHealthWatch(client).start(INPUT)).rejects.toThrow('boom');
  });
});
