import type { RotationProgress } from '../rotation/contract';
import { badge, countdown, html, runbookLink, short, when, type Html } from './statusHtml';
import type { StatusModel } from './statusModel';
import type { RowIncident } from './statusIncidents';

// The status page's sections, one function each (the page in statusPage.ts puts them in order).

function incidentCell(i: RowIncident | undefined, now: string): Html {
  if (i === undefined) return html`<span class="muted">none open</span>`;
  return html`<div class="incident">
    ${badge(i.severity === 'critical' ? 'critical' : i.severity === 'error' ? 'error' : 'warning')} open
    ${i.since !== undefined ? html`since ${when(i.since, now)}` : ''} (${i.source})
    <div class="next">Next: ${i.nextStep}</div>
  </div>`;
}

function progressCell(p: RotationProgress | undefined): Html {
  if (p === undefined) return html`<span class="muted">starting</span>`;
  const { total, done, failed, skipped, remaining } = p.counts;
  const finished = done + failed + skipped;
  const batch = p.batch !== undefined ? ` batch ${p.batch.index} of ${p.batch.of}` : '';
  return html`<div data-phase="${p.phase}">${p.phase}${batch}</div>
    <progress value="${finished}" max="${Math.max(total, 1)}" aria-label="servers finished">
      ${finished}/${total}
    </progress>
    <div>${done} done, ${failed} failed, ${skipped} skipped, ${remaining} remaining of ${total}</div>
    ${p.current.length > 0 ? html`<div class="muted">now: ${p.current.join(', ')}</div>` : ''}`;
}

/** Rotations running now, with their progress. */
export function runningSection(m: StatusModel): Html {
  return m.running.length === 0
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
      </table>`;
}

/** Every server slot on a key of the configured vaults, at risk first: why, the cause, the open incident. */
export function serversSection(m: StatusModel): Html {
  return m.servers.length === 0
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
      </table>`;
}

/** The keys of the configured vaults: their newest version and its expiry. */
export function keysSection(m: StatusModel): Html {
  return m.keys.length === 0
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
      </table>`;
}

/** The open incidents, after what the list rests on. */
export function incidentsSection(m: StatusModel): Html {
  return html`${incidentsKnown(m)}
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
                <td data-label="Kind">${i.kind}${i.source === 'health watch' ? ' (health watch)' : ''}</td>
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
  }`;
}

/** The vault checks of the fleet posture that do not pass. */
export function vaultChecksSection(m: StatusModel): Html {
  return m.vaultChecks === undefined
    ? html`<p class="empty">The fleet posture could not be read: see <code>GET /api/posture</code>.</p>`
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
        </table>`;
}

/** Rotations that ended, with their outcome. */
export function recentSection(m: StatusModel): Html {
  return m.recent.length === 0
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
              <td data-label="Ended">${when(r.result?.completedAt ?? r.lastUpdatedTime, m.generatedAt)}</td>
            </tr>`,
        )}
      </table>`;
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
  if (h.latestPass !== undefined)
    return html`<p class="warning" id="incidents-unknown">
      The health watch's latest pass
      ${h.latestPass === 'Suspended' ? 'is suspended' : `ended ${h.latestPass} without a result`}: the
      incidents below are those the last completed pass left open (it checked the fleet
      ${when(h.checkedAt, m.generatedAt)}${h.error !== undefined ? html` and could not read it: ${h.error}` : ''}).
      ${rotations}.
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
