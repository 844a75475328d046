import { createHash } from 'node:crypto';
import type { Config } from '../config';
import { groupByKey, keyOf, tryParseKeyUri } from '../domain/keyId';
import type { KeyInfo, ServerSnapshot, Slot } from '../domain/model';
import type { PostureReport } from '../domain/posture';
import { RUNBOOK_SECTIONS } from '../domain/incidentLinks';
import { holdOf, isOptedOut, latestVersion } from '../domain/plan';
import { daysLeft, expirySeverity, type RotationProgress } from '../domain/rotation';
import { describeFailure } from '../ports/errors';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { RotationInstances } from '../ports/rotations';
import { findAllServersWithCustomerManagedKeys, type ServerFleet } from '../ports/serverFleet';
import type { HealthWatchState } from './healthWatch';
import { summarizeRotations, type RotationSummary } from './operator';
import { openIncidents, postureCause, type RowIncident } from './statusIncidents';

export type Risk = 'critical' | 'warning' | 'ok';

export interface KeyRow {
  readonly vault: string;
  readonly key: string;
  readonly latestVersion: string | undefined;
  readonly expiresOn: string | undefined;
  readonly daysLeft: number | undefined;
  readonly risk: Risk;
  readonly servers: number;
}

export interface ServerRow {
  readonly server: string;
  /** The ARM id (absent from rows built before it was kept). */
  readonly serverId?: string | undefined;
  readonly subscriptionId: string;
  readonly slot: Slot;
  readonly vault: string;
  readonly key: string;
  /** Pinned version, or undefined for a versionless URI. */
  readonly version: string | undefined;
  readonly daysLeft: number | undefined;
  readonly state: string | undefined;
  readonly keyStatus: string | undefined;
  readonly risk: Risk;
  readonly reason: string;
  /** What the posture checks (or the health watch's page) name as the cause, for a server at risk. */
  readonly cause?: string | undefined;
  /** The server's open incident, when it has one. */
  readonly incident?: RowIncident | undefined;
  /** The runbook section (docs/runbook.md anchor) for this row's problem; undefined when it is ok. */
  readonly runbook?: string | undefined;
}

export interface IncidentRow {
  /** The rotation instance that opened it; undefined for the health watch's. */
  readonly rotation: string | undefined;
  readonly dedupKey: string;
  readonly kind: string;
  readonly server: string | undefined;
  readonly version: string | undefined;
  readonly severity?: RowIncident['severity'] | undefined;
  readonly since?: string | undefined;
  readonly nextStep?: string | undefined;
  readonly source?: RowIncident['source'] | undefined;
  readonly runbook?: string | undefined;
}

/** A failing check from the fleet posture (when the app reports posture). */
export interface VaultCheckRow {
  readonly vault: string;
  readonly check: string;
  /** `failing`, or `not evaluated` (a vault that could not be read, access that cannot be verified). */
  readonly status: 'failing' | 'not evaluated';
  readonly reason: string;
}

/**
 * The vault checks of a posture report that do not pass, as the status page lists them: failing ones,
 * and ones that could not be evaluated (a vault that could not be read leaves all of its checks
 * unknown; an identity's access that cannot be verified, e.g. through a group) — "every vault check
 * passes" would not be true of either. An identity denied access is failing.
 */
export function failingVaultChecks(report: Pick<PostureReport, 'vaults'>): VaultCheckRow[] {
  return report.vaults.flatMap((v) => [
    ...v.checks
      .filter((c) => c.status !== 'ok')
      .map((c) => ({
        vault: v.vaultName,
        check: c.name,
        status: c.status === 'failing' ? ('failing' as const) : ('not evaluated' as const),
        reason: c.fix !== undefined && c.status === 'failing' ? `${c.reason}. Fix: ${c.fix}` : c.reason,
      })),
    ...v.identities
      .filter((i) => i.granted !== true)
      .map((i) => ({
        vault: v.vaultName,
        check: 'identityAccess',
        status: i.granted === false ? ('failing' as const) : ('not evaluated' as const),
        reason: `${i.identityId?.split('/').pop() ?? '?'}: ${i.reason}`,
      })),
  ]);
}

export interface StatusModel {
  readonly generatedAt: string;
  readonly keys: readonly KeyRow[];
  /** Servers at risk first (critical, then warning, then by days left). */
  readonly servers: readonly ServerRow[];
  readonly running: readonly RotationSummary[];
  readonly recent: readonly RotationSummary[];
  readonly incidents: readonly IncidentRow[];
  readonly vaultChecks: readonly VaultCheckRow[] | undefined;
  /** Vaults or keys that could not be read (named, with Azure's code). */
  readonly errors: readonly string[];
  /** What the health watch's last pass found; undefined when its state could not be read. */
  readonly health?: HealthWatchState | undefined;
  /** Rotations that ended (their open incidents are read): with `health`, what "no incident" rests on. */
  readonly rotationsRead?: number | undefined;
  /** Base URL of docs/runbook.md (CMK_RUNBOOK_BASE_URL); undefined: sections are named, not linked. */
  readonly runbookBaseUrl?: string | undefined;
}

export interface StatusDeps {
  readonly config: Config;
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
}

const RANK: Record<Risk, number> = { critical: 0, warning: 1, ok: 2 };

/** The risk of one server slot on this key, and why. Pure. */
export function slotRisk(
  config: Pick<Config, 'nearExpiry' | 'optOutTag' | 'holdTag'>,
  key: KeyInfo,
  server: ServerSnapshot,
  slot: Slot,
  now: Date,
): { risk: Risk; reason: string; version: string | undefined; daysLeft: number | undefined } {
  const de = server.dataEncryption;
  const uri = slot === 'primary' ? de?.primaryKeyURI : de?.geoBackupKeyURI;
  const status = slot === 'primary' ? de?.primaryEncryptionKeyStatus : de?.geoBackupEncryptionKeyStatus;
  const version = tryParseKeyUri(uri)?.version;
  const latest = latestVersion(key);
  const pinned =
    version === undefined ? latest : key.versions.find((v) => v.version.toLowerCase() === version);
  const days = daysLeft(pinned?.expiresOn, now.toISOString());
  const severity = expirySeverity(days, config.nearExpiry);
  const state = server.state ?? 'unknown';
  const behind = version !== undefined && latest !== undefined && version !== latest.version.toLowerCase();
  const hold = holdOf(server, config.holdTag);
  const left = isOptedOut(server, config.optOutTag)
    ? ' (opted out)'
    : hold !== undefined
      ? ` (on hold: ${hold})`
      : '';
  if (state.toLowerCase() === 'inaccessible')
    return { risk: 'critical', reason: `server Inaccessible${left}`, version, daysLeft: days };
  if (status !== undefined && status.toLowerCase() === 'invalid')
    return { risk: 'critical', reason: `key status Invalid${left}`, version, daysLeft: days };
  if (days !== undefined && days < 0)
    return { risk: 'critical', reason: `pinned version expired${left}`, version, daysLeft: days };
  if (severity !== undefined)
    return {
      risk: severity,
      reason: `pinned version expires in ${days ?? '?'} day(s)${left}`,
      version,
      daysLeft: days,
    };
  if (pinned === undefined && version !== undefined)
    return {
      risk: 'warning',
      reason: 'pinned to a version the vault does not list',
      version,
      daysLeft: days,
    };
  if (behind) return { risk: 'warning', reason: `behind the newest version${left}`, version, daysLeft: days };
  return {
    risk: 'ok',
    reason: version === undefined ? 'versionless' : 'on the newest version',
    version,
    daysLeft: days,
  };
}

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

// ---------------------------------------------------------------------------------------------
// Rendering: one HTML page, no script, no external resource; every value escaped.

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(v: string | number | boolean | null | undefined): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

class Html {
  constructor(readonly text: string) {}
}

type Value = Html | string | number | boolean | null | undefined;

function fragment(v: Value): string {
  return v instanceof Html ? v.text : escapeHtml(v);
}

/** A template whose interpolations are escaped unless they are `Html` already. */
const isList = (v: Value | readonly Value[]): v is readonly Value[] => Array.isArray(v);

function html(strings: TemplateStringsArray, ...values: (Value | readonly Value[])[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const part = isList(v) ? v.map(fragment).join('') : fragment(v);
    out += part + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{background:#f0f0f0;font-weight:600}code{font-size:12px}
.critical{color:#fff;background:#b00020;padding:0 .4rem;border-radius:3px}
.warning{background:#ffd54f;padding:0 .4rem;border-radius:3px}
.ok{background:#c8e6c9;padding:0 .4rem;border-radius:3px}
progress{width:16rem;height:1rem}.muted{color:#666}.empty{color:#666;font-style:italic}
.error{color:#fff;background:#d84315;padding:0 .4rem;border-radius:3px}
td,th,p,div{overflow-wrap:break-word}td code{word-break:break-all}.nowrap{white-space:nowrap}
.next{font-size:12px;color:#333;margin-top:.2rem}.cause{font-weight:600}.why,.cause,.next{overflow-wrap:anywhere}
time{text-decoration:underline dotted}
@media (max-width:760px){body{margin:.6rem}table,tbody,tr,td{display:block;width:auto}
tr:has(>th){display:none}tr{border:1px solid #e3e3e3;margin:0 0 .6rem}td{border:0;padding:.15rem .5rem}
td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#555}progress{width:100%}
td,p,div{overflow-wrap:anywhere}td[data-blank]{display:none}}
`.trim();

/** The stylesheet element, built outside the page template so formatting never changes its bytes (its hash). */
const STYLE = new Html(`<style>${CSS}</style>`);

/** The CSP the page is served with: nothing but its own inline stylesheet (by hash) may load. */
export const STATUS_PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const badge = (risk: Risk | 'error') => html`<span class="${risk} nowrap">${risk}</span>`;

/** How long ago (or until) `iso`, in words, from `now`. Pure. */
export function relativeTime(iso: string, now: string): string {
  const s = Math.round((Date.parse(now) - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return iso;
  const a = Math.abs(s);
  const words =
    a < 60
      ? `${a} s`
      : a < 3600
        ? `${Math.floor(a / 60)} min`
        : a < 86_400
          ? `${Math.floor(a / 3600)} h`
          : `${Math.floor(a / 86_400)} d`;
  return s >= 0 ? `${words} ago` : `in ${words}`;
}

/** A time shown relative to the page's time, the UTC time on hover and in `datetime`. */
const when = (iso: string | undefined, now: string) =>
  iso === undefined || iso === ''
    ? ''
    : html`<time datetime="${iso}" title="${iso}">${relativeTime(iso, now)}</time>`;

/** A runbook section: a link when CMK_RUNBOOK_BASE_URL is set, else its name in docs/runbook.md. */
const runbookLink = (section: string | undefined, base: string | undefined) =>
  section === undefined
    ? ''
    : base === undefined
      ? html`<span class="muted">runbook: docs/runbook.md#${section}</span>`
      : html`<a href="${base.replace(/#.*$/, '')}#${section}" rel="noreferrer">runbook</a>`;

function incidentCell(i: RowIncident | undefined, now: string): Html {
  if (i === undefined) return html`<span class="muted">none open</span>`;
  return html`<div class="incident">
    ${badge(i.severity === 'critical' ? 'critical' : i.severity === 'error' ? 'error' : 'warning')} open
    ${i.since !== undefined ? html`since ${when(i.since, now)}` : ''} (${i.source})
    <div class="next">Next: ${i.nextStep}</div>
  </div>`;
}
const short = (v: string | undefined) => (v === undefined ? 'versionless' : v.slice(0, 8));
const countdown = (d: number | undefined) =>
  d === undefined ? 'never expires' : d < 0 ? `expired ${-d} day(s) ago` : `${d} day(s) left`;

function progressCell(p: RotationProgress | undefined): Html {
  if (p === undefined) return html`<span class="muted">starting</span>`;
  const { total, done, failed, skipped, remaining } = p.counts;
  const finished = done + failed + skipped;
  const wave = p.wave !== undefined ? ` wave ${p.wave.index} of ${p.wave.of}` : '';
  return html`<div data-phase="${p.phase}">${p.phase}${wave}</div>
    <progress value="${finished}" max="${Math.max(total, 1)}" aria-label="servers finished">
      ${finished}/${total}
    </progress>
    <div>${done} done, ${failed} failed, ${skipped} skipped, ${remaining} remaining of ${total}</div>
    ${p.current.length > 0 ? html`<div class="muted">now: ${p.current.join(', ')}</div>` : ''}`;
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
        ${
          m.running.length === 0
            ? html`<p class="empty" id="running-none">No rotation running.</p>`
            : html`<table id="running">
                <tr>
                  <th>Key</th>
                  <th>Target</th>
                  <th>Progress</th>
                  <th>Started</th>
                  <th>Updated</th>
                </tr>
                ${m.running.map(
                  (r) =>
                    html`<tr>
                      <td data-label="Key">${r.vault}/${r.key}</td>
                      <td data-label="Target"><code>${short(r.progress?.targetVersion)}</code></td>
                      <td data-label="Progress">${progressCell(r.progress)}</td>
                      <td data-label="Started">${when(r.createdTime, m.generatedAt)}</td>
                      <td data-label="Updated">${when(r.lastUpdatedTime, m.generatedAt)}</td>
                    </tr>`,
                )}
              </table>`
        }

        <h2>Servers (at risk first)</h2>
        ${
          m.servers.length === 0
            ? html`<p class="empty">No server uses a key of the configured vaults.</p>`
            : html`<table id="servers">
                <tr>
                  <th>Risk</th>
                  <th>Server</th>
                  <th>Slot</th>
                  <th>Key</th>
                  <th>Version</th>
                  <th>Expiry</th>
                  <th>State</th>
                  <th>Why</th>
                  <th>Cause</th>
                  <th>Incident</th>
                </tr>
                ${m.servers.map(
                  (s) =>
                    html`<tr data-risk="${s.risk}" data-server="${s.server}">
                      <td data-label="Risk">${badge(s.risk)}</td>
                      <td data-label="Server">${s.server}</td>
                      <td data-label="Slot">${s.slot}</td>
                      <td data-label="Key">${s.vault}/${s.key}</td>
                      <td data-label="Version"><code>${short(s.version)}</code></td>
                      <td data-label="Expiry">${countdown(s.daysLeft)}</td>
                      <td data-label="State">
                        ${s.state ?? ''}${s.keyStatus !== undefined ? ` / key ${s.keyStatus}` : ''}
                      </td>
                      <td data-label="Why" class="why">${s.reason}</td>
                      <td
                        data-label="Cause"
                        class="cause"
                        ${s.risk === 'ok' && s.incident === undefined ? html`data-blank` : ''}
                      >
                        ${s.risk === 'ok' && s.incident === undefined ? '' : (s.cause ?? 'not determined')}
                      </td>
                      <td
                        data-label="Incident"
                        ${s.risk === 'ok' && s.incident === undefined ? html`data-blank` : ''}
                      >
                        ${
                          s.risk === 'ok' && s.incident === undefined
                            ? ''
                            : html`${incidentCell(s.incident, m.generatedAt)}
                              ${runbookLink(s.runbook, m.runbookBaseUrl)}`
                        }
                      </td>
                    </tr>`,
                )}
              </table>`
        }

        <h2>Keys</h2>
        ${
          m.keys.length === 0
            ? html`<p class="empty">No keys.</p>`
            : html`<table id="keys">
                <tr>
                  <th>Risk</th>
                  <th>Key</th>
                  <th>Newest version</th>
                  <th>Expires</th>
                  <th>Countdown</th>
                  <th>Servers</th>
                </tr>
                ${m.keys.map(
                  (k) =>
                    html`<tr>
                      <td data-label="Risk">${badge(k.risk)}</td>
                      <td data-label="Key">${k.vault}/${k.key}</td>
                      <td data-label="Newest"><code>${short(k.latestVersion)}</code></td>
                      <td data-label="Expires">
                        ${k.expiresOn === undefined ? 'never' : when(k.expiresOn, m.generatedAt)}
                      </td>
                      <td data-label="Countdown">${countdown(k.daysLeft)}</td>
                      <td data-label="Servers">${k.servers}</td>
                    </tr>`,
                )}
              </table>`
        }

        <h2>Open incidents</h2>
        ${incidentsKnown(m)}
        ${
          m.incidents.length === 0
            ? ''
            : html`<table id="incidents">
                <tr>
                  <th>Severity</th>
                  <th>Kind</th>
                  <th>Server</th>
                  <th>Open</th>
                  <th>Next step</th>
                  <th>Dedup key</th>
                </tr>
                ${m.incidents.map(
                  (i) =>
                    html`<tr>
                      <td data-label="Severity">
                        ${i.severity === undefined ? '' : badge(i.severity === 'critical' ? 'critical' : i.severity === 'error' ? 'error' : 'warning')}
                      </td>
                      <td data-label="Kind">
                        ${i.kind}${i.source === 'health watch' ? ' (health watch)' : ''}
                      </td>
                      <td data-label="Server">${i.server ?? ''}</td>
                      <td data-label="Open">${when(i.since, m.generatedAt)}</td>
                      <td data-label="Next step">
                        <div class="next">${i.nextStep ?? ''}</div>
                        ${runbookLink(i.runbook, m.runbookBaseUrl)}
                      </td>
                      <td data-label="Dedup key"><code>${i.dedupKey}</code></td>
                    </tr>`,
                )}
              </table>`
        }

        <h2>Vault checks not passing</h2>
        ${
          m.vaultChecks === undefined
            ? html`<p class="empty">
                The fleet posture could not be read: see <code>GET /api/posture</code>.
              </p>`
            : m.vaultChecks.length === 0
              ? html`<p class="empty">Every vault check passes.</p>`
              : html`<table id="vault-checks">
                  <tr>
                    <th>Vault</th>
                    <th>Check</th>
                    <th>Status</th>
                    <th>Why</th>
                  </tr>
                  ${m.vaultChecks.map(
                    (c) =>
                      html`<tr>
                        <td data-label="Vault">${c.vault}</td>
                        <td data-label="Check">${c.check}</td>
                        <td data-label="Status">${c.status}</td>
                        <td data-label="Why" class="why">${c.reason}</td>
                      </tr>`,
                  )}
                </table>`
        }

        <h2>Last runs</h2>
        ${
          m.recent.length === 0
            ? html`<p class="empty">No rotation has run yet.</p>`
            : html`<table id="recent">
                <tr>
                  <th>Key</th>
                  <th>Outcome</th>
                  <th>Target</th>
                  <th>Servers</th>
                  <th>Ended</th>
                </tr>
                ${m.recent.map(
                  (r) =>
                    html`<tr>
                      <td data-label="Key">${r.vault}/${r.key}</td>
                      <td data-label="Outcome">${r.result?.status ?? r.runtimeStatus}</td>
                      <td data-label="Target"><code>${short(r.result?.targetVersion)}</code></td>
                      <td data-label="Servers">
                        ${r.result === undefined ? '' : `${r.result.counts.done} done, ${r.result.counts.failed} failed, ${r.result.counts.skipped} skipped${r.result.failedServers.length > 0 ? ` (failed: ${r.result.failedServers.join(', ')})` : ''}`}
                      </td>
                      <td data-label="Ended">
                        ${when(r.result?.completedAt ?? r.lastUpdatedTime, m.generatedAt)}
                      </td>
                    </tr>`,
                )}
              </table>`
        }
      </body>
    </html> `;
  return page.text;
}

/**
 * What the incident list rests on: "No open incidents" only when the health watch completed a pass
 * that read the fleet; otherwise what is known (which rotations were read, why the watch says nothing).
 */
function incidentsKnown(m: StatusModel): Html {
  const rotations = `${m.rotationsRead ?? 0} ended rotation(s) read`;
  const h = m.health;
  if (h === undefined)
    return html`<p class="warning" id="incidents-unknown">
      The health watch's state could not be read: servers that lost their key may be unpaged. ${rotations}.
    </p>`;
  if (!h.ran)
    return html`<p class="warning" id="incidents-unknown">
      The health watch has not completed a pass yet${h.running ? ' (one is running)' : ''}: servers that lost
      their key are not known yet. ${rotations}.
    </p>`;
  if (h.error !== undefined)
    return html`<p class="warning" id="incidents-unknown">
      The health watch's last pass (${when(h.checkedAt, m.generatedAt)}) could not read the fleet
      (${h.error}): the incidents below are those known before it. ${rotations}.
    </p>`;
  return m.incidents.length === 0
    ? html`<p class="empty" id="incidents-none">
        No open incidents (health watch checked the fleet ${when(h.checkedAt, m.generatedAt)}; ${rotations}).
      </p>`
    : html`<p class="muted" id="incidents-known">
        Health watch checked the fleet ${when(h.checkedAt, m.generatedAt)}; ${rotations}.
      </p>`;
}
