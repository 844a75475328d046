import type { AuditRecord } from '../domain/audit';
import type { Config } from '../config';
import { rotationSettings } from '../config';
import type { AuditTrail } from '../ports/auditTrail';
import type { EventParseResult } from '../domain/events';
import { latestVersion } from '../domain/plan';
import { AzureCallError, NotFoundError } from '../ports/errors';
import type { KeyVaultEventReader } from '../ports/keyVaultEvents';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { RotationInstances } from '../ports/rotations';
import type { DuplicateRecords } from './duplicateRecords';
import type { RejectionSummarizer } from './rejectionSummary';
import { rotationInstanceId } from '../rotation/ids';
import {
  duplicateOf,
  requestAudit,
  requestRotation,
  type RequestOutcome,
  type RotationRequest,
} from './rotationRequests';

export type IntakeOutcome =
  RequestOutcome | { readonly kind: 'rejected'; readonly code: string; readonly reason: string };

/** What the intake needs besides the durable client. */
export interface IntakeDeps {
  readonly config: Config;
  readonly audit: AuditTrail;
  readonly events: KeyVaultEventReader;
  /** Key Vault: the key an event names must exist; a version-less event is resolved to its current version. */
  readonly keys: KeyVaultKeys;
  readonly invocationId: string;
  /**
   * The process's summariser of rejections (one per app): the rejections of one delivery become one
   * audit record. Without it, each rejection is recorded alone.
   */
  readonly rejections?: RejectionSummarizer | undefined;
  /**
   * The process's joiner of identical duplicate records (one per app): deliveries of the same event
   * judged duplicates at the same time share one write. Without it, each is recorded alone.
   */
  readonly duplicates?: DuplicateRecords | undefined;
}

/**
 * The intake of one Event Grid event (the Functions host splits batches). Events are hints: a valid
 * key event only asks for the key's rotation; what to do is decided from Key Vault and ARM.
 * Acknowledged (returns) only once the rotation is durably started or signalled and the audit record
 * is sent; anything else throws and Event Grid redelivers. Rejections are final (audited, nothing started).
 */
export async function handleKeyVaultEvent(
  raw: unknown,
  instances: RotationInstances,
  deps: IntakeDeps,
): Promise<IntakeOutcome> {
  const read = () => deps.events.readEvent(raw);
  const parsed = deps.rejections !== undefined ? await deps.rejections.read(read) : await read();
  return handleParsedEvent(parsed, instances, deps);
}

/** The intake of one event already read by the events adapter (a delivery's, or a dead-letter blob's). */
export async function handleParsedEvent(
  parsed: EventParseResult,
  instances: RotationInstances,
  deps: {
    readonly config: Config;
    readonly audit: AuditTrail;
    readonly keys: KeyVaultKeys;
    readonly invocationId: string;
    readonly replay?: string;
    readonly rejections?: RejectionSummarizer | undefined;
    readonly duplicates?: DuplicateRecords | undefined;
  },
): Promise<IntakeOutcome> {
  const received = async (record: AuditRecord, outcome: RequestOutcome): Promise<void> => {
    if (outcome.kind === 'duplicate' && deps.duplicates !== undefined) await deps.duplicates.record(record);
    else await deps.audit.record([record]);
  };
  const reject = async (
    code: string,
    reason: string,
    fields: Partial<AuditRecord> = {},
    eventId?: string,
  ): Promise<IntakeOutcome> => {
    const record: AuditRecord = {
      step: 'EventRejected',
      correlationId: deps.invocationId,
      outcome: code === 'NotAKeyEvent' || code === 'UnsupportedEventType' ? 'skipped' : 'failure',
      reasonCode: code,
      reason,
      ...fields,
      trigger: fields.trigger ?? 'event:unknown',
      ...(deps.replay !== undefined ? { details: { replay: deps.replay } } : {}),
    };
    if (deps.rejections !== undefined) await deps.rejections.add({ eventId, record });
    else await deps.audit.record([record]);
    return { kind: 'rejected', code, reason };
  };
  if (!parsed.ok) {
    const r = parsed.rejection;
    return reject(r.code, r.reason, { trigger: `event:${r.eventId ?? 'unknown'}` }, r.eventId);
  }
  const e = parsed.event;
  const fields = {
    trigger: `event:${e.eventId}`,
    vault: e.vaultName,
    key: e.keyName,
    ...(e.version !== undefined ? { toVersion: e.version } : {}),
  };
  // Vaults are scoped by URL (they usually live in a security subscription of their own); servers by
  // CMK_SUBSCRIPTIONS. The vault's subscription is checked only against CMK_VAULT_SUBSCRIPTIONS, when set.
  if (!deps.config.allowedVaults.some((v) => v.vaultUrl === e.vaultUrl))
    return reject('VaultNotInScope', `vault ${e.vaultUrl} is not in CMK_ALLOWED_VAULTS`, fields, e.eventId);
  // (A source without a subscription id, as in Azure's published samples, is judged by the URL alone.)
  const vaultSubscriptions = deps.config.vaultSubscriptions;
  if (
    e.subscriptionId !== undefined &&
    vaultSubscriptions !== undefined &&
    !vaultSubscriptions.includes(e.subscriptionId)
  )
    return reject(
      'SubscriptionNotInScope',
      `the vault's subscription ${e.subscriptionId} is not in CMK_VAULT_SUBSCRIPTIONS`,
      { ...fields, subscriptionId: e.subscriptionId },
      e.eventId,
    );
  // A redelivery is told from the key's instance first, without reading Key Vault (Event Grid
  // redelivers at least once and for 24 h; each read of the key is two requests, list and get): the
  // same event id as the execution's trigger, or a version the running run rolls out or the key's last
  // run handled. That version is the run's `targetVersion`, which the run read from Key Vault itself
  // (or Key Vault made it): a version Key Vault lists. Only an event naming a version is judged here; a
  // version-less one is resolved from Key Vault first, below, and judged with its version. An event
  // that is no duplicate here is judged again by `requestRotation` on a fresh read of the instance,
  // taken after the key was read (one more status read, for a first delivery only).
  if (e.version !== undefined) {
    const instanceId = rotationInstanceId(e.vaultUrl, e.keyName);
    const asCame: RotationRequest = {
      vaultUrl: e.vaultUrl,
      vaultName: e.vaultName,
      keyName: e.keyName,
      trigger: `event:${e.eventId}`,
      reason: e.eventType,
      version: e.version,
    };
    const duplicate = duplicateOf(asCame, await instances.status(instanceId), instanceId);
    if (duplicate !== undefined) {
      await received(
        {
          ...requestAudit(asCame, duplicate),
          details: {
            eventType: e.eventType,
            ...(deps.replay !== undefined ? { replay: deps.replay } : {}),
          },
        },
        duplicate,
      );
      return duplicate;
    }
  }
  // Events are hints; Key Vault is the truth. The key must exist (as the operator API answers 404, an
  // event for a key the vault does not have starts nothing and pages nobody), and an event that names
  // no version is resolved to the key's current version, so that it is judged a duplicate like any
  // other (a version-less event could otherwise never be one, and each delivery would start the rollout
  // again). An event naming a version Key Vault does not list (yet: list lag right after the version
  // was created) keeps its version, marked unlisted: rewriting it to the latest would judge a real new
  // version a duplicate of the run that covered the latest. Only the same event id makes it a
  // duplicate; the run reads the key itself. When the key's run already covers the newest listed
  // version, it is neither started nor dropped: the intake throws (retryable) and Event Grid
  // redelivers it until Key Vault lists it (`EventVersionNotListedError`). When Key Vault cannot answer (an outage, a 403), the event
  // is handled as it came: the run reads the key itself, with its retries, and pages "key unreadable"
  // if it still cannot — it writes nothing without having read the key.
  let version = e.version;
  let versionUnlisted = false;
  let latestListed: string | undefined;
  try {
    const key = await deps.keys.readKey(e.vaultUrl, e.keyName);
    latestListed = latestVersion(key)?.version.toLowerCase();
    if (version === undefined) version = latestListed;
    else versionUnlisted = !key.versions.some((v) => v.version.toLowerCase() === version?.toLowerCase());
  } catch (err) {
    if (err instanceof NotFoundError)
      return reject(
        'KeyNotFound',
        `vault ${e.vaultUrl} has no key "${e.keyName}": nothing to rotate`,
        fields,
        e.eventId,
      );
    if (!(err instanceof AzureCallError)) throw err;
  }
  const request = {
    vaultUrl: e.vaultUrl,
    vaultName: e.vaultName,
    keyName: e.keyName,
    trigger: `event:${e.eventId}`,
    reason: e.eventType,
    version,
    ...(versionUnlisted ? { versionUnlisted: true as const, latestListed } : {}),
  };
  const outcome = await requestRotation(instances, request, rotationSettings(deps.config));
  await received(
    {
      ...requestAudit(request, outcome),
      details: {
        eventType: e.eventType,
        ...(version !== e.version ? { versionFrom: 'KeyVault', eventVersion: e.version ?? 'none' } : {}),
        ...(versionUnlisted ? { versionListed: 'no' } : {}),
        ...(deps.replay !== undefined ? { replay: deps.replay } : {}),
      },
    },
    outcome,
  );
  return outcome;
}

/** What became of one event of a replayed dead-letter blob. */
export interface ReplayedEvent {
  readonly eventId: string | undefined;
  readonly outcome: IntakeOutcome;
}

/**
 * Re-sends dead-lettered events (the content of one dead-letter blob: a JSON array of events with
 * Event Grid's dead-letter fields beside each envelope) through the intake. The blob is read by the
 * events adapter's `readDelivery`, exactly as a delivery is: the same verdicts, the same rejections.
 * Each event is then handled as the intake would (a rotation started or signalled, a duplicate
 * dropped, a poison event rejected and audited); every record carries `replay: <source>`.
 */
export async function replayDeadLetters(
  blob: unknown,
  source: string,
  instances: RotationInstances,
  deps: IntakeDeps,
): Promise<ReplayedEvent[]> {
  const results: ReplayedEvent[] = [];
  for (const parsed of await deps.events.readDelivery(blob)) {
    const eventId = parsed.ok ? parsed.event.eventId : parsed.rejection.eventId;
    results.push({
      eventId,
      outcome: await handleParsedEvent(parsed, instances, { ...deps, replay: source }),
    });
  }
  return results;
}
