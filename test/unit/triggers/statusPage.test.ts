import { createHash } from 'node:crypto';
import type { KeyInfo, ServerSnapshot } from '../../../shared/domain/model';
import type { VaultCheck, VaultPosture } from '../../../shared/domain/posture';
import { escapeHtml } from '../../../shared/triggers/statusHtml';
import { failingVaultChecks, slotRisk, type StatusModel } from '../../../shared/triggers/statusModel';
import { renderStatusPage } from '../../../shared/triggers/statusPage';
import { STATUS_PAGE_CSP } from '../../../shared/triggers/statusStyle';
import { keyInfo, keyVersion } from '../../support/keys';
import { serverSnapshot } from '../../support/servers';
import { vaultPosture } from '../../support/vaults';
import { config } from './fakes';

const VAULT = 'https://contoso-pg-kv.vault.azure.net';
const V1 = '11111111111111111111111111111111';
const V2 = '22222222222222222222222222222222';
const NOW = new Date('2026-11-24T10:00:00Z');
const day = (n: number) => new Date(NOW.getTime() + n * 86_400_000).toISOString();

const key: KeyInfo = keyInfo(
  [
    keyVersion(V1, day(-300), { vaultUrl: VAULT, expiresOn: day(5) }),
    keyVersion(V2, day(-1), { vaultUrl: VAULT, expiresOn: day(365) }),
  ],
  { vaultUrl: VAULT, currentVersion: V2 },
);

function server(over: Partial<ServerSnapshot> & { uri?: string; status?: string }): ServerSnapshot {
  const { uri, status, ...rest } = over;
  return serverSnapshot('pg', {
    id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg',
    subscriptionId: 's',
    dataEncryption: {
      primaryKeyURI: uri ?? `${VAULT}/keys/pg-cmk/${V1}`,
      primaryEncryptionKeyStatus: status ?? 'Valid',
    },
    ...rest,
  });
}

describe('status page: risk of a server slot', () => {
  it.each([
    ['Inaccessible', server({ state: 'Inaccessible' }), 'critical', /Inaccessible/],
    ['key status Invalid', server({ status: 'Invalid' }), 'critical', /Invalid/],
    ['pinned version expires in 5 days (critical window 7)', server({}), 'critical', /expires in 5 day/],
    ['on the newest version', server({ uri: `${VAULT}/keys/pg-cmk/${V2}` }), 'ok', /newest/],
    ['versionless', server({ uri: `${VAULT}/keys/pg-cmk` }), 'ok', /versionless/],
    [
      'on hold (the tag value says why), still at risk',
      server({ tags: { 'cmk-rotation-hold': 'CHG-1' } }),
      'critical',
      /on hold: CHG-1/,
    ],
  ])('%s', (_name, s, risk, reason) => {
    const r = slotRisk(config, key, s, 'primary', NOW);
    expect(r.risk).toBe(risk);
    expect(r.reason).toMatch(reason);
  });
});

const model = (over: Partial<StatusModel> = {}): StatusModel => ({
  generatedAt: NOW.toISOString(),
  keys: [],
  servers: [],
  running: [],
  recent: [],
  incidents: [],
  vaultChecks: undefined,
  errors: [],
  ...over,
});

describe('status page: rendering', () => {
  it('escapes everything that comes from Azure', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const hostile = '<script>alert(1)</script>';
    const html = renderStatusPage(
      model({
        servers: [
          {
            server: hostile,
            subscriptionId: 's',
            slot: 'primary',
            vault: 'v',
            key: `"><img src=x>`,
            version: undefined,
            daysLeft: 3,
            state: 'Ready',
            keyStatus: 'Valid',
            risk: 'critical',
            reason: hostile,
          },
        ],
        errors: [hostile],
      }),
    );
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('has no script and no external resource, and its only stylesheet matches the CSP hash', () => {
    const html = renderStatusPage(model());
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1] ?? '');
    expect(styles).toHaveLength(1);
    const hash = createHash('sha256')
      .update(styles[0] ?? '')
      .digest('base64');
    expect(STATUS_PAGE_CSP).toContain(`style-src 'sha256-${hash}'`);
    expect(STATUS_PAGE_CSP).toContain("default-src 'none'");
  });

  it('draws a running rotation as a progress element with its counts, batch and servers in flight', () => {
    const html = renderStatusPage(
      model({
        running: [
          {
            instanceId: 'cmk-rotation:v:k',
            vault: 'v',
            key: 'k',
            runtimeStatus: 'Running',
            running: true,
            createdTime: undefined,
            lastUpdatedTime: undefined,
            progress: {
              phase: 'rollout',
              trigger: 't',
              batch: { index: 2, of: 3 },
              counts: { total: 10, done: 4, failed: 1, skipped: 1, remaining: 4 },
              current: ['pg-a', 'pg-b'],
            },
            result: undefined,
          },
        ],
      }),
    );
    expect(html).toContain('<progress value="6" max="10"');
    expect(html).toContain('rollout batch 2 of 3');
    expect(html).toContain('4 done, 1 failed, 1 skipped, 4 remaining of 10');
    expect(html).toContain('now: pg-a, pg-b');
  });
});

describe('status page: vault checks from the fleet posture', () => {
  const check = (name: VaultCheck['name'], status: VaultCheck['status']): VaultCheck => ({
    name,
    kind: 'requirement',
    status,
    reason: `${name} is ${status}`,
  });
  const vault = (vaultName: string, checks: VaultCheck[]): VaultPosture =>
    vaultPosture(vaultName, { checks });
  it('lists the checks that do not pass, each with its vault, status and reason: failing, and not evaluated (never "every vault check passes" for a vault nobody could read)', () => {
    const rows = failingVaultChecks({
      vaults: [
        vault('kv-a', [check('softDelete', 'ok'), check('purgeProtection', 'failing')]),
        vault('kv-b', [check('sameRegion', 'unknown')]),
        vault('kv-c', [check('softDelete', 'ok')]),
      ],
    });
    expect(rows).toEqual([
      { vault: 'kv-a', check: 'purgeProtection', status: 'failing', reason: 'purgeProtection is failing' },
      { vault: 'kv-b', check: 'sameRegion', status: 'not evaluated', reason: 'sameRegion is unknown' },
    ]);
  });

  it('lists an identity denied access as failing and one whose access through a group cannot be verified as not evaluated; one granted not at all', () => {
    const identity = (name: string, granted: boolean | undefined, reason: string) => ({
      identityId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`,
      principalId: `p-${name}`,
      model: 'rbac' as const,
      granted,
      reason,
      ...(granted === undefined ? { cannotVerifyGroups: ['g-1'] } : {}),
      usedBy: ['pg-a (primary)'],
    });
    const rows = failingVaultChecks({
      vaults: [
        {
          ...vault('kv-a', [check('softDelete', 'ok')]),
          identities: [
            identity('id-g', undefined, 'cannot verify: group g-1'),
            identity('id-x', false, 'lacks the role'),
            identity('id-ok', true, 'has the role'),
          ],
        },
      ],
    });
    expect(rows).toEqual([
      {
        vault: 'kv-a',
        check: 'identityAccess',
        status: 'not evaluated',
        reason: 'id-g: cannot verify: group g-1',
      },
      { vault: 'kv-a', check: 'identityAccess', status: 'failing', reason: 'id-x: lacks the role' },
    ]);
  });
});

describe('status page: what the incident list rests on, and the row of a server at risk', () => {
  const row = {
    server: 'pg-a',
    serverId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a',
    subscriptionId: 's',
    slot: 'primary' as const,
    vault: 'contoso-pg-kv',
    key: 'pg-cmk',
    version: V1,
    daysLeft: 5,
    state: 'Ready',
    keyStatus: 'Invalid',
    risk: 'critical' as const,
    reason: 'key status Invalid',
  };

  it.each([
    ['the health watch never ran', { ran: false, running: false } as const, /has not completed a pass yet/],
    [
      'a pass is running for the first time',
      { ran: false, running: true } as const,
      /not completed a pass yet \(one is running\)/,
    ],
    [
      'the last pass could not read the fleet',
      { ran: true, running: false, checkedAt: day(0), open: [], error: 'Throttled: quota' } as const,
      /could not read the fleet\s+\(Throttled: quota\)/,
    ],
    [
      'the latest pass failed without a result',
      {
        ran: true,
        running: false,
        checkedAt: day(0),
        open: [],
        error: undefined,
        latestPass: 'Failed',
      } as const,
      /latest pass\s+ended Failed without a result:\s+the\s+incidents\s+below\s+are\s+those\s+the\s+last\s+completed\s+pass\s+left\s+open/,
    ],
    [
      'the latest pass is suspended, after a pass that could not read the fleet',
      {
        ran: true,
        running: true,
        checkedAt: day(0),
        open: [],
        error: 'Throttled: quota',
        latestPass: 'Suspended',
      } as const,
      /latest pass\s+is suspended:[\s\S]*and could not read it: Throttled: quota/,
    ],
    ['its state could not be read', undefined, /state could not be read/],
  ])('never "No open incidents" when %s: it says what is known', (_name, health, says) => {
    const html = renderStatusPage(model({ health, rotationsRead: 2 }));
    expect(html).not.toContain('No open incidents');
    expect(html).toMatch(says);
    expect(html).toContain('2 ended rotation(s) read');
  });

  it('"No open incidents" once a pass read the fleet, with when', () => {
    const html = renderStatusPage(
      model({ health: { ran: true, running: false, checkedAt: day(0), open: [], error: undefined } }),
    );
    expect(html).toMatch(/No open incidents \(health watch checked the fleet\s+<time/);
  });

  it('times are relative, with the UTC time in datetime and on hover', () => {
    const since = new Date(NOW.getTime() - 7 * 60_000).toISOString();
    const html = renderStatusPage(
      model({
        servers: [
          {
            ...row,
            cause: 'identity id-a may not use pg-cmk',
            incident: {
              source: 'health watch',
              dedupKey: 'cmk-health:pg-a:1',
              severity: 'critical',
              since,
              nextStep: 'Restore access to the SAME key version',
              runbook: 'a-server-lost-its-key-health-watch',
              kind: 'health',
            },
            runbook: 'a-server-lost-its-key-health-watch',
          },
        ],
        runbookBaseUrl: 'https://example.com/docs/runbook.md',
      }),
    );
    expect(html).toContain(`<time datetime="${since}" title="${since}">7 min ago</time>`);
    const tr = /<tr data-risk="critical" data-server="pg-a">([\s\S]*?)<\/tr>/.exec(html)?.[1] ?? '';
    expect(tr).toMatch(/class="cause"[^>]*>\s*identity id-a may not use pg-cmk/);
    expect(tr).toMatch(/critical<\/span>\s*open\s+since <time[^>]*>7 min ago<\/time> \(health watch\)/);
    expect(tr).toContain('Next: Restore access to the SAME key version');
    expect(tr).toContain('href="https://example.com/docs/runbook.md#a-server-lost-its-key-health-watch"');
  });
});
