import { waitFor } from '../support/localAzure';
import { INSTANCE_ID, KEY, startProduct, type Product } from '../support/product';

// Issue 20 §3: a key event raised while the finishing run sends its last records (after it looked at
// its signals) found the instance Running, was answered "signalled", and was never read: the
// instance completed on the older version and the newer one waited for the sweep. Through local/host:
// the completion record is held at the ingestion stand-in while Key Vault makes a newer version.

jest.setTimeout(240_000);

async function customStatus(p: Product): Promise<{ phase?: string; running: boolean } | undefined> {
  const res = await fetch(
    `${p.hostUrl}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${p.systemKey}`,
  );
  // 202 while the instance runs, 200 once it ended (the Durable Functions HTTP API).
  if (res.status !== 200 && res.status !== 202) return (await res.arrayBuffer(), undefined);
  const body = (await res.json()) as { runtimeStatus?: string; customStatus?: { phase?: string } };
  return { phase: body.customStatus?.phase, running: body.runtimeStatus === 'Running' };
}

describe('a signal raised while the rotation finishes', () => {
  let p: Product | undefined;
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });

  it('a newer version created while the run sends its completion record is rolled out (the signal is read, not lost)', async () => {
    p = await startProduct();
    const product = p;
    // Every key read takes 2 s: the run's last read of the key (its first step when finishing) leaves
    // the test time to hold the completion record that follows it.
    await product.admin('faults', {
      method: 'POST',
      body: { service: 'keyvault', operation: 'keys.get', latencyMs: 2000 },
    });
    const first = (await product.keys.rotateKey(KEY)).properties.version ?? '';
    await waitFor(
      'the run to reach its finishing phase',
      async () => {
        const s = await customStatus(product);
        return s?.running === true && s.phase === 'finishing' ? true : undefined;
      },
      120_000,
    );
    // From now on every audit record takes 10 s at the ingestion stand-in: the run's completion record
    // (sent after its look at the signals) is held there while the newer version's event arrives.
    await product.admin('faults', { method: 'POST', body: { service: 'ingestion', latencyMs: 10000 } });
    await waitFor('the completion record to reach the ingestion stand-in', async () => {
      const rules = await product.admin<{ service: string; seen: number }[]>('faults');
      return (rules.find((r) => r.service === 'ingestion')?.seen ?? 0) > 0 ? true : undefined;
    });
    const second = (await product.keys.rotateKey(KEY)).properties.version ?? '';
    const received = await waitFor('the intake to take the newer version', async () =>
      (await product.audit()).find(
        (e) => e.name === 'CmkRotation.EventReceived' && e.properties['toVersion'] === second,
      ),
    );
    // The intake found the run still Running: it signalled it (and did not start a run of its own).
    expect(received.properties['reason']).toBe('rotation already running: signalled');
    await product.admin('faults', { method: 'DELETE' });

    const out = await product.completed(second, 120_000);
    expect(out.targetVersion).toBe(second);
    // The first run completed on its own version (its completion recorded as such, not superseded):
    // the event came after its look at the signals.
    const completions = (await product.audit()).filter((e) => e.name === 'CmkRotation.RotationCompleted');
    expect(completions.find((e) => e.properties['toVersion'] === first)?.properties['reasonCode']).not.toBe(
      'Superseded',
    );
    const versions = await product.primaryVersions();
    for (const name of ['pg-orders-prod', 'pg-billing-prod', 'pg-inventory-prod'])
      expect(versions[name]).toBe(second);
  });
});
