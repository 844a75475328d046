import { Cron } from 'croner';
import { InvalidInputError } from './domain/errors';
import { tryParseVaultUrl, type VaultRef } from './domain/keyId';
import { isUuid } from './domain/resourceId';
import type { RotationSettings } from './rotation/contract';

/** The settings a rotation carries (declared with the durable contract in shared/rotation/contract.ts). */
export type RotationConfig = Omit<RotationSettings, 'maxWriteAttempts'>;

/**
 * The app's settings, read once from the environment (Function App settings in Azure; secrets there are
 * Key Vault references). `loadConfig` fails fast with one message naming every missing or malformed
 * setting, and never echoes a secret's value.
 */
export interface Config extends RotationConfig {
  /** Subscriptions whose flexible servers are in scope (servers only: vaults are scoped by URL). */
  readonly subscriptions: readonly string[];
  /**
   * Vaults and Managed HSMs whose keys the app acts on, by URL (a bare name means the public cloud's
   * `https://<name>.vault.azure.net`); events for other vaults are rejected.
   */
  readonly allowedVaults: readonly VaultRef[];
  /** When set, a key event must come from a vault in one of these subscriptions (`CMK_VAULT_SUBSCRIPTIONS`). */
  readonly vaultSubscriptions: readonly string[] | undefined;
  /**
   * Who the operator API names as the caller: the App Service Authentication principal when the
   * platform has it enabled for the app (`WEBSITE_AUTH_ENABLED=True`), else just `function-key` (a
   * function key proves possession of the key, not who holds it, so no header is trusted then).
   */
  readonly callerAttribution: 'appServiceAuthentication' | 'functionKey';
  /** Every pager channel and whether it is in use (an unusable setting disables its channel only). */
  readonly pagerChannels: readonly PagerChannelState[];
  readonly discovery: 'resourceGraph' | 'armList';
  /** NCRONTAB of the reconcile sweep. */
  readonly sweepSchedule: string;
  /** NCRONTAB of the health watch; never waits more than `HEALTH_WATCH_MAX_WAIT_SECONDS` between passes. */
  readonly healthWatchSchedule: string;
  /**
   * The status page's address as operators open it (`CMK_STATUS_PAGE_URL`, else
   * `https://<WEBSITE_HOSTNAME>/api/status`); pages link to it. Undefined: pages carry no link to it.
   */
  readonly statusPageUrl: string | undefined;
  /** Base URL of docs/runbook.md as operators read it (`CMK_RUNBOOK_BASE_URL`); pages link to its sections. */
  readonly runbookBaseUrl: string | undefined;
  readonly pagers: {
    readonly pagerDuty?: { readonly routingKey: string; readonly eventsUrl: string };
    readonly teams?: { readonly webhookUrl: string };
    readonly webhook?: { readonly url: string; readonly secret: string };
  };
  /** Client id of the user-assigned managed identity; DefaultAzureCredential when absent. */
  readonly managedIdentityClientId: string | undefined;
  readonly applicationInsightsConnectionString: string;
  /** Things worth saying at startup that do not stop it (e.g. no pager configured). */
  readonly warnings: readonly string[];
}

export type PagerChannel = 'pagerDuty' | 'teams' | 'webhook';

export interface PagerChannelState {
  readonly channel: PagerChannel;
  readonly state: 'enabled' | 'disabled' | 'notConfigured';
  /** Why a channel is disabled: names the setting, never its value. */
  readonly reason?: string;
}

/** The allowed vault an operator names by vault name, host or URL; undefined when none or ambiguous. */
export function findAllowedVault(
  config: Pick<Config, 'allowedVaults'>,
  nameOrUrl: string,
): VaultRef | 'ambiguous' | undefined {
  const wanted = nameOrUrl.trim().toLowerCase().replace(/\/+$/, '');
  const byUrl = config.allowedVaults.find((v) => v.vaultUrl === wanted || v.vaultUrl === `https://${wanted}`);
  if (byUrl !== undefined) return byUrl;
  const byName = config.allowedVaults.filter((v) => v.vaultName === wanted);
  return byName.length > 1 ? 'ambiguous' : byName[0];
}

/** The part of the configuration a rotation carries in its input (orchestrators never read settings). */
export function rotationSettings(config: Config): RotationSettings {
  return {
    maxParallelUpdates: config.maxParallelUpdates,
    canaryTag: config.canaryTag,
    optOutTag: config.optOutTag,
    holdTag: config.holdTag,
    minKeyLifetimeDays: config.minKeyLifetimeDays,
    nearExpiry: config.nearExpiry,
    autoRotateOnNearExpiry: config.autoRotateOnNearExpiry,
    pollIntervalSeconds: config.pollIntervalSeconds,
    operationTimeoutMinutes: config.operationTimeoutMinutes,
    maxWriteAttempts: 8,
  };
}

export class ConfigError extends InvalidInputError {
  constructor(problems: readonly string[]) {
    super('InvalidConfiguration', `Invalid configuration: ${problems.join('; ')}.`);
  }
}

/** Setting names, as Function App settings (and infra/) spell them. */
export const SETTINGS = {
  subscriptions: 'CMK_SUBSCRIPTIONS',
  allowedVaults: 'CMK_ALLOWED_VAULTS',
  vaultSubscriptions: 'CMK_VAULT_SUBSCRIPTIONS',
  discovery: 'CMK_DISCOVERY',
  maxParallelUpdates: 'CMK_MAX_PARALLEL_UPDATES',
  canaryTag: 'CMK_CANARY_TAG',
  optOutTag: 'CMK_OPT_OUT_TAG',
  holdTag: 'CMK_HOLD_TAG',
  minKeyLifetimeDays: 'CMK_MIN_KEY_LIFETIME_DAYS',
  nearExpiryWarningDays: 'CMK_NEAR_EXPIRY_WARNING_DAYS',
  nearExpiryCriticalDays: 'CMK_NEAR_EXPIRY_CRITICAL_DAYS',
  autoRotate: 'CMK_AUTO_ROTATE_ON_NEAR_EXPIRY',
  pollIntervalSeconds: 'CMK_POLL_INTERVAL_SECONDS',
  operationTimeoutMinutes: 'CMK_OPERATION_TIMEOUT_MINUTES',
  sweepSchedule: 'CMK_SWEEP_SCHEDULE',
  healthWatchSchedule: 'CMK_HEALTH_WATCH_SCHEDULE',
  statusPageUrl: 'CMK_STATUS_PAGE_URL',
  runbookBaseUrl: 'CMK_RUNBOOK_BASE_URL',
  pagerDutyRoutingKey: 'PAGERDUTY_ROUTING_KEY',
  pagerDutyEventsUrl: 'PAGERDUTY_EVENTS_URL',
  teamsWebhookUrl: 'TEAMS_WEBHOOK_URL',
  webhookUrl: 'ALERT_WEBHOOK_URL',
  webhookSecret: 'ALERT_WEBHOOK_SECRET',
  managedIdentityClientId: 'AZURE_CLIENT_ID',
  applicationInsights: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
} as const;

/**
 * Settings the platform injects (never set by infra). `WEBSITE_AUTH_ENABLED`: "Read-only. Injected into a
 * Windows or Linux app to indicate whether App Service authentication is enabled" (Microsoft Learn, App
 * Service "Environment variables and app settings reference", authentication section).
 */
export const PLATFORM_SETTINGS = {
  appServiceAuthEnabled: 'WEBSITE_AUTH_ENABLED',
  /** "The default hostname of the app" (`<app>.azurewebsites.net`), injected by the platform (same reference). */
  hostName: 'WEBSITE_HOSTNAME',
} as const;

/**
 * The longest the health watch's schedule may leave between a server going Invalid or Inaccessible and
 * the next pass: a page goes out within 5 minutes only if a pass starts within 4 (the pass itself, one
 * Resource Graph query and the pages, takes seconds).
 */
export const HEALTH_WATCH_MAX_WAIT_SECONDS = 240;

/**
 * The longest wait from any moment to the schedule's next occurrence, sampled every 30 s over 8 days
 * (so weekday and hour restrictions show); undefined when croner cannot read the expression.
 */
export function longestWaitSeconds(schedule: string): number | undefined {
  let cron: Cron;
  try {
    cron = new Cron(schedule.trim(), { paused: true });
  } catch {
    return undefined;
  }
  const start = Date.UTC(2026, 0, 5);
  let longest = 0;
  for (let t = start; t < start + 8 * 86_400_000; t += 30_000) {
    const next = cron.nextRun(new Date(t));
    if (next === null) return Number.POSITIVE_INFINITY;
    longest = Math.max(longest, next.getTime() - t);
  }
  return Math.ceil(longest / 1000);
}

/** The settings `loadConfig` refuses to start without. */
export const REQUIRED_SETTINGS = [
  SETTINGS.subscriptions,
  SETTINGS.allowedVaults,
  SETTINGS.applicationInsights,
] as const;

const VAULT_NAME = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
/** A setting whose Key Vault reference the platform could not resolve arrives as the reference itself. */
const UNRESOLVED_KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;
const SIX_FIELD_CRON = /^\s*\S+(\s+\S+){5}\s*$/;

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const warnings: string[] = [];
  const raw = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const required = (name: string): string => {
    const v = raw(name);
    if (v === undefined) problems.push(`${name} is missing`);
    return v ?? '';
  };
  const list = (name: string): string[] =>
    required(name)
      .split(/[,;\s]+/)
      .filter((s) => s !== '');
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const v = raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${v}")`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string): boolean => {
    const v = raw(name)?.toLowerCase();
    if (v === undefined) return false;
    if (['true', '1', 'yes'].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    problems.push(`${name} must be true or false (got "${v}")`);
    return false;
  };

  const subscriptions = list(SETTINGS.subscriptions).map((s) => s.toLowerCase());
  for (const s of subscriptions)
    if (!isUuid(s))
      problems.push(`${SETTINGS.subscriptions} has "${s}", which is not a subscription id (UUID)`);

  // Vault URLs (as infra emits them with environment().suffixes.keyvaultDns, or a Managed HSM's URL);
  // a bare name is kept for existing settings and means the public cloud's <name>.vault.azure.net.
  const allowedVaults: VaultRef[] = [];
  for (const v of list(SETTINGS.allowedVaults)) {
    const bare = v.toLowerCase();
    const ref = VAULT_NAME.test(bare)
      ? tryParseVaultUrl(`https://${bare}.vault.azure.net`)
      : tryParseVaultUrl(v);
    if (ref === undefined)
      problems.push(
        `${SETTINGS.allowedVaults} has "${v}", which is not a Key Vault or Managed HSM URL (or vault name)`,
      );
    else if (!allowedVaults.some((a) => a.vaultUrl === ref.vaultUrl)) allowedVaults.push(ref);
  }
  const vaultSubscriptionsRaw = raw(SETTINGS.vaultSubscriptions);
  const vaultSubscriptions = vaultSubscriptionsRaw
    ?.split(/[,;\s]+/)
    .filter((x) => x !== '')
    .map((x) => x.toLowerCase());
  for (const x of vaultSubscriptions ?? [])
    if (!isUuid(x))
      problems.push(`${SETTINGS.vaultSubscriptions} has "${x}", which is not a subscription id (UUID)`);

  const discoveryRaw = raw(SETTINGS.discovery) ?? 'resourceGraph';
  const discovery =
    discoveryRaw.toLowerCase() === 'resourcegraph'
      ? 'resourceGraph'
      : discoveryRaw.toLowerCase() === 'armlist'
        ? 'armList'
        : undefined;
  if (discovery === undefined)
    problems.push(`${SETTINGS.discovery} must be resourceGraph or armList (got "${discoveryRaw}")`);

  const warningDays = int(SETTINGS.nearExpiryWarningDays, 30, 1, 365);
  const criticalDays = int(SETTINGS.nearExpiryCriticalDays, 7, 0, 365);
  if (criticalDays > warningDays)
    problems.push(
      `${SETTINGS.nearExpiryCriticalDays} (${criticalDays}) must not exceed ${SETTINGS.nearExpiryWarningDays} (${warningDays})`,
    );

  const sweepSchedule = raw(SETTINGS.sweepSchedule) ?? '0 17 */6 * * *';
  if (!SIX_FIELD_CRON.test(sweepSchedule))
    problems.push(
      `${SETTINGS.sweepSchedule} must be a six-field NCRONTAB expression (got "${sweepSchedule}")`,
    );

  const healthWatchSchedule = raw(SETTINGS.healthWatchSchedule) ?? '0 * * * * *';
  const wait = SIX_FIELD_CRON.test(healthWatchSchedule) ? longestWaitSeconds(healthWatchSchedule) : undefined;
  if (wait === undefined)
    problems.push(
      `${SETTINGS.healthWatchSchedule} must be a six-field NCRONTAB expression (got "${healthWatchSchedule}")`,
    );
  else if (wait > HEALTH_WATCH_MAX_WAIT_SECONDS)
    problems.push(
      `${SETTINGS.healthWatchSchedule} must run at least every ${HEALTH_WATCH_MAX_WAIT_SECONDS / 60} minutes so a server that loses its key is paged within 5 minutes (got "${healthWatchSchedule}", which can wait ${Number.isFinite(wait) ? `${Math.round(wait / 60)} minutes` : 'forever'})`,
    );

  /** `noFragment`: a link operators follow as is (the status page) carries no `#...` either. */
  const httpsUrl = (name: string, noFragment = false): string | undefined => {
    const v = raw(name);
    if (v === undefined) return undefined;
    let secretish = false;
    try {
      const u = new URL(v);
      // `new URL('https://h/#').hash` is '': the text itself is checked for a fragment.
      const fragment = noFragment && v.includes('#');
      if (u.protocol === 'https:' && u.username === '' && u.password === '' && u.search === '' && !fragment)
        return v;
      secretish = u.username !== '' || u.password !== '' || u.search !== '' || fragment;
    } catch {
      // fall through
    }
    // A query, fragment or credentials may hold a key (`?code=`, `#access_token=`): named, never echoed.
    problems.push(
      `${name} must be an https URL without credentials${noFragment ? ', query or fragment' : ' or query'}${secretish ? '' : ` (got "${v}")`}`,
    );
    return undefined;
  };
  const hostName = raw(PLATFORM_SETTINGS.hostName);
  const statusPageUrl =
    httpsUrl(SETTINGS.statusPageUrl, true) ??
    (raw(SETTINGS.statusPageUrl) === undefined && hostName !== undefined && /^[a-z0-9.-]+$/i.test(hostName)
      ? `https://${hostName.toLowerCase()}/api/status`
      : undefined);
  const runbookBaseUrl = httpsUrl(SETTINGS.runbookBaseUrl);

  // Pager settings: one that cannot be used disables its channel with a warning instead of stopping
  // the app, so rotation, the intake and the other channels keep working (an unresolved Key Vault
  // reference arrives as the literal "@Microsoft.KeyVault(...)"). Values are never echoed.
  const pagerChannels: PagerChannelState[] = [];
  const channel = (
    name: PagerChannel,
    settings: readonly string[],
    check: () => string | undefined,
  ): boolean => {
    if (settings.every((n) => raw(n) === undefined)) {
      pagerChannels.push({ channel: name, state: 'notConfigured' });
      return false;
    }
    const unresolved = settings.find((n) => UNRESOLVED_KEY_VAULT_REFERENCE.test(raw(n) ?? ''));
    const reason =
      unresolved !== undefined
        ? `${unresolved} is an unresolved Key Vault reference (check the app's access to the secret)`
        : check();
    if (reason !== undefined) {
      pagerChannels.push({ channel: name, state: 'disabled', reason });
      warnings.push(`Pager channel ${name} is disabled: ${reason}.`);
      return false;
    }
    pagerChannels.push({ channel: name, state: 'enabled' });
    return true;
  };
  const httpsProblem = (name: string, secret: boolean): string | undefined => {
    const v = raw(name);
    if (v === undefined) return undefined;
    try {
      if (new URL(v).protocol === 'https:') return undefined;
    } catch {
      // fall through
    }
    // A webhook URL is a secret: name the setting, never the value.
    return `${name} must be an https URL${secret ? '' : ` (got "${v}")`}`;
  };
  const routingKey = raw(SETTINGS.pagerDutyRoutingKey);
  const eventsUrl = raw(SETTINGS.pagerDutyEventsUrl) ?? 'https://events.pagerduty.com/v2/enqueue';
  const pagerDutyOk = channel('pagerDuty', [SETTINGS.pagerDutyRoutingKey], () =>
    routingKey?.length !== 32
      ? `${SETTINGS.pagerDutyRoutingKey} must be a 32-character Events API v2 integration key`
      : httpsProblem(SETTINGS.pagerDutyEventsUrl, false),
  );
  const teamsUrl = raw(SETTINGS.teamsWebhookUrl);
  const teamsOk = channel('teams', [SETTINGS.teamsWebhookUrl], () =>
    httpsProblem(SETTINGS.teamsWebhookUrl, true),
  );
  const webhookUrl = raw(SETTINGS.webhookUrl);
  const webhookSecret = raw(SETTINGS.webhookSecret);
  const webhookOk = channel('webhook', [SETTINGS.webhookUrl, SETTINGS.webhookSecret], () =>
    webhookUrl === undefined
      ? `${SETTINGS.webhookUrl} is missing (required with ${SETTINGS.webhookSecret})`
      : webhookSecret === undefined
        ? `${SETTINGS.webhookSecret} is missing (required with ${SETTINGS.webhookUrl})`
        : httpsProblem(SETTINGS.webhookUrl, true),
  );

  const authEnabled = raw(PLATFORM_SETTINGS.appServiceAuthEnabled)?.toLowerCase() === 'true';

  const clientId = raw(SETTINGS.managedIdentityClientId);
  if (clientId !== undefined && !isUuid(clientId))
    problems.push(`${SETTINGS.managedIdentityClientId} must be a client id (UUID)`);

  const applicationInsightsConnectionString = required(SETTINGS.applicationInsights);
  if (
    applicationInsightsConnectionString !== '' &&
    !/(^|;)\s*InstrumentationKey=[^;]+/i.test(applicationInsightsConnectionString)
  ) {
    problems.push(`${SETTINGS.applicationInsights} is not an Application Insights connection string`);
  }

  const config: Config = {
    subscriptions,
    allowedVaults,
    vaultSubscriptions,
    callerAttribution: authEnabled ? 'appServiceAuthentication' : 'functionKey',
    pagerChannels,
    discovery: discovery ?? 'resourceGraph',
    maxParallelUpdates: int(SETTINGS.maxParallelUpdates, 100, 1, 500),
    canaryTag: raw(SETTINGS.canaryTag) ?? 'cmk-rotation-ring',
    optOutTag: raw(SETTINGS.optOutTag) ?? 'cmk-rotation-optout',
    holdTag: raw(SETTINGS.holdTag) ?? 'cmk-rotation-hold',
    minKeyLifetimeDays: int(SETTINGS.minKeyLifetimeDays, 30, 0, 3650),
    nearExpiry: { warningDays, criticalDays },
    autoRotateOnNearExpiry: bool(SETTINGS.autoRotate),
    pollIntervalSeconds: int(SETTINGS.pollIntervalSeconds, 15, 1, 300),
    operationTimeoutMinutes: int(SETTINGS.operationTimeoutMinutes, 60, 1, 1440),
    sweepSchedule,
    healthWatchSchedule,
    statusPageUrl,
    runbookBaseUrl,
    pagers: {
      ...(pagerDutyOk && routingKey !== undefined ? { pagerDuty: { routingKey, eventsUrl } } : {}),
      ...(teamsOk && teamsUrl !== undefined ? { teams: { webhookUrl: teamsUrl } } : {}),
      ...(webhookOk && webhookUrl !== undefined && webhookSecret !== undefined
        ? { webhook: { url: webhookUrl, secret: webhookSecret } }
        : {}),
    },
    managedIdentityClientId: clientId,
    applicationInsightsConnectionString,
    warnings,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  if (Object.keys(config.pagers).length === 0) {
    warnings.push(
      `No pager is usable (${SETTINGS.pagerDutyRoutingKey}, ${SETTINGS.teamsWebhookUrl}, ${SETTINGS.webhookUrl}): failures will reach the audit trail only.`,
    );
  }
  return config;
}
