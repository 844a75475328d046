import { InvalidInputError } from './domain/errors';
import { isUuid } from './domain/resourceId';
import type { RotationSettings } from './domain/rotation';

/** The settings a rotation carries (declared with the durable contract in shared/domain/rotation.ts). */
export type RotationConfig = Omit<RotationSettings, 'maxWriteAttempts'>;

/**
 * The app's settings, read once from the environment (Function App settings in Azure; secrets there are
 * Key Vault references). `loadConfig` fails fast with one message naming every missing or malformed
 * setting, and never echoes a secret's value.
 */
export interface Config extends RotationConfig {
  /** Subscriptions whose flexible servers are in scope. */
  readonly subscriptions: readonly string[];
  /** Vault names (lower-case) whose keys the app acts on; events for other vaults are rejected. */
  readonly allowedVaults: readonly string[];
  readonly discovery: 'resourceGraph' | 'armList';
  /** NCRONTAB of the reconcile sweep. */
  readonly sweepSchedule: string;
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

/** The part of the configuration a rotation carries in its input (orchestrators never read settings). */
export function rotationSettings(config: Config): RotationSettings {
  return {
    maxParallelUpdates: config.maxParallelUpdates,
    canaryTag: config.canaryTag,
    optOutTag: config.optOutTag,
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
  discovery: 'CMK_DISCOVERY',
  maxParallelUpdates: 'CMK_MAX_PARALLEL_UPDATES',
  canaryTag: 'CMK_CANARY_TAG',
  optOutTag: 'CMK_OPT_OUT_TAG',
  minKeyLifetimeDays: 'CMK_MIN_KEY_LIFETIME_DAYS',
  nearExpiryWarningDays: 'CMK_NEAR_EXPIRY_WARNING_DAYS',
  nearExpiryCriticalDays: 'CMK_NEAR_EXPIRY_CRITICAL_DAYS',
  autoRotate: 'CMK_AUTO_ROTATE_ON_NEAR_EXPIRY',
  pollIntervalSeconds: 'CMK_POLL_INTERVAL_SECONDS',
  operationTimeoutMinutes: 'CMK_OPERATION_TIMEOUT_MINUTES',
  sweepSchedule: 'CMK_SWEEP_SCHEDULE',
  pagerDutyRoutingKey: 'PAGERDUTY_ROUTING_KEY',
  pagerDutyEventsUrl: 'PAGERDUTY_EVENTS_URL',
  teamsWebhookUrl: 'TEAMS_WEBHOOK_URL',
  webhookUrl: 'ALERT_WEBHOOK_URL',
  webhookSecret: 'ALERT_WEBHOOK_SECRET',
  managedIdentityClientId: 'AZURE_CLIENT_ID',
  applicationInsights: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
} as const;

/** The settings `loadConfig` refuses to start without. */
export const REQUIRED_SETTINGS = [
  SETTINGS.subscriptions,
  SETTINGS.allowedVaults,
  SETTINGS.applicationInsights,
] as const;

const VAULT_NAME = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
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
  const httpsUrl = (name: string, secret: boolean): string | undefined => {
    const v = raw(name);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'https:') throw new Error('not https');
      return v;
    } catch {
      // A webhook URL is a secret: name the setting, never the value.
      problems.push(`${name} must be an https URL${secret ? '' : ` (got "${v}")`}`);
      return undefined;
    }
  };

  const subscriptions = list(SETTINGS.subscriptions).map((s) => s.toLowerCase());
  for (const s of subscriptions)
    if (!isUuid(s))
      problems.push(`${SETTINGS.subscriptions} has "${s}", which is not a subscription id (UUID)`);

  const allowedVaults = list(SETTINGS.allowedVaults).map((v) => {
    const m = /^https:\/\/([^./]+)\.(vault\.azure\.net|managedhsm\.azure\.net)\/?$/i.exec(v);
    return (m?.[1] ?? v).toLowerCase();
  });
  for (const v of allowedVaults)
    if (!VAULT_NAME.test(v))
      problems.push(`${SETTINGS.allowedVaults} has "${v}", which is not a vault name or URL`);

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

  const routingKey = raw(SETTINGS.pagerDutyRoutingKey);
  if (routingKey !== undefined && routingKey.length !== 32)
    problems.push(`${SETTINGS.pagerDutyRoutingKey} must be a 32-character Events API v2 integration key`);
  const eventsUrl = httpsUrl(SETTINGS.pagerDutyEventsUrl, false) ?? 'https://events.pagerduty.com/v2/enqueue';
  const teamsUrl = httpsUrl(SETTINGS.teamsWebhookUrl, true);
  const webhookUrl = httpsUrl(SETTINGS.webhookUrl, true);
  const webhookSecret = raw(SETTINGS.webhookSecret);
  if (webhookUrl !== undefined && webhookSecret === undefined)
    problems.push(`${SETTINGS.webhookSecret} is missing (required with ${SETTINGS.webhookUrl})`);

  const clientId = raw(SETTINGS.managedIdentityClientId);
  if (clientId !== undefined && !isUuid(clientId))
    problems.push(`${SETTINGS.managedIdentityClientId} must be a client id (UUID)`);

  const applicationInsightsConnectionString = required(SETTINGS.applicationInsights);
  if (
    applicationInsightsConnectionString !== '' &&
    !/InstrumentationKey=|IngestionEndpoint=/i.test(applicationInsightsConnectionString)
  ) {
    problems.push(`${SETTINGS.applicationInsights} is not an Application Insights connection string`);
  }

  const config: Config = {
    subscriptions,
    allowedVaults,
    discovery: discovery ?? 'resourceGraph',
    maxParallelUpdates: int(SETTINGS.maxParallelUpdates, 100, 1, 500),
    canaryTag: raw(SETTINGS.canaryTag) ?? 'cmk-rotation-ring',
    optOutTag: raw(SETTINGS.optOutTag) ?? 'cmk-rotation-optout',
    minKeyLifetimeDays: int(SETTINGS.minKeyLifetimeDays, 30, 0, 3650),
    nearExpiry: { warningDays, criticalDays },
    autoRotateOnNearExpiry: bool(SETTINGS.autoRotate),
    pollIntervalSeconds: int(SETTINGS.pollIntervalSeconds, 15, 1, 300),
    operationTimeoutMinutes: int(SETTINGS.operationTimeoutMinutes, 60, 1, 1440),
    sweepSchedule,
    pagers: {
      ...(routingKey !== undefined ? { pagerDuty: { routingKey, eventsUrl } } : {}),
      ...(teamsUrl !== undefined ? { teams: { webhookUrl: teamsUrl } } : {}),
      ...(webhookUrl !== undefined && webhookSecret !== undefined
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
      `No pager is configured (${SETTINGS.pagerDutyRoutingKey}, ${SETTINGS.teamsWebhookUrl}, ${SETTINGS.webhookUrl}): failures will reach the audit trail only.`,
    );
  }
  return config;
}
