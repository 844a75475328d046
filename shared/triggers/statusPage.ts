import { groupByKey, keyOf, tryParseKeyUri } from '../domain/keyId';
import type { ServerSnapshot } from '../domain/model';
import type { PostureReport } from '../domain/posture';
import { RUNBOOK_SECTIONS } from '../domain/incidentLinks';
import { latestVersion } from '../domain/plan';
import { daysLeft, expirySeverity } from '../domain/expiry';
import { describeFailure } from '../domain/diagnosis';
import type { Config } from '../config';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { RotationInstances } from '../ports/rotations';
import { findAllServersWithCustomerManagedKeys, type ServerFleet } from '../ports/serverFleet';
import type { HealthWatchState } from './healthWatch';
import { summarizeRotations } from './operator';
import { openIncidents, postureCause } from './statusIncidents';
import { html, when } from './statusHtml';
import {
  slotRisk,
  type IncidentRow,
  type KeyRow,
  type Risk,
  type ServerRow,
  type StatusModel,
  type VaultCheckRow,
} from './statusModel';
import {
  incidentsSection,
  keysSection,
  recentSection,
  runningSection,
  serversSection,
  vaultChecksSection,
} from './statusSections';
import { STYLE } from './statusStyle';

/**
 * The status page: its model gathered now (reads only) and rendered as one HTML page. The model and
 * its rules are in statusModel.ts, the sections in statusSections.ts, the HTML primitives in
 * statusHtml.ts, the stylesheet and its CSP in statusStyle.ts.
 */

export interface StatusDeps {
  readonly config: Config;
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
}

const RANK: Record<Risk, number> = { critical: 0, warning: 1, ok: 2 };

/** Everything the status page shows, read now (reads only). */
export async function gatherStatus(
  deps: StatusDeps,
  instances: RotationInstances,
  now: Date,
  vaultChecks?: readonly VaultCheckRow[],
  extra: {
    readonly posture?: PostureReport | undefined;
    readonly health?: HealthWatchState | undefined;
  } = {},
): Promise<StatusModel> {
  const { config } = deps;
  const errors: string[] = [];
  const keys: KeyRow[] = [];
  const servers: ServerRow[] = [];
  // One discovery for the page (Resource Graph's per-principal quota: 15 queries per 5 s), as the sweep.
  let byKey = new Map<string, ServerSnapshot[]>();
  try {
    byKey = groupByKey(await findAllServersWithCustomerManagedKeys(deps.fleet));
  } catch (e) {
    errors.push(`server discovery: ${describeFailure(e)}`);
  }
  for (const { vaultUrl, vaultName } of config.allowedVaults) {
    let names: string[];
    try {
      names = await deps.keys.listKeys(vaultUrl);
    } catch (e) {
      errors.push(`${vaultName}: ${describeFailure(e)}`);
      continue;
    }
    for (const keyName of names) {
      try {
        const key = await deps.keys.readKey(vaultUrl, keyName);
        const latest = latestVersion(key);
        const thisKey = keyOf(vaultUrl, keyName);
        const onThisKey = (uri: string | undefined) => {
          const ref = tryParseKeyUri(uri);
          return ref !== undefined && keyOf(ref.vaultUrl, ref.name) === thisKey;
        };
        const using = byKey.get(thisKey) ?? [];
        const days = daysLeft(latest?.expiresOn, now.toISOString());
        for (const s of using)
          for (const slot of ['primary', 'geoBackup'] as const) {
            const de = s.dataEncryption;
            if (!onThisKey(slot === 'primary' ? de?.primaryKeyURI : de?.geoBackupKeyURI)) continue;
            const r = slotRisk(config, key, s, slot, now);
            servers.push({
              server: s.name,
              serverId: s.id,
              subscriptionId: s.subscriptionId,
              slot,
              vault: vaultName,
              key: keyName,
              version: r.version,
              daysLeft: r.daysLeft,
              state: s.state,
              keyStatus:
                slot === 'primary' ? de?.primaryEncryptionKeyStatus : de?.geoBackupEncryptionKeyStatus,
              risk: r.risk,
              reason: r.reason,
            });
          }
        keys.push({
          vault: vaultName,
          key: keyName,
          latestVersion: latest?.version,
          expiresOn: latest?.expiresOn,
          daysLeft: days,
          risk: expirySeverity(days, config.nearExpiry) ?? 'ok',
          servers: using.length,
        });
      } catch (e) {
        errors.push(`${vaultName}/${keyName}: ${describeFailure(e)}`);
      }
    }
  }
  const byDays = (d: number | undefined) => d ?? Number.MAX_SAFE_INTEGER;
  servers.sort(
    (a, b) =>
      RANK[a.risk] - RANK[b.risk] ||
      byDays(a.daysLeft) - byDays(b.daysLeft) ||
      a.server.localeCompare(b.server),
  );
  keys.sort((a, b) => RANK[a.risk] - RANK[b.risk] || byDays(a.daysLeft) - byDays(b.daysLeft));

  const listed = await instances.list();
  const rotations = summarizeRotations(listed);
  // A running rotation carries the incidents earlier runs left open in its input, not its output;
  // its last completed state is what is known, so only ended runs are read here.
  const ended = rotations
    .filter((r) => !r.running)
    .flatMap((r) => listed.filter((i) => i.instanceId === r.instanceId));
  const open = openIncidents(extra.health, ended);
  const incidents: IncidentRow[] = open.map((i) => ({
    rotation: i.rotation,
    dedupKey: i.dedupKey,
    kind: i.kind,
    server: i.serverName,
    version: i.version,
    severity: i.severity,
    since: i.since,
    nextStep: i.nextStep,
    source: i.source,
    runbook: i.runbook,
  }));
  // Each row at risk: its cause, its open incident (the health watch's first), its runbook section.
  const rows = servers.map((row): ServerRow => {
    const id = row.serverId?.toLowerCase();
    const incident = open.find((i) => id !== undefined && i.serverId?.toLowerCase() === id);
    if (row.risk === 'ok' && incident === undefined) return row;
    const cause =
      incident?.cause ??
      (row.serverId !== undefined ? postureCause(extra.posture, row.serverId, row.slot) : undefined);
    return {
      ...row,
      cause,
      incident,
      runbook:
        incident?.runbook ??
        (row.reason.includes('expire') && !row.reason.includes('expired')
          ? RUNBOOK_SECTIONS.expiry
          : row.risk === 'critical'
            ? RUNBOOK_SECTIONS.inaccessible
            : RUNBOOK_SECTIONS.pages),
    };
  });
  return {
    generatedAt: now.toISOString(),
    keys,
    servers: rows,
    running: rotations.filter((r) => r.running),
    recent: rotations.filter((r) => !r.running),
    incidents,
    vaultChecks,
    errors,
    health: extra.health,
    rotationsRead: ended.length,
    runbookBaseUrl: config.runbookBaseUrl,
  };
}

/** The page. Pure: the same model gives the same bytes. */
export function renderStatusPage(m: StatusModel, refreshSeconds = 15): string {
  const atRisk = m.servers.filter((s) => s.risk !== 'ok').length;
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta http-equiv="refresh" content="${refreshSeconds}" />
        <title>CMK rotation status</title>
        ${STYLE}
      </head>
      <body>
        <h1>PostgreSQL CMK rotation</h1>
        <div class="muted">
          as of ${when(m.generatedAt, m.generatedAt)} (${m.generatedAt}); ${m.keys.length} key(s),
          ${m.servers.length} server slot(s), ${atRisk} at risk; refreshes every ${refreshSeconds} s
        </div>
        ${m.errors.length > 0 ? html`<p class="critical" id="errors">Could not read: ${m.errors.join('; ')}</p>` : ''}

        <h2>Running rotations</h2>
        ${runningSection(m)}

        <h2>Servers (at risk first)</h2>
        ${serversSection(m)}

        <h2>Keys</h2>
        ${keysSection(m)}

        <h2>Open incidents</h2>
        ${incidentsSection(m)}

        <h2>Vault checks not passing</h2>
        ${vaultChecksSection(m)}

        <h2>Last runs</h2>
        ${recentSection(m)}
      </body>
    </html> `;
  return page.text;
}
