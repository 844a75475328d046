import {
  createRotationActivities,
  registerableSteps,
} from '../../../shared/rotation/activities/rotationActivities';
import { ArmServerFleet } from '../../../shared/adapters/armServerFleet';
import { KeyVaultKeysAdapter } from '../../../shared/adapters/keyVaultKeysAdapter';
import type { AuditRecord } from '../../../shared/domain/audit';
import type { KeyInfo } from '../../../shared/domain/model';
import {
  ROTATION_SCHEMA_VERSION,
  type ServerOutcome,
  type ServerRolloverInput,
  type StepName,
} from '../../../shared/rotation/contract';
import type { AuditTrail } from '../../../shared/ports/auditTrail';
import type { PageOutcome, Pager } from '../../../shared/ports/pager';
import { serverRolloverOrchestrator } from '../../../shared/rotation/orchestrators/serverRollover';
import { KEY, SUB_A, SUB_B, V1, V2, VAULT, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';
import { keyInfo, keyVersion } from '../../support/keys';
import { runOrchestration } from '../../support/orchestration';

/**
 * Issue 13: at most four ARM requests per server on the happy path — the read before the write, the
 * PATCH, ARM's operation status until done, one verifying read — counted in the ARM stand-in's request
 * log while the real server-rollover orchestrator drives the real activities over the real SDK client.
 */
const POLL_SECONDS = 1;
const key: KeyInfo = keyInfo(
  [
    keyVersion(V1, '2026-01-01T00:00:00Z', { vaultUrl: VAULT_URL, name: KEY }),
    keyVersion(V2, '2026-10-01T00:00:00Z', { vaultUrl: VAULT_URL, name: KEY }),
  ],
  { vaultUrl: VAULT_URL, vaultName: VAULT, name: KEY },
);

class Audit implements AuditTrail {
  readonly records: AuditRecord[] = [];
  record(records: readonly AuditRecord[]): Promise<void> {
    this.records.push(...records);
    return Promise.resolve();
  }
}
class NoPager implements Pager {
  trigger(): Promise<PageOutcome[]> {
    return Promise.resolve([]);
  }
  resolve(): Promise<PageOutcome[]> {
    return Promise.resolve([]);
  }
}

describe('ARM requests per server, counted at the ARM stand-in', () => {
  let h: Harness;
  beforeAll(async () => {
    // The operation takes 300 ms; the poll comes one durable timer (1 s) after the PATCH.
    h = await startHarness(testFleet(2).fleet, { updateDurationMs: 300 });
  });
  afterAll(async () => {
    await h.azure.close();
  });

  async function rollover(sub: string, rg: string, name: string) {
    const fleet = new ArmServerFleet({
      credential: h.credential,
      subscriptions: [SUB_A, SUB_B],
      clientOptions: h.clientOptions,
    });
    const audit = new Audit();
    const steps = registerableSteps(
      createRotationActivities({
        keys: new KeyVaultKeysAdapter({ credential: h.credential, clientOptions: h.clientOptions }),
        fleet,
        pager: new NoPager(),
        audit,
      }),
    );
    const input: ServerRolloverInput = {
      schemaVersion: ROTATION_SCHEMA_VERSION,
      correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
      trigger: 'event:e1',
      key,
      targetVersion: V2,
      server: { serverId: serverId(sub, rg, name), serverName: name, subscriptionId: sub },
      settings: {
        optOutTag: 'cmk-rotation-optout',
        pollIntervalSeconds: POLL_SECONDS,
        operationTimeoutMinutes: 5,
        maxWriteAttempts: 4,
      },
    };
    const before = h.azure.requests.length;
    const run = await runOrchestration(serverRolloverOrchestrator, input, async (call) => {
      // The durable timer before a poll really passes (the driver fires timers at once).
      if (call.name === 'pollServerUpdate') await new Promise((r) => setTimeout(r, POLL_SECONDS * 1000));
      const step = steps[call.name as StepName] as (i: unknown) => Promise<unknown>;
      return { result: await step(call.input) };
    });
    const arm = h.azure.requests
      .slice(before)
      .filter((r) => r.service === 'arm')
      .map((r) => `${r.method} ${r.operation} ${r.status}`);
    return { out: run.output as ServerOutcome, arm, audit };
  }

  it('a server moved to the new version costs four: read, PATCH, operation status, verifying read', async () => {
    const { out, arm, audit } = await rollover(SUB_A, 'rg-a', 'pg-a');
    expect(out).toMatchObject({ outcome: 'updated', slots: [{ slot: 'primary', from: V1, to: V2 }] });
    expect(arm).toEqual([
      'GET servers.get 200',
      'PATCH servers.update 202',
      'GET operations.get 200',
      'GET servers.get 200',
    ]);
    // The last-known-good went on record before the PATCH, by the write step itself.
    expect(audit.records.map((r) => r.step)).toEqual(['ServerUpdateStarted', 'ServerVerified']);
    // What ARM said is left of the subscription's quota came back with the outcome.
    expect(out.armQuota?.reads).toEqual(expect.any(Number));
    expect(out.armQuota?.writes).toEqual(expect.any(Number));
    expect(out.armQuota?.reads).toBeLessThan(250);
  });

  it('a server with a geo-backup key in another vault costs the same four', async () => {
    const { out, arm } = await rollover(SUB_B, 'rg-b', 'pg-b');
    expect(out.outcome).toBe('updated');
    expect(arm).toHaveLength(4);
  });

  it('a server already on the target costs one read, which is also its verification', async () => {
    const { out, arm } = await rollover(SUB_A, 'rg-a', 'pg-c');
    expect(out.outcome).toBe('verified');
    expect(arm).toEqual(['GET servers.get 200']);
  });

  it('a throttled PATCH is retried after Retry-After, each attempt reading first, and costs no other extra request', async () => {
    await h.admin('faults', {
      method: 'POST',
      body: {
        service: 'arm',
        operation: 'servers.update',
        pathContains: 'pg-x0',
        status: 429,
        retryAfterSeconds: 1,
        count: 2,
      },
    });
    try {
      const { out, arm, audit } = await rollover(SUB_A, 'rg-x', 'pg-x0');
      expect(out.outcome).toBe('updated');
      // The SDK never resends a write (shared/adapters/writeOnce.ts): each refusal reaches the
      // orchestrator, which waits Retry-After and reads before it writes again.
      expect(arm.filter((r) => r.startsWith('PATCH') || r.startsWith('GET servers.get'))).toEqual([
        'GET servers.get 200',
        'PATCH servers.update 429',
        'GET servers.get 200',
        'PATCH servers.update 429',
        'GET servers.get 200',
        'PATCH servers.update 202',
        'GET servers.get 200',
      ]);
      expect(audit.records.filter((r) => r.step === 'ServerUpdateRetried')).toHaveLength(2);
      expect(out.armQuota).toBeDefined();
    } finally {
      await h.admin('faults', { method: 'DELETE' });
    }
  });
});
