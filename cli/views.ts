import { ago, duration } from './output';
import { progressLine, table, type ApiProgress } from './progress';

/**
 * The CLI's tables (`-o table`, the default) for the API's documents. Pure: the tests check the text.
 */

const short = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, 8) : '-');

/** One key's row of `GET /api/rotations`. */
export interface StatusRow {
  readonly vault: string;
  readonly key: string;
  readonly runtimeStatus: string;
  readonly running: boolean;
  readonly lastUpdatedTime?: string | null;
  readonly progress?: ApiProgress | null;
  readonly result?: {
    readonly status: string;
    readonly counts: ApiProgress['counts'];
    readonly failedServers: readonly string[];
    readonly openIncidents: number;
  } | null;
}

/** One key of `GET /api/runs`. */
export interface KeyRunsDoc {
  readonly vault: string;
  readonly key: string;
  readonly running?: {
    readonly startedAt?: string | null;
    readonly progress?: ApiProgress | null;
  } | null;
  readonly runs: readonly {
    readonly kind: string;
    readonly trigger: string;
    readonly startedAt: string;
    readonly endedAt: string;
    readonly status: string;
    readonly targetVersion?: string | null;
    readonly counts: { readonly done: number; readonly failed: number; readonly skipped: number };
  }[];
}

/** A run as `runs -o json` lists it (flat: one object per run, its key included). */
export interface RunRow {
  readonly vault: string;
  readonly key: string;
  readonly kind: string;
  readonly status: string;
  readonly trigger: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly targetVersion: string | null;
  readonly counts: { readonly done: number; readonly failed: number; readonly skipped: number } | null;
}

const MARK: Record<string, string> = {
  completed: '✓',
  completedWithFailures: 'X',
  failed: 'X',
  Failed: 'X',
  running: '*',
};

function countsText(c: RunRow['counts']): string {
  if (c === null) return '';
  return `${c.done} done${c.failed > 0 ? `, ${c.failed} failed` : ''}${c.skipped > 0 ? `, ${c.skipped} skipped` : ''}`;
}

/** `gh run list`: status, kind, key, target, result, started (relative), duration. */
export function runsView(runs: readonly RunRow[], now: number): string {
  if (runs.length === 0) return 'No runs yet.';
  return table([
    ['STATUS', 'KIND', 'KEY', 'TARGET', 'RESULT', 'STARTED', 'DURATION'],
    ...runs.map((r) => [
      `${MARK[r.status] ?? '-'} ${r.status}`,
      r.kind,
      `${r.vault}/${r.key}`,
      short(r.targetVersion),
      countsText(r.counts),
      ago(r.startedAt, now),
      r.endedAt === null
        ? duration(r.startedAt, new Date(now).toISOString())
        : duration(r.startedAt, r.endedAt),
    ]),
  ]);
}

/** Every key's running or last rotation, then the last runs over all keys. */
export function statusView(rotations: readonly StatusRow[], runs: readonly RunRow[], now: number): string {
  if (rotations.length === 0) return 'No rotation has run yet.';
  const rows = [['KEY', 'STATE', 'PROGRESS / OUTCOME', 'UPDATED']];
  for (const r of rotations)
    rows.push([
      `${r.vault}/${r.key}`,
      r.running ? r.runtimeStatus : (r.result?.status ?? r.runtimeStatus),
      r.running
        ? r.progress !== undefined && r.progress !== null
          ? progressLine(r.progress, 16)
          : 'starting'
        : r.result !== undefined && r.result !== null
          ? `${r.result.counts.done} done, ${r.result.counts.failed} failed, ${r.result.counts.skipped} skipped${r.result.failedServers.length > 0 ? ` (failed: ${r.result.failedServers.join(', ')})` : ''}`
          : '',
      ago(r.lastUpdatedTime, now),
    ]);
  return `${table(rows)}\n\nLast runs:\n${runsView(runs, now)
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}`;
}

export interface PlanDoc {
  readonly targetVersion?: string;
  readonly preflight?: { readonly passed: boolean; readonly summary: string };
  readonly servers: readonly {
    readonly serverName: string;
    readonly action: string;
    readonly ring: string;
    readonly slots: readonly { readonly slot: string; readonly decision: string; readonly reason: string }[];
  }[];
  readonly unplannable: readonly { readonly serverName: string; readonly reason: string }[];
  readonly summary: Readonly<Record<string, number>>;
}

export function planView(plan: PlanDoc, vault: string, key: string): string {
  const lines = [
    `Plan for ${vault}/${key} → ${plan.targetVersion ?? '(no version)'} (dry run, nothing changed)`,
  ];
  if (plan.preflight !== undefined && !plan.preflight.passed)
    lines.push(`Preflight FAILS: ${plan.preflight.summary}`);
  const rows = [['server', 'ring', 'action', 'slot', 'decision', 'reason']];
  for (const s of plan.servers)
    for (const x of s.slots) rows.push([s.serverName, s.ring, s.action, x.slot, x.decision, x.reason]);
  for (const u of plan.unplannable) rows.push([u.serverName, '-', 'skip', '-', 'unplannable', u.reason]);
  lines.push(table(rows));
  lines.push(
    Object.entries(plan.summary)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ') + ' (PATCH bodies: -o json)',
  );
  return lines.join('\n');
}

export interface PostureDoc {
  readonly generatedAt: string;
  readonly summary: {
    readonly servers: number;
    readonly byRisk: Readonly<Record<string, number>>;
    readonly vaultChecksFailing: number;
    readonly nextExpiry?: {
      readonly vaultName: string;
      readonly keyName: string;
      readonly daysLeft: number;
    } | null;
  };
  readonly servers: readonly {
    readonly serverName: string;
    readonly risk: string;
    readonly state?: string | null;
    readonly ring: string;
    readonly slots: readonly {
      readonly slot: string;
      readonly vaultName?: string | null;
      readonly keyName?: string | null;
      readonly pinnedVersion?: string | null;
      readonly versionless: boolean;
      readonly daysLeft?: number | null;
      readonly keyStatus?: string | null;
    }[];
    readonly reasons: readonly string[];
  }[];
  readonly keys: readonly {
    readonly vaultName: string;
    readonly keyName: string;
    readonly currentVersion?: string | null;
    readonly pinnedSlots: number;
    readonly versionlessSlots: number;
    readonly nextExpiry?: { readonly version: string; readonly daysLeft: number } | null;
  }[];
  readonly errors: readonly string[];
}

/** The first reason, cut at 70 characters, and how many more (all of them: -o json). */
function firstReason(reasons: readonly string[]): string {
  const [first] = reasons;
  if (first === undefined) return '';
  const cut = first.length > 70 ? `${first.slice(0, 69)}…` : first;
  return reasons.length > 1 ? `${cut} (+${reasons.length - 1} more)` : cut;
}

/** The posture as tables: servers most at risk first, then keys; -o json for everything. */
export function postureView(p: PostureDoc): string {
  const s = p.summary;
  const risks = Object.entries(s.byRisk)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const next = s.nextExpiry
    ? `; next expiry: ${s.nextExpiry.vaultName}/${s.nextExpiry.keyName} in ${s.nextExpiry.daysLeft} d`
    : '';
  const servers = table([
    ['SERVER', 'RISK', 'STATE', 'RING', 'KEY (SLOT)', 'VERSION', 'DAYS LEFT', 'KEY STATUS', 'REASONS'],
    ...p.servers.flatMap((x) =>
      (x.slots.length > 0 ? x.slots : [undefined]).map((slot, i) => [
        i === 0 ? x.serverName : '',
        i === 0 ? x.risk : '',
        i === 0 ? (x.state ?? '') : '',
        i === 0 ? x.ring : '',
        slot === undefined ? '-' : `${slot.vaultName ?? '?'}/${slot.keyName ?? '?'} (${slot.slot})`,
        slot === undefined ? '' : slot.versionless ? 'versionless' : short(slot.pinnedVersion),
        slot?.daysLeft === undefined || slot.daysLeft === null ? '' : String(slot.daysLeft),
        slot?.keyStatus ?? '',
        i === 0 ? firstReason(x.reasons) : '',
      ]),
    ),
  ]);
  const keys = table([
    ['KEY', 'CURRENT', 'PINNED SLOTS', 'VERSIONLESS SLOTS', 'NEXT EXPIRY'],
    ...p.keys.map((k) => [
      `${k.vaultName}/${k.keyName}`,
      short(k.currentVersion),
      String(k.pinnedSlots),
      String(k.versionlessSlots),
      k.nextExpiry ? `${short(k.nextExpiry.version)} in ${k.nextExpiry.daysLeft} d` : '',
    ]),
  ]);
  return [
    `Posture at ${p.generatedAt}: ${s.servers} server(s): ${risks}; ${s.vaultChecksFailing} vault check(s) failing${next}`,
    '',
    servers,
    '',
    keys,
    ...(p.errors.length > 0 ? ['', 'Could not read:', ...p.errors.map((e) => `  ${e}`)] : []),
  ].join('\n');
}
