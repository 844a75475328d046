import { performance } from 'node:perf_hooks';
import type { CloudEvent, EventGridEvent, SystemEventNameToEventData } from '@azure/eventgrid';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Scheduler } from './clock';
import { vaultArmId } from './keyvault-model';
import type { KeyEvent, WorldState } from './world-state';

/**
 * The data of the Key Vault key events, as `@azure/eventgrid` models it (camelCase). Indexed by the
 * world's event types, so a key event type the SDK does not know is a compile error here.
 */
type SdkKeyEventData = SystemEventNameToEventData[`Microsoft.KeyVault.${KeyEvent['type']}`];

/**
 * What the stand-in puts in an event: the SDK's model, except that a key without an activation or
 * expiry date has no NBF/EXP (the SDK's model says number; both published schemas leave every field
 * optional). What Azure sends for a missing date is not documented; omitting it is the reading that
 * stays valid against the schema.
 */
export type KeyEventData = Readonly<
  Omit<SdkKeyEventData, 'nbf' | 'exp'> & Partial<Pick<SdkKeyEventData, 'nbf' | 'exp'>>
>;

/**
 * The wire names Key Vault uses for the SDK's fields: PascalCase, as in both published schemas
 * (`KeyVault.json` 2018-01-01 and 2024-01-01) and every published sample, although the SDK's model
 * is camelCase. Typed against the SDK's model: a field added or renamed there is a compile error.
 * (Written here, not imported from shared/: a stand-in shares no parsing code with the product.)
 */
export const WIRE_NAMES = {
  id: 'Id',
  vaultName: 'VaultName',
  objectType: 'ObjectType',
  objectName: 'ObjectName',
  version: 'Version',
  nbf: 'NBF',
  exp: 'EXP',
} as const satisfies Record<keyof SdkKeyEventData, string>;

type WireKeyEventData = { readonly [K in keyof KeyEventData as (typeof WIRE_NAMES)[K]]: KeyEventData[K] };

function toWire(data: KeyEventData): WireKeyEventData {
  return {
    Id: data.id,
    VaultName: data.vaultName,
    ObjectType: data.objectType,
    ObjectName: data.objectName,
    Version: data.version,
    ...(data.nbf !== undefined ? { NBF: data.nbf } : {}),
    ...(data.exp !== undefined ? { EXP: data.exp } : {}),
  };
}

/** An Event Grid–schema event as it goes over the wire (the SDK's model with `eventTime` as text). */
export function eventGridWire(e: EventGridEvent<KeyEventData>): Record<string, unknown> {
  return {
    id: e.id,
    topic: e.topic,
    subject: e.subject,
    eventType: e.eventType,
    eventTime: e.eventTime.toISOString(),
    data: toWire(e.data),
    dataVersion: e.dataVersion,
    metadataVersion: '1',
  };
}

/** A CloudEvents 1.0 event as it goes over the wire (structured mode, JSON). */
export function cloudEventWire(e: CloudEvent<KeyEventData>): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: e.id,
    source: e.source,
    ...(e.subject !== undefined ? { subject: e.subject } : {}),
    type: e.type,
    ...(e.time !== undefined ? { time: e.time.toISOString() } : {}),
    ...(e.data !== undefined ? { data: toWire(e.data) } : {}),
  };
}

/** Event Grid's webhook retry schedule (then hourly), and the events it never retries. */
const RETRY_DELAYS_MS = [10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000];
const NO_RETRY_STATUSES = [400, 401, 403, 413];

export interface SubscriptionSpec {
  readonly name: string;
  /** Webhook URL (for an Azure Function: the Event Grid extension URL with its system key). */
  readonly endpoint: string;
  /** Full event type names; default: the three key events. */
  readonly eventTypes?: readonly string[];
  /** Vault names whose system topic this subscription is on; default: every vault. */
  readonly vaults?: readonly string[];
  readonly maxDeliveryAttempts?: number;
  readonly eventTimeToLiveMinutes?: number;
  /** Keep undeliverable events in the dead-letter record (Azure: a storage container). */
  readonly deadLetter?: boolean;
  /**
   * ARM `eventDeliverySchema`: Event Grid schema (default; a JSON array, `application/json`) or
   * CloudEvents 1.0 (one event per request in structured mode, `application/cloudevents+json`).
   */
  readonly eventDeliverySchema?: 'EventGridSchema' | 'CloudEventSchemaV1_0';
}

export interface DeliveryAttempt {
  readonly at: string;
  readonly status: number | undefined;
  readonly error: string | undefined;
  /**
   * How long the endpoint took to answer (ms): what Azure Monitor shows as the system topic's
   * "Destination Processing Duration" metric (`DestinationProcessingDurationInMs`).
   */
  readonly durationMs?: number | undefined;
}

export interface Delivery {
  readonly id: string;
  readonly subscription: string;
  readonly event: Record<string, unknown>;
  readonly attempts: DeliveryAttempt[];
  state: 'pending' | 'delivered' | 'deadLettered' | 'dropped';
  deadLetterReason: string | undefined;
  readonly firstAt: number;
}

interface Subscription extends SubscriptionSpec {
  readonly createdAt: string;
}

export class EventGridError extends Error {}

export class EventGrid {
  readonly subscriptions = new Map<string, Subscription>();
  readonly deliveries: Delivery[] = [];

  constructor(
    private readonly world: WorldState,
    private readonly scheduler: Scheduler,
    private readonly caCertPem: string,
  ) {
    world.events.on('key', (e) => this.publish(e));
  }

  /**
   * Creates a subscription after Event Grid's validation handshake: the endpoint must answer the
   * SubscriptionValidationEvent with 200 and `{"validationResponse": <code>}`.
   */
  async subscribe(spec: SubscriptionSpec): Promise<void> {
    if (!/^[A-Za-z0-9-]{3,64}$/.test(spec.name))
      throw new EventGridError('subscription name must be 3-64 letters, digits or hyphens');
    const url = new URL(spec.endpoint);
    if (
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(url.hostname))
    ) {
      throw new EventGridError('webhook endpoints must be https (plain http allowed on loopback only)');
    }
    const code = randomUUID().toUpperCase();
    const topic =
      spec.vaults?.[0] !== undefined ? this.topicOf(spec.vaults[0]) : `/subscriptions/${randomUUID()}`;
    const validation = [
      {
        id: randomUUID(),
        topic,
        subject: '',
        data: {
          validationCode: code,
          validationUrl: `https://rp-westeurope.eventgrid.azure.net/eventsubscriptions/${spec.name}/validate?id=${code}`,
        },
        eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
        eventTime: this.world.clock.nowIso(),
        metadataVersion: '1',
        dataVersion: '2',
      },
    ];
    const res = await this.post(spec.endpoint, validation, {
      'aeg-event-type': 'SubscriptionValidation',
      'aeg-subscription-name': spec.name.toUpperCase(),
      'aeg-delivery-count': '0',
    });
    let answer: unknown;
    try {
      answer = JSON.parse(res.body);
    } catch {
      answer = undefined;
    }
    const ok =
      res.status === 200 &&
      typeof answer === 'object' &&
      answer !== null &&
      (answer as Record<string, unknown>)['validationResponse'] === code;
    if (!ok)
      throw new EventGridError(
        `webhook validation handshake failed: HTTP ${res.status ?? 'no response'}${res.error !== undefined ? ` (${res.error})` : ''}`,
      );
    this.subscriptions.set(spec.name, { ...spec, createdAt: this.world.clock.nowIso() });
  }

  private topicOf(vaultName: string): string {
    const vault = this.world.vaultByName(vaultName);
    return vault === undefined
      ? `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/unknown/providers/Microsoft.KeyVault/vaults/${vaultName}`
      : vaultArmId(vault);
  }

  /** The data Key Vault publishes for a key event, in the SDK's model. */
  keyEventData(e: KeyEvent): KeyEventData {
    return {
      id: `${this.world.vaultUrl(e.vault)}/keys/${e.keyName}/${e.version.version}`,
      vaultName: e.vault.name,
      objectType: 'Key',
      objectName: e.keyName,
      version: e.version.version,
      nbf: e.version.nbf !== undefined ? Math.floor(e.version.nbf / 1000) : undefined,
      exp: e.version.exp !== undefined ? Math.floor(e.version.exp / 1000) : undefined,
    };
  }

  /** The event Key Vault publishes in the Event Grid schema, as the SDK models it. */
  eventGridEvent(e: KeyEvent, id: string = randomUUID()): EventGridEvent<KeyEventData> {
    return {
      id,
      topic: vaultArmId(e.vault),
      subject: e.keyName,
      eventType: `Microsoft.KeyVault.${e.type}`,
      eventTime: new Date(this.world.clock.now()),
      data: this.keyEventData(e),
      dataVersion: '1',
    };
  }

  /** The same event in the CloudEvents 1.0 schema, as the SDK models it. */
  cloudEvent(e: KeyEvent, id: string = randomUUID()): CloudEvent<KeyEventData> {
    return {
      id,
      source: vaultArmId(e.vault),
      subject: e.keyName,
      type: `Microsoft.KeyVault.${e.type}`,
      time: new Date(this.world.clock.now()),
      data: this.keyEventData(e),
    };
  }

  private publish(e: KeyEvent): void {
    // Event Grid's Key Vault source is the topic type Microsoft.KeyVault.vaults; Managed HSM has no
    // system topic type and publishes nothing (the rotator's sweep is the trigger for HSM keys).
    if (e.vault.kind === 'managedHsm') return;
    // One event id across subscriptions, as Event Grid fans one published event out.
    const id = randomUUID();
    for (const sub of this.subscriptions.values()) {
      const types = sub.eventTypes ?? [
        'Microsoft.KeyVault.KeyNewVersionCreated',
        'Microsoft.KeyVault.KeyNearExpiry',
        'Microsoft.KeyVault.KeyExpired',
      ];
      if (!types.includes(`Microsoft.KeyVault.${e.type}`)) continue;
      const event =
        sub.eventDeliverySchema === 'CloudEventSchemaV1_0'
          ? cloudEventWire(this.cloudEvent(e, id))
          : eventGridWire(this.eventGridEvent(e, id));
      if (sub.vaults !== undefined && !sub.vaults.some((v) => v.toLowerCase() === e.vault.name)) continue;
      const delivery: Delivery = {
        id: randomUUID(),
        subscription: sub.name,
        event,
        attempts: [],
        state: 'pending',
        deadLetterReason: undefined,
        firstAt: this.world.clock.now(),
      };
      this.deliveries.push(delivery);
      this.scheduler.after(0, `deliver ${delivery.id}`, () => this.attempt(sub, delivery));
    }
  }

  /**
   * The dead-letter container as Azure writes it: one blob per dead-lettered delivery, named
   * `<topic>/<SUBSCRIPTION>/<yyyy>/<mm>/<dd>/<hh>/<guid>.json`, holding a JSON array of the events with
   * `deadLetterReason`, `deliveryAttempts`, `lastDeliveryOutcome`, `lastHttpStatusCode`, `publishTime`
   * and `lastDeliveryAttemptTime` beside the original envelope (Microsoft Learn, "Dead letter and retry
   * policies" / "Set dead-letter location and retry policy"). The reason names for the statuses Event
   * Grid never retries are not documented in those pages; the stand-in says `DeliveryFailed`.
   */
  deadLetterBlobs(): { readonly name: string; readonly content: string }[] {
    const outcome = (status: number | undefined): string =>
      status === undefined
        ? 'TimedOut'
        : ({ 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 413: 'Busy' }[
            status
          ] ?? (status >= 500 ? 'GenericError' : 'Aborted'));
    return this.deliveries
      .filter((d) => d.state === 'deadLettered')
      .map((d) => {
        const last = d.attempts[d.attempts.length - 1];
        const at = new Date(last?.at ?? d.firstAt);
        const pad = (n: number) => String(n).padStart(2, '0');
        const name = `keyvault-system-topic/${d.subscription.toUpperCase()}/${at.getUTCFullYear()}/${pad(at.getUTCMonth() + 1)}/${pad(at.getUTCDate())}/${pad(at.getUTCHours())}/${d.id}.json`;
        const reason = d.deadLetterReason?.startsWith('max delivery attempts')
          ? 'MaxDeliveryAttemptsExceeded'
          : d.deadLetterReason === 'event time-to-live expired'
            ? 'TimeToLiveExceeded'
            : 'DeliveryFailed';
        const event = {
          ...d.event,
          deadLetterReason: reason,
          deliveryAttempts: d.attempts.length,
          lastDeliveryOutcome: outcome(last?.status),
          ...(last?.status !== undefined ? { lastHttpStatusCode: last.status } : {}),
          publishTime: new Date(d.firstAt).toISOString(),
          lastDeliveryAttemptTime: at.toISOString(),
        };
        return { name, content: JSON.stringify([event]) };
      });
  }

  private async attempt(sub: Subscription, d: Delivery): Promise<void> {
    const cloud = sub.eventDeliverySchema === 'CloudEventSchemaV1_0';
    const sent = performance.now();
    const res = await this.post(
      sub.endpoint,
      cloud ? d.event : [d.event],
      {
        'aeg-event-type': 'Notification',
        'aeg-subscription-name': sub.name.toUpperCase(),
        'aeg-delivery-count': String(d.attempts.length),
        'aeg-data-version': '1',
        'aeg-metadata-version': '1',
      },
      cloud ? 'application/cloudevents+json; charset=utf-8' : 'application/json; charset=utf-8',
    );
    d.attempts.push({
      at: this.world.clock.nowIso(),
      status: res.status,
      error: res.error,
      durationMs: Math.round(performance.now() - sent),
    });
    if (res.status !== undefined && res.status >= 200 && res.status < 300) {
      d.state = 'delivered';
      return;
    }
    const maxAttempts = sub.maxDeliveryAttempts ?? 30;
    const ttlMs = (sub.eventTimeToLiveMinutes ?? 1440) * 60_000;
    const delay =
      (RETRY_DELAYS_MS[d.attempts.length - 1] ?? 3_600_000) * this.world.behaviour.eventGridRetryScale;
    let reason: string | undefined;
    if (res.status !== undefined && NO_RETRY_STATUSES.includes(res.status))
      reason = `endpoint answered ${res.status}, which Event Grid does not retry`;
    else if (d.attempts.length >= maxAttempts) reason = `max delivery attempts (${maxAttempts}) exceeded`;
    else if (this.world.clock.now() + delay - d.firstAt > ttlMs * this.world.behaviour.eventGridRetryScale)
      reason = 'event time-to-live expired';
    if (reason !== undefined) {
      d.state = sub.deadLetter === true ? 'deadLettered' : 'dropped';
      d.deadLetterReason = reason;
      return;
    }
    this.scheduler.after(delay, `redeliver ${d.id}`, () => this.attempt(sub, d));
  }

  private post(
    endpoint: string,
    body: unknown,
    headers: Record<string, string>,
    contentType = 'application/json; charset=utf-8',
  ): Promise<{ status: number | undefined; body: string; error: string | undefined }> {
    const url = new URL(endpoint);
    const payload = JSON.stringify(body);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = send(
        url,
        {
          method: 'POST',
          headers: {
            ...headers,
            'content-type': contentType,
            'content-length': String(Buffer.byteLength(payload)),
          },
          timeout: this.world.behaviour.eventGridDeliveryTimeoutMs,
          ...(url.protocol === 'https:' ? { ca: this.caCertPem } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode,
              body: Buffer.concat(chunks).toString('utf8'),
              error: undefined,
            }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => resolve({ status: undefined, body: '', error: e.message }));
      req.end(payload);
    });
  }
}
