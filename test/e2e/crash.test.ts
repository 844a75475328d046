import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyClient } from '@azure/keyvault-keys';
import { customEventsOf } from '../../local/azure/capture';
import { serverResults } from '../../local/results';
import type { RotationOutput } from '../../shared/rotation/contract';
import type { HostProcess } from '../support/hostProcess';
import { startHarness, waitFor, type Harness } from '../support/localAzure';
import {
  ELIGIBLE,
  INSTANCE_ID,
  KEY,
  VAULT,
  demoFleet,
  killedInWriteWindow,
  startAppHost,
  subscribeIntake,
} from '../support/product';

jest.setTimeout(120_000);

/**
 * The host dies (SIGKILL) in the middle of a rollout while the stand-ins keep running, as Azure would.
 * A new host on the same task hub data resumes the orchestrations from their persisted histories.
 */
describe.each([
  ['the app in the host', [] as string[]],
  ['the app in a worker process', ['--workers', '1']],
])('a crash of the host mid-rollout (%s)', (_mode, hostArgs) => {
  let h: Harness;
  const hosts: HostProcess[] = [];
  beforeAll(async () => {
    h = await startHarness(demoFleet());
  });
  afterAll(async () => {
    for (const host of hosts) await host.stop('SIGKILL');
    await h.azure.close();
  });

  it('resumes after a restart; no server verified before the crash is PATCHed again', async () => {
    const fleet = demoFleet();
    const dataDir = mkdtempSync(join(tmpdir(), 'crash-'));
    const launch = async () => {
      const host = await startAppHost(h.azure, fleet, dataDir, hostArgs);
      hosts.push(host);
      return host;
    };
    const first = await launch();
    if (hostArgs.length > 0) expect(first.logs()).toMatch(/worker 0 ready \(pid \d+\)/);
    await subscribeIntake(h.azure, first);
    const keys = new KeyClient(`https://${VAULT}.vault.azure.net`, h.credential, h.clientOptions);
    const v3 = (await keys.rotateKey(KEY)).properties.version ?? '';

    const audit = () => customEventsOf(h.azure.captures.telemetry);
    const serverOf = (e: { properties: Record<string, string> }) =>
      e.properties['serverId']?.split('/').pop() ?? '';
    // Kill once the canary is verified and the main ring is being PATCHed (ARM accepted a second
    // PATCH: ServerUpdateStarted is only written with a server's first look, after its operation).
    await waitFor(
      'the main ring to start',
      () =>
        h.azure.requests.filter((r) => r.method === 'PATCH' && r.status === 202).length >= 2
          ? true
          : undefined,
      60_000,
    );
    const killedAt = h.azure.world.clock.now();
    await first.stop('SIGKILL');
    const verifiedBeforeCrash = audit()
      .filter((e) => e.name === 'CmkRotation.ServerVerified')
      .map(serverOf);
    expect(verifiedBeforeCrash).toContain('pg-orders-prod');
    // The crash really is mid-rollout: part of the main ring was not verified yet.
    expect(ELIGIBLE.filter((n) => verifiedBeforeCrash.includes(n)).length).toBeLessThan(ELIGIBLE.length);

    const second = await launch();
    const output = await waitFor(
      'the resumed rotation to complete',
      async () => {
        const res = await fetch(
          `${second.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${second.durableTaskSystemKey}`,
        );
        const body = (await res.json()) as { runtimeStatus?: string; output?: RotationOutput };
        return body.runtimeStatus === 'Completed' ? body.output : undefined;
      },
      60_000,
    );
    expect(output.targetVersion).toBe(v3);
    const results = serverResults(output, audit(), INSTANCE_ID);
    for (const name of ELIGIBLE) expect(results.find((s) => s.name === name)?.outcome).toBe('updated');

    // PATCHes ARM accepted (202). A re-run PATCH that finds the first one still running gets 409
    // (ServerBusy) and is retried: refused requests change nothing and are not counted.
    const patches = (name: string) =>
      h.azure.requests.filter(
        (r) =>
          r.method === 'PATCH' &&
          r.status < 300 &&
          r.path.split('?')[0]?.endsWith(`/flexibleServers/${name}`),
      ).length;
    for (const name of verifiedBeforeCrash) expect(patches(name)).toBe(ELIGIBLE.includes(name) ? 1 : 0);
    // A server in flight at the crash is not PATCHed again either: the re-run write re-reads it first
    // (Updating: wait for it; already on the target: verify).
    for (const name of ELIGIBLE) expect(patches(name)).toBe(1);
    // Every step recorded once per auditId: a step re-run after the crash repeats its auditId only.
    const started = audit().filter((e) => e.name === 'CmkRotation.ServerUpdateStarted');
    expect(new Set(started.map((e) => serverOf(e))).size).toBe(
      new Set(started.map((e) => e.properties['auditId'])).size,
    );
    // And none is lost: every server ARM accepted a PATCH for has its record, the crash between the
    // PATCH and the look that carries the record included, but for one the kill cut off inside the
    // write step's window.
    for (const op of h.azure.world.operations.values())
      if (!killedInWriteWindow(op.startTime, [killedAt]))
        expect(started.map(serverOf)).toContain(op.serverId.split('/').pop());
    for (const r of h.azure.world.servers.values()) {
      const name = String(r.json['name']);
      if (!ELIGIBLE.includes(name)) continue;
      const de = (r.json['properties'] as { dataEncryption: { primaryKeyURI: string } }).dataEncryption;
      expect(de.primaryKeyURI.endsWith(`/${v3}`)).toBe(true);
    }
  });
});
