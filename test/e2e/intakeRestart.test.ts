import { KeyClient } from '@azure/keyvault-keys';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customEventsOf } from '../../local/azure/capture';
import type { RotationOutput } from '../../shared/rotation/contract';
import type { HostProcess } from '../support/hostProcess';
import { startHarness, waitFor, type Harness } from '../support/localAzure';
import { INSTANCE_ID, KEY, VAULT, demoFleet, startAppHost, subscribeIntake } from '../support/product';

jest.setTimeout(180_000);

const BROKEN = 'pg-reporting';

/**
 * Issue 23: one Event Grid event id never acts twice, also after the host restarts. The app has no
 * store of its own in Azure: the event's trigger lives in the durable instance (its execution's input
 * and custom status), which the task hub persists — here, the host's data directory.
 */
describe('the intake after a host restart (SIGKILL, same task hub data)', () => {
  let h: Harness;
  const hosts: HostProcess[] = [];
  afterAll(async () => {
    for (const host of hosts) await host.stop('SIGKILL').catch(() => undefined);
    await h.azure.close();
  });

  it('a redelivery of the event that started the rollout, even as another type, and a version-less event start nothing: the broken server keeps its one PATCH', async () => {
    h = await startHarness(demoFleet());
    const dataDir = mkdtempSync(join(tmpdir(), 'intake-restart-'));
    const launch = async () => {
      const host = await startAppHost(h.azure, demoFleet(), dataDir);
      hosts.push(host);
      return host;
    };
    const first = await launch();
    await subscribeIntake(h.azure, first);
    const keys = new KeyClient(`https://${VAULT}.vault.azure.net`, h.credential, h.clientOptions);
    const version = (await keys.rotateKey(KEY)).properties.version ?? '';
    const instance = async (host: HostProcess) => {
      const res = await fetch(
        `${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${host.durableTaskSystemKey}`,
      );
      return res.status === 404
        ? undefined
        : ((await res.json()) as { runtimeStatus: string; output?: RotationOutput });
    };
    await waitFor(
      'the rollout to complete',
      async () => ((await instance(first))?.runtimeStatus === 'Completed' ? true : undefined),
      120_000,
    );
    const accepted = () =>
      h.azure.requests.filter(
        (r) =>
          r.method === 'PATCH' &&
          r.status < 300 &&
          r.path.split('?')[0]?.endsWith(`/flexibleServers/${BROKEN}`),
      ).length;
    expect(accepted()).toBe(1);
    const original = h.azure.eventGrid.deliveries.find((d) => d.state === 'delivered')?.event ?? {};

    await first.stop('SIGKILL');
    const second = await launch();
    const post = async (event: Record<string, unknown>) => {
      const res = await fetch(
        `${second.url}/runtime/webhooks/eventgrid?functionName=keyVaultEvents&code=${second.eventGridSystemKey}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
          body: JSON.stringify([event]),
        },
      );
      await res.arrayBuffer();
      return res.status;
    };
    const data = original['data'] as Record<string, unknown>;
    expect(await post(original)).toBe(200);
    expect(await post({ ...original, eventType: 'Microsoft.KeyVault.KeyNearExpiry' })).toBe(200);
    expect(
      await post({
        ...original,
        id: 'versionless-after-restart',
        data: { ...data, Id: `https://${VAULT}.vault.azure.net/keys/${KEY}`, Version: undefined },
      }),
    ).toBe(200);

    const received = customEventsOf(h.azure.captures.telemetry).filter(
      (e) => e.name === 'CmkRotation.EventReceived',
    );
    expect(received.map((e) => e.properties['reason'])).toEqual([
      'rotation started',
      'this event (same id) already started the rotation: duplicate ignored',
      'this event (same id) already started the rotation: duplicate ignored',
      'the last rotation already handled this version: duplicate ignored',
    ]);
    expect(received[3]?.properties['toVersion']).toBe(version);
    expect((await instance(second))?.runtimeStatus).toBe('Completed');
    expect(accepted()).toBe(1);
  });
});
