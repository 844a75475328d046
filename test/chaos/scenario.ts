import { KeyClient } from '@azure/keyvault-keys';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customEventsOf } from '../../local/azure/capture';
import type { FaultRule } from '../../local/azure/faults';
import type { FleetFile } from '../../local/azure/fleet';
import { InstanceStore } from '../../local/host/durable/store';
import { serverResults } from '../../local/results';
import type { RotationOutput } from '../../shared/rotation/contract';
import type { HostProcess } from '../support/hostProcess';
import { startHarness, waitFor } from '../support/localAzure';
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

/** The demo fleet's server whose identity lacks key grants: it must fail, and be paged once. */
export const BROKEN = 'pg-reporting';

/** A small seeded generator (mulberry32): the same seed gives the same faults and kill points. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChaosFigures {
  readonly seed: number;
  readonly seconds: number;
  readonly kills: number;
  readonly patchesAccepted: number;
  readonly patchesRefused: number;
  readonly faultsFired: number;
  readonly retriesAudited: number;
  readonly pageTriggers: number;
  readonly records: number;
}

export interface ChaosResult {
  readonly figures: ChaosFigures;
  /** Every broken invariant, in words; empty when the run held. */
  readonly problems: string[];
  readonly output: RotationOutput | undefined;
}

/**
 * One seeded chaos run on the local runtime: the stand-ins (in this process) with a mix of faults —
 * ARM throttling from small token buckets (429 storms per subscription), 409 ServerBusy on PATCH, 5xx
 * at up to 30% on ARM, Resource Graph and Key Vault plus bursts of 5xx longer than the SDK's own
 * retries, slow LROs — and the Functions host (a child process) SIGKILLed at seeded points at least
 * three times and restarted on the same task hub data. Then it checks what must hold.
 *
 * The ingestion stand-in also refuses a burst of audit records: the trail reports them undelivered
 * and the steps retry them, so every step's record must still arrive.
 */
export async function runChaos(
  seed: number,
  log: (line: string) => void = () => undefined,
): Promise<ChaosResult> {
  const rnd = seeded(seed);
  const pick = (lo: number, hi: number) => lo + (hi - lo) * rnd();
  const fleet: FleetFile = {
    ...demoFleet(),
    behaviour: {
      ...demoFleet().behaviour,
      updateDurationMs: Math.round(pick(1_000, 6_000)),
      armThrottling: {
        writes: { burst: Math.round(pick(2, 4)), perSecond: pick(0.5, 2) },
        reads: { burst: Math.round(pick(6, 12)), perSecond: pick(2, 6) },
      },
    },
  };
  const h = await startHarness(fleet);
  const hosts: HostProcess[] = [];
  const started = Date.now();
  const problems: string[] = [];
  let kills = 0;
  /** When each SIGKILL happened (world clock), to tell in a failure which kill a repeated PATCH followed. */
  const killedAt: number[] = [];
  let output: RotationOutput | undefined;
  try {
    const faults: FaultRule[] = [
      { service: 'arm', status: 500, rate: pick(0.15, 0.3) },
      { service: 'arm', operation: 'servers.update', status: 409, code: 'ServerBusy', rate: pick(0.1, 0.3) },
      // A PATCH ARM applied whose answer is lost (500 after acceptance): never resent blind.
      { service: 'arm', operation: 'servers.update', status: 500, afterApply: true, count: 1 },
      { service: 'resourcegraph', status: 500, rate: pick(0.15, 0.3) },
      { service: 'keyvault', status: 503, rate: pick(0.15, 0.3) },
      // Bursts longer than the SDK's own retries: these reach the orchestrator's durable retries.
      { service: 'arm', operation: 'servers.get', status: 500, count: Math.round(pick(4, 10)) },
      { service: 'arm', operation: 'operations.get', status: 500, count: Math.round(pick(4, 10)) },
      { service: 'keyvault', operation: 'keys.get', status: 503, count: Math.round(pick(4, 8)) },
      // An ingestion outage: the audit trail refuses records (503) for a while; they are retried.
      { service: 'ingestion', status: 503, count: Math.round(pick(4, 12)) },
    ];
    for (const f of faults) h.azure.faults.add(f);
    log(`seed ${seed}: faults ${JSON.stringify(faults)} behaviour ${JSON.stringify(fleet.behaviour)}`);

    const dataDir = mkdtempSync(join(tmpdir(), `chaos-${seed}-`));
    const launch = async () => {
      const host = await startAppHost(h.azure, fleet, dataDir);
      hosts.push(host);
      return host;
    };
    let host = await launch();
    await subscribeIntake(h.azure, host);
    const keys = new KeyClient(`https://${VAULT}.vault.azure.net`, h.credential, h.clientOptions);
    const v3 = (await keys.rotateKey(KEY)).properties.version ?? '';
    const instance = async (hp: HostProcess) => {
      const res = await fetch(
        `${hp.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(INSTANCE_ID)}?code=${hp.durableTaskSystemKey}`,
      );
      if (res.status === 404) return undefined;
      return (await res.json()) as { runtimeStatus?: string; output?: RotationOutput };
    };
    // The event reaches the first host (Event Grid retries it through the faults); kills start after.
    await waitFor(
      'the rotation to start',
      async () => ((await instance(host)) !== undefined ? true : undefined),
      60_000,
    );

    // One kill mid-batch (the main ring being PATCHed), the others at seeded points before and after.
    // Mid-batch is once two servers were looked at after their accepted PATCH: past the write step's
    // window (ARM's 202 until the step's answer is in the history), where a kill re-runs the step and a
    // server whose operation already failed is PATCHed again (serverRollover.ts; README "How a rotation
    // runs"). The random kills may still land there, as they always could.
    const looked = () => {
      const patched = new Set<string>();
      const seen = new Set<string>();
      for (const r of h.azure.requests) {
        const name = r.path.split('?')[0]?.split('/flexibleServers/')[1];
        if (name === undefined || name.includes('/')) continue;
        if (r.method === 'PATCH' && r.status === 202) patched.add(name);
        else if (r.method === 'GET' && patched.has(name)) seen.add(name);
      }
      return seen.size;
    };
    const killsPlanned = 3 + Math.floor(rnd() * 2);
    for (let k = 0; k < killsPlanned; k++) {
      if (k === 1)
        await waitFor('the main ring to be PATCHed', () => (looked() >= 2 ? true : undefined), 120_000).catch(
          () => undefined,
        );
      else await new Promise((r) => setTimeout(r, pick(300, 6_000)));
      await host.stop('SIGKILL');
      killedAt.push(h.azure.world.clock.now());
      kills++;
      log(`seed ${seed}: SIGKILL ${kills} after ${looked()} server(s) looked at after their PATCH`);
      host = await launch();
    }
    const current = host;
    const done = await waitFor(
      'the rotation to complete',
      async () => {
        const i = await instance(current);
        if (i?.runtimeStatus === 'Failed') return i;
        return i?.runtimeStatus === 'Completed' && i.output?.targetVersion === v3 ? i : undefined;
      },
      240_000,
    );
    output = done.output;
    if (done.runtimeStatus !== 'Completed') problems.push(`rotation instance ${done.runtimeStatus ?? '?'}`);

    // No instance (rotation or server rollover) ever Failed.
    const store = new InstanceStore(dataDir, { readOnly: true });
    for (const id of store.list())
      if (store.load(id)?.status === 'Failed') problems.push(`instance ${id} Failed`);

    // ARM is the truth: every eligible server on the newest version; the broken one still on its old one.
    for (const r of h.azure.world.servers.values()) {
      const name = String(r.json['name']);
      const de = (r.json['properties'] as { dataEncryption?: { primaryKeyURI?: string } }).dataEncryption;
      if (ELIGIBLE.includes(name) && de?.primaryKeyURI?.endsWith(`/${v3}`) !== true)
        problems.push(`${name} is on ${de?.primaryKeyURI ?? '?'}, not ${v3}`);
    }
    const results =
      output === undefined
        ? []
        : serverResults(output, customEventsOf(h.azure.captures.telemetry), INSTANCE_ID);
    for (const name of ELIGIBLE) {
      const o = results.find((s) => s.name === name);
      if (o?.outcome !== 'updated' && o?.outcome !== 'verified')
        problems.push(`${name}: ${o?.outcome ?? 'missing'} ${o?.reasonCode ?? ''}`);
    }

    // Zero servers with two accepted PATCHes for the same version. Accepted is what ARM took (an
    // operation each), not what the client was told: an answer lost after acceptance counts too.
    const accepted = [...h.azure.world.operations.values()];
    const refused = h.azure.requests.filter(
      (r) => r.method === 'PATCH' && r.path.includes('/flexibleServers/') && r.status >= 300,
    );
    const perServer = new Map<string, typeof accepted>();
    for (const op of accepted) {
      const name = op.serverId.split('/').pop()?.toLowerCase() ?? '';
      perServer.set(name, [...(perServer.get(name) ?? []), op]);
    }
    // The failure says when each operation ran against the kills (ms from the first operation).
    const t0 = Math.min(...accepted.map((op) => op.startTime));
    const at = (t: number | undefined) => (t === undefined ? '?' : String(t - t0));
    for (const [name, ops] of perServer)
      if (ops.length > 1)
        problems.push(
          `${name}: ${ops.length} accepted PATCHes for ${v3} (${ops
            .map((op) => `${op.status} ${op.error?.code ?? ''} ${at(op.startTime)}–${at(op.endTime)}`)
            .join('; ')}; kills at ${killedAt.map(at).join(', ')})`,
        );

    // The failed server paged: one incident (dedup key), however often a re-run activity re-sent it.
    const triggers = h.azure.captures.pages.filter((e) => e.eventAction === 'trigger');
    const brokenKeys = new Set(
      triggers.filter((e) => e.dedupKey.includes(`:server:${BROKEN}:`)).map((e) => e.dedupKey),
    );
    if (brokenKeys.size !== 1) problems.push(`${BROKEN} paged under ${brokenKeys.size} incident(s)`);
    const otherServerPages = triggers.filter(
      (e) => e.dedupKey.includes(':server:') && !e.dedupKey.includes(`:server:${BROKEN}:`),
    );
    if (otherServerPages.length > 0)
      problems.push(
        `servers paged that should not be: ${[...new Set(otherServerPages.map((e) => e.dedupKey))].join(', ')}`,
      );

    // Audit: each eligible server verified on v3; a step of a server repeats only with its auditId.
    const audit = customEventsOf(h.azure.captures.telemetry);
    const of = (step: string, name: string) =>
      audit.filter(
        (e) => e.name === `CmkRotation.${step}` && e.properties['serverId']?.endsWith(`/${name}`) === true,
      );
    for (const name of ELIGIBLE) {
      if (!of('ServerVerified', name).some((e) => e.properties['toVersion'] === v3))
        problems.push(`no ServerVerified record for ${name}`);
      for (const step of ['ServerUpdateStarted', 'ServerVerified']) {
        const ids = new Set(of(step, name).map((e) => e.properties['auditId']));
        if (ids.size > 1) problems.push(`${name}: ${ids.size} different auditIds for ${step}`);
      }
    }
    // A PATCH ARM accepted is on record (ServerUpdateStarted waits for the server's first look: a kill
    // in between must not lose it), but for one a kill cut off inside the write step's window.
    for (const [name, ops] of perServer)
      if (
        of('ServerUpdateStarted', name).length === 0 &&
        !ops.some((op) => killedInWriteWindow(op.startTime, killedAt))
      )
        problems.push(`${name}: an accepted PATCH without a ServerUpdateStarted record`);
    if (of('ServerFailed', BROKEN).length === 0) problems.push(`no ServerFailed record for ${BROKEN}`);
    for (const name of ['PlanComputed', 'RotationCompleted'])
      if (!audit.some((e) => e.name === `CmkRotation.${name}`)) problems.push(`no ${name} record`);

    const figures: ChaosFigures = {
      seed,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      kills,
      patchesAccepted: accepted.length,
      patchesRefused: refused.length,
      faultsFired: h.azure.faults.list().reduce((n, f) => n + ((f as { fired?: number }).fired ?? 0), 0),
      retriesAudited: audit.filter((e) => e.name === 'CmkRotation.ServerUpdateRetried').length,
      pageTriggers: triggers.length,
      records: audit.length,
    };
    return { figures, problems, output };
  } finally {
    for (const hp of hosts) await hp.stop('SIGKILL').catch(() => undefined);
    await h.azure.close();
  }
}
