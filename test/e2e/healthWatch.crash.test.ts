import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customEventsOf } from '../../local/azure/capture';
import type { HostProcess } from '../support/hostProcess';
import { startHarness, waitFor, type Harness } from '../support/localAzure';
import { demoFleet, startAppHost } from '../support/product';

jest.setTimeout(120_000);

/**
 * The host dies (SIGKILL) right after the health watch paged, while the stand-ins keep running; a new
 * host on the same task hub data resumes. The broken server (the demo fleet's pg-reporting, whose
 * identity has no grant) stays one PagerDuty incident, and the passes after the restart page it no more:
 * the open incident survived the crash in the durable store.
 */
describe('a crash of the host while the health watch pages', () => {
  let h: Harness;
  const hosts: HostProcess[] = [];
  const previous = process.env['CMK_HEALTH_WATCH_SCHEDULE'];
  beforeAll(async () => {
    h = await startHarness(demoFleet());
    process.env['CMK_HEALTH_WATCH_SCHEDULE'] = '*/2 * * * * *';
  });
  afterAll(async () => {
    if (previous === undefined) delete process.env['CMK_HEALTH_WATCH_SCHEDULE'];
    else process.env['CMK_HEALTH_WATCH_SCHEDULE'] = previous;
    for (const host of hosts) await host.stop('SIGKILL');
    await h.azure.close();
  });

  it('resumes; the server stays one incident and is not paged again by later passes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'health-crash-'));
    const launch = async () => {
      const host = await startAppHost(h.azure, demoFleet(), dataDir);
      hosts.push(host);
      return host;
    };
    const triggers = () =>
      h.azure.captures.pages.filter(
        (e) => e.eventAction === 'trigger' && e.dedupKey.startsWith('cmk-health:pg-reporting:'),
      );
    const passes = () =>
      customEventsOf(h.azure.captures.telemetry).filter((e) => e.name === 'CmkRotation.HealthChecked').length;

    const first = await launch();
    await waitFor('the first health page', () => (triggers().length > 0 ? true : undefined), 60_000);
    await first.stop('SIGKILL');

    await launch();
    const after = passes();
    await waitFor('three passes after the restart', () => (passes() >= after + 3 ? true : undefined), 60_000);
    const settled = triggers().length;
    // At most the page of a pass the crash cut short is sent again, under the same dedup key.
    expect(settled).toBeLessThanOrEqual(2);
    expect(new Set(triggers().map((e) => e.dedupKey)).size).toBe(1);
    const key = triggers()[0]?.dedupKey ?? '';
    expect(h.azure.captures.incidents.get(key)?.status).toBe('triggered');

    const more = passes();
    await waitFor('three more passes', () => (passes() >= more + 3 ? true : undefined), 60_000);
    expect(triggers()).toHaveLength(settled);
  });
});
