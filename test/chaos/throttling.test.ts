import { KeyClient } from '@azure/keyvault-keys';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customEventsOf } from '../../local/azure/capture';
import type { RotationOutput } from '../../shared/rotation/contract';
import type { HostProcess } from '../support/hostProcess';
import { startHarness, waitFor } from '../support/localAzure';
import { INSTANCE_ID, KEY, VAULT, demoFleet, startAppHost, subscribeIntake } from '../support/product';

jest.setTimeout(300_000);

const THROTTLED = 'pg-orders-prod';

/**
 * Issue 23: ARM throttles one server's PATCH again and again — 429 with Retry-After 2 s four times,
 * then Retry-After 5 s five times: nine in a row, more than the write budget (8 attempts). A 429 is the
 * quota telling us to wait (ARM refused the request; no operation started), so the server waits it out
 * and is verified on the new version, with no page and exactly one accepted PATCH.
 */
describe('chaos: an ARM 429 storm on one server', () => {
  it('waits out 9 consecutive 429s (Retry-After 2 s, then 5 s): the server verifies on the new version, one accepted PATCH, no page', async () => {
    const h = await startHarness(demoFleet());
    let host: HostProcess | undefined;
    try {
      // Rules see every matching request: the second one's count covers the first four too.
      h.azure.faults.add({
        service: 'arm',
        operation: 'servers.update',
        pathContains: `/flexibleServers/${THROTTLED}`,
        status: 429,
        code: 'TooManyRequests',
        retryAfterSeconds: 2,
        count: 4,
      });
      h.azure.faults.add({
        service: 'arm',
        operation: 'servers.update',
        pathContains: `/flexibleServers/${THROTTLED}`,
        status: 429,
        code: 'TooManyRequests',
        retryAfterSeconds: 5,
        count: 9,
      });
      host = await startAppHost(h.azure, demoFleet(), mkdtempSync(join(tmpdir(), 'throttling-')));
      await subscribeIntake(h.azure, host);
      const keys = new KeyClient(`https://${VAULT}.vault.azure.net`, h.credential, h.clientOptions);
      const version = (await keys.rotateKey(KEY)).properties.version ?? '';
      const current = host;
      const output = await waitFor(
        'the rotation to complete',
        async () => {
          const res = await fetch(
            `${current.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${current.durableTaskSystemKey}`,
          );
          if (res.status === 404) return undefined;
          const i = (await res.json()) as { runtimeStatus?: string; output?: RotationOutput };
          if (i.runtimeStatus === 'Failed') throw new Error('the rotation Failed');
          return i.runtimeStatus === 'Completed' && i.output?.targetVersion === version
            ? i.output
            : undefined;
        },
        240_000,
      );

      const patches = h.azure.requests.filter(
        (r) => r.method === 'PATCH' && r.path.split('?')[0]?.endsWith(`/flexibleServers/${THROTTLED}`),
      );
      expect(patches.map((r) => r.status)).toEqual([...Array.from({ length: 9 }, () => 429), 202]);
      // ARM is the truth: one operation, the server on the new version.
      const operations = [...h.azure.world.operations.values()].filter((o) =>
        o.serverId.toLowerCase().endsWith(`/${THROTTLED}`),
      );
      expect(operations).toHaveLength(1);
      const server = [...h.azure.world.servers.values()].find((s) => s.json['name'] === THROTTLED);
      const de = (server?.json['properties'] as { dataEncryption?: { primaryKeyURI?: string } })
        .dataEncryption;
      expect(de?.primaryKeyURI?.endsWith(`/${version}`)).toBe(true);
      // Not failed, not paged; each wait audited.
      expect(output.servers.find((s) => s.serverName === THROTTLED)).toBeUndefined();
      const pages = h.azure.captures.pages.filter(
        (e) => e.eventAction === 'trigger' && e.dedupKey.includes(`:server:${THROTTLED}:`),
      );
      expect(pages).toEqual([]);
      const audit = customEventsOf(h.azure.captures.telemetry).filter((e) =>
        e.properties['serverId']?.endsWith(`/${THROTTLED}`),
      );
      expect(
        audit
          .filter((e) => e.name === 'CmkRotation.ServerUpdateRetried')
          .map((e) => e.properties['detail.waitSeconds']),
      ).toEqual(['2', '2', '2', '2', '5', '5', '5', '5', '5']);
      expect(audit.filter((e) => e.name === 'CmkRotation.ServerVerified')).toHaveLength(1);
      expect(audit.filter((e) => e.name === 'CmkRotation.ServerFailed')).toEqual([]);
    } finally {
      await host?.stop('SIGKILL').catch(() => undefined);
      await h.azure.close();
    }
  });
});
