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
import type { Incident } from '../../../shared/domain/incident';
import type { PageOutcome, Pager } from '../../../shared/ports/pager';
import { serverRolloverOrchestrator } from '../../../shared/rotation/orchestrators/serverRollover';
import { KEY, SUB_A, SUB_B, V1, V2, VAULT, VAULT_URL, serverId, testFleet } from '../../support/fleet';
import { startHarness, type Harness } from '../../support/localAzure';
import { keyInfo, keyVersion } from '../../support/keys';
import { runOrchestration } from '../../support/orchestration';

/**
 * Issues 13 and 22: three ARM requests per server on the happy path — the read before the write, the
 * PATCH, one read of the server once its operation ended, which is also the verification (ARM's
 * operation status only when the server ended off the target) — counted in the ARM stand-in's request
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
  readonly incidents: Incident[] = [];
  trigger(incident: Incident): Promise<PageOutcome[]> {
    this.incidents.push(incident);
    return Promise.resolve([]);
  }
  resolve(): Promise<PageOutcome[]> {
    return Promise.resolve([]);
  }
}

/** One server's rollover through the real activities; the driver fires durable timers at once. */
async function rollover(
  h: Harness,
  sub: string,
  rg: string,
  name: string,
  opts: {
    key?: KeyInfo;
    targetVersion?: string;
    /** Called with each activity about to run: a test breaks things here. */
    before?: (step: string, call: number) => Promise<void>;
    /** Runs the activity, then answers as if the worker died before its result was stored. */
    crashAfter?: (step: string, call: number) => boolean;
  } = {},
) {
  const fleet = new ArmServerFleet({
    credential: h.credential,
    subscriptions: [SUB_A, SUB_B],
    clientOptions: h.clientOptions,
  });
  const audit = new Audit();
  const pager = new NoPager();
  const steps = registerableSteps(
    createRotationActivities({
      keys: new KeyVaultKeysAdapter({ credential: h.credential, clientOptions: h.clientOptions }),
      fleet,
      pager,
      audit,
    }),
  );
  const input: ServerRolloverInput = {
    schemaVersion: ROTATION_SCHEMA_VERSION,
    correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    trigger: 'event:e1',
    key: opts.key ?? key,
    targetVersion: opts.targetVersion ?? V2,
    server: { serverId: serverId(sub, rg, name), serverName: name, subscriptionId: sub },
    settings: {
      optOutTag: 'cmk-rotation-optout',
      pollIntervalSeconds: POLL_SECONDS,
      operationTimeoutMinutes: 5,
      maxWriteAttempts: 4,
    },
  };
  const before = h.azure.requests.length;
  const calls: Record<string, number> = {};
  const run = await runOrchestration(serverRolloverOrchestrator, input, async (call) => {
    const n = (calls[call.name] = (calls[call.name] ?? 0) + 1);
    // The durable timer before a look at the server (or a read again after a crash) really passes
    // (the driver fires timers at once).
    if (
      call.name === 'verifyServer' ||
      call.name === 'pollServerUpdate' ||
      (call.name === 'updateServer' && n > 1)
    )
      await new Promise((r) => setTimeout(r, POLL_SECONDS * 1000));
    await opts.before?.(call.name, n);
    const step = steps[call.name as StepName] as (i: unknown) => Promise<unknown>;
    const result = await step(call.input);
    return opts.crashAfter?.(call.name, n) === true ? { error: 'host: worker died' } : { result };
  });
  const arm = h.azure.requests
    .slice(before)
    .filter((r) => r.service === 'arm')
    .map((r) => `${r.method} ${r.operation} ${r.status}`);
  return { out: run.output as ServerOutcome, arm, audit, pager };
}

describe('ARM requests per server, counted at the ARM stand-in', () => {
  let h: Harness;
  beforeAll(async () => {
    // The operation takes 300 ms; the first look comes one durable timer (1 s) after the PATCH.
    h = await startHarness(testFleet(2).fleet, { updateDurationMs: 300 });
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it('a server moved to the new version costs three: read, PATCH, one read of the server that is both the look at the operation and the verification', async () => {
    const { out, arm, audit } = await rollover(h, SUB_A, 'rg-a', 'pg-a');
    expect(out).toMatchObject({ outcome: 'updated', slots: [{ slot: 'primary', from: V1, to: V2 }] });
    expect(arm).toEqual(['GET servers.get 200', 'PATCH servers.update 202', 'GET servers.get 200']);
    // The last-known-good went on record before the PATCH, by the write step itself.
    expect(audit.records.map((r) => r.step)).toEqual(['ServerUpdateStarted', 'ServerVerified']);
    // What ARM said is left of the subscription's quota came back with the outcome.
    expect(out.armQuota?.reads).toEqual(expect.any(Number));
    expect(out.armQuota?.writes).toEqual(expect.any(Number));
    expect(out.armQuota?.reads).toBeLessThan(250);
  });

  it('a server with a geo-backup key in another vault costs the same three', async () => {
    const { out, arm } = await rollover(h, SUB_B, 'rg-b', 'pg-b');
    expect(out.outcome).toBe('updated');
    expect(arm).toHaveLength(3);
  });

  it('a server already on the target costs one read, which is also its verification', async () => {
    const { out, arm } = await rollover(h, SUB_A, 'rg-a', 'pg-c');
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
      const { out, arm, audit } = await rollover(h, SUB_A, 'rg-x', 'pg-x0');
      expect(out.outcome).toBe('updated');
      expect(arm.filter((r) => r.startsWith('GET operations.get'))).toEqual([]);
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

describe('after the PATCH was accepted, against the ARM stand-in: failures', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(testFleet(3).fleet, { updateDurationMs: 300 });
  });
  afterAll(async () => {
    await h.azure.close();
  });

  it("an operation that failed (the server Ready on its old key): ARM's operation status is read once, and the page carries ARM's error", async () => {
    // A version the vault does not hold: ARM takes the PATCH, its operation fails when the RP reaches
    // the vault, and the server stays on its key (the stand-in, local/azure/arm-patch.ts).
    const missing = 'ffffffffffffffffffffffffffffffff';
    const withMissing = keyInfo(
      [
        keyVersion(V1, '2026-01-01T00:00:00Z', { vaultUrl: VAULT_URL, name: KEY }),
        keyVersion(missing, '2026-10-01T00:00:00Z', { vaultUrl: VAULT_URL, name: KEY }),
      ],
      { vaultUrl: VAULT_URL, vaultName: VAULT, name: KEY },
    );
    const { out, arm, pager } = await rollover(h, SUB_A, 'rg-x', 'pg-x0', {
      key: withMissing,
      targetVersion: missing,
    });
    expect(arm).toEqual([
      'GET servers.get 200',
      'PATCH servers.update 202',
      'GET servers.get 200',
      'GET operations.get 200',
    ]);
    expect(out).toMatchObject({ outcome: 'failed', reasonCode: 'AzureKeyVaultKeyNotFound' });
    expect(out.reason).toContain('was not found in Azure Key Vault');
    expect(pager.incidents).toHaveLength(1);
  });

  it('a server that cannot be read after its PATCH was accepted: failed and paged, never PATCHed again', async () => {
    const { out, arm, pager } = await rollover(h, SUB_B, 'rg-x', 'pg-x1', {
      before: async (step, call) => {
        if (step === 'verifyServer' && call === 1)
          await h.admin('faults', {
            method: 'POST',
            body: { service: 'arm', operation: 'servers.get', pathContains: 'pg-x1', status: 500 },
          });
      },
    });
    await h.admin('faults', { method: 'DELETE' });
    expect(arm.filter((r) => r.startsWith('PATCH'))).toEqual(['PATCH servers.update 202']);
    expect(arm.filter((r) => r.startsWith('GET servers.get 500')).length).toBeGreaterThan(1);
    expect(out).toMatchObject({ outcome: 'failed' });
    expect(pager.incidents).toHaveLength(1);
  });

  it('a worker that dies between the PATCH and the first look: the write step runs again, reads first, finds the server on the target, and never PATCHes again', async () => {
    const { out, arm } = await rollover(h, SUB_A, 'rg-x', 'pg-x2', {
      crashAfter: (step, call) => step === 'updateServer' && call === 1,
    });
    expect(arm).toEqual(['GET servers.get 200', 'PATCH servers.update 202', 'GET servers.get 200']);
    expect(out.outcome).toBe('verified');
  });
});
