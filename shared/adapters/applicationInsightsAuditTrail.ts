import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type HttpClient,
  type Pipeline,
  type PipelinePolicy,
  type PipelineRetryOptions,
  createDefaultHttpClient,
} from '@azure/core-rest-pipeline';
import { toCustomEvent, type AuditRecord } from '../domain/audit';
import type { AuditTrail } from '../ports/auditTrail';
import { AuditDeliveryError, AzureCallError } from '../ports/errors';
import { mapAzureError } from './azureErrors';

/** What a connection string says about where and how to send telemetry. */
export interface IngestionTarget {
  readonly instrumentationKey: string;
  /** `<IngestionEndpoint>/v2.1/track`: the Entra-authenticated track API. */
  readonly trackUrl: string;
  /** Token scope: `<AADAudience>/.default`, `https://monitor.azure.com/.default` when the string names none. */
  readonly scope: string;
}

/** The public-cloud defaults of the Application Insights SDKs. */
const DEFAULT_INGESTION_ENDPOINT = 'https://dc.services.visualstudio.com';
const DEFAULT_AUDIENCE = 'https://monitor.azure.com';

/**
 * Parses an Application Insights connection string (`Key=Value;...`, keys case-insensitive). The token
 * audience comes from `AADAudience` when present (sovereign clouds), else the public cloud's
 * (Microsoft Learn, "Microsoft Entra authentication for Application Insights", Token audience).
 */
export function ingestionTarget(connectionString: string): IngestionTarget {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) fields.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  const instrumentationKey = fields.get('instrumentationkey') ?? '';
  if (instrumentationKey === '')
    throw new AuditDeliveryError(
      'The Application Insights connection string has no InstrumentationKey.',
      undefined,
      undefined,
      false,
    );
  const endpoint = (fields.get('ingestionendpoint') ?? DEFAULT_INGESTION_ENDPOINT).replace(/\/+$/, '');
  const audience = (fields.get('aadaudience') ?? DEFAULT_AUDIENCE)
    .replace(/\/+$/, '')
    .replace(/\/\.default$/, '');
  return { instrumentationKey, trackUrl: `${endpoint}/v2.1/track`, scope: `${audience}/.default` };
}

/** Breeze's answer to a track call (`TrackResponse` in the v2.1 swagger). */
interface TrackResponse {
  readonly itemsReceived?: number;
  readonly itemsAccepted?: number;
  readonly errors?: readonly {
    readonly index?: number;
    readonly statusCode?: number;
    readonly message?: string;
  }[];
}

/** Breeze's per-item codes worth sending again (the exporter's `isRetriable`, plus 439 daily cap). */
const RETRIABLE = new Set([206, 401, 403, 408, 429, 439, 500, 502, 503, 504]);

/** Breeze limits a custom dimension's value to 8192 characters (the exporter truncates the same way). */
const MAX_PROPERTY_LENGTH = 8192;

export interface ApplicationInsightsAuditTrailOptions {
  readonly connectionString: string;
  /** The app's identity (managed identity in Azure, the local token credential offline). */
  readonly credential: TokenCredential;
  /** Transport options (retry, extra policies such as the local loopback seam). */
  readonly clientOptions?: {
    readonly additionalPolicies?: readonly { policy: PipelinePolicy; position: 'perCall' | 'perRetry' }[];
    readonly retryOptions?: PipelineRetryOptions;
  };
  /** Cloud role name on every envelope (`ai.cloud.role`). */
  readonly roleName?: string;
  readonly httpClient?: HttpClient;
}

/**
 * The audit trail as Application Insights custom events, POSTed to the Entra-authenticated track API
 * (`/v2.1/track`) with a bearer token for the Monitor audience, in the wire format the
 * `applicationinsights` 3.x SDK sends (envelope `Microsoft.ApplicationInsights.Event`, `EventData`).
 *
 * Why not `TelemetryClient`: in applicationinsights 3.16 `trackEvent` hands the event to an
 * OpenTelemetry batch processor whose export result no caller sees; `flush()` resolves whatever the
 * ingestion answered; refused items (401/403/5xx/206) are written to an offline store under the OS temp
 * directory keyed by instrumentation key only, and replayed later by whichever process starts next with
 * that key (`@azure/monitor-opentelemetry-exporter` `platform/nodejs/baseSender.js`, `persist/`). That
 * cannot tell an activity whether its records were accepted. Here `record` resolves only when the
 * ingestion accepted every item (`itemsAccepted === itemsReceived === sent`) and throws
 * `AuditDeliveryError` otherwise; nothing is stored or replayed behind the caller's back. A retry resends
 * the whole batch: a record that was accepted the first time arrives twice with the same `auditId`,
 * which the README's KQL folds.
 */
export class ApplicationInsightsAuditTrail implements AuditTrail {
  private readonly target: IngestionTarget;
  private readonly pipeline: Pipeline;
  private readonly httpClient: HttpClient;
  private readonly roleName: string;

  constructor(options: ApplicationInsightsAuditTrailOptions) {
    this.target = ingestionTarget(options.connectionString);
    this.pipeline = createPipelineFromOptions({
      retryOptions: { maxRetries: 3, ...options.clientOptions?.retryOptions },
    });
    for (const p of options.clientOptions?.additionalPolicies ?? [])
      this.pipeline.addPolicy(p.policy, p.position === 'perRetry' ? { afterPhase: 'Retry' } : {});
    this.pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({ credential: options.credential, scopes: this.target.scope }),
      { phase: 'Sign' },
    );
    this.httpClient = options.httpClient ?? createDefaultHttpClient();
    this.roleName = options.roleName ?? 'pg-cmk-rotator';
  }

  /**
   * The envelopes for `records`, as the SDK's exporter builds them for custom events. Records of one
   * write are stamped a millisecond apart in the order given (a rollover sends what happened first
   * first, e.g. `ServerUpdateStarted` with the `ServerVerified` that follows it), so a query that
   * orders by `timestamp` keeps their order instead of leaving a tie.
   */
  envelopes(records: readonly AuditRecord[], now: Date = new Date()): Record<string, unknown>[] {
    return records.map((r, index) => {
      const event = toCustomEvent(r);
      const properties: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.properties))
        properties[k] = v.length > MAX_PROPERTY_LENGTH ? v.slice(0, MAX_PROPERTY_LENGTH) : v;
      return {
        ver: 1,
        name: 'Microsoft.ApplicationInsights.Event',
        time: new Date(now.getTime() + index).toISOString(),
        sampleRate: 100,
        iKey: this.target.instrumentationKey,
        tags: { 'ai.cloud.role': this.roleName, 'ai.operation.id': r.correlationId.slice(0, 128) },
        data: {
          baseType: 'EventData',
          baseData: { ver: 2, name: event.name, properties, measurements: event.measurements },
        },
      };
    });
  }

  async record(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const body = JSON.stringify(this.envelopes(records));
    const request = createPipelineRequest({
      url: this.target.trackUrl,
      method: 'POST',
      headers: createHttpHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
      body,
    });
    let status: number;
    let text: string | undefined;
    try {
      const response = await this.pipeline.sendRequest(this.httpClient, request);
      status = response.status;
      text = response.bodyAsText ?? undefined;
    } catch (e) {
      const mapped = mapAzureError(e, 'sending audit records to Application Insights');
      // A bug on our side (not the call failing) is not an undelivered batch: it stays what it is.
      if (!(mapped instanceof AzureCallError)) throw mapped;
      throw new AuditDeliveryError(mapped.message, mapped.azureCode, mapped.statusCode, mapped.retryable, {
        cause: e,
      });
    }
    let parsed: TrackResponse = {};
    try {
      parsed = text !== undefined && text !== '' ? (JSON.parse(text) as TrackResponse) : {};
    } catch {
      // not JSON: judged by status alone
    }
    const received = parsed.itemsReceived ?? 0;
    const accepted = parsed.itemsAccepted ?? 0;
    if (status === 200 && received === records.length && accepted === records.length) return;
    const errors = parsed.errors ?? [];
    const first = errors[0];
    const why =
      first !== undefined
        ? ` (item ${first.index ?? '?'}: ${first.statusCode ?? '?'} ${first.message ?? ''})`
        : '';
    const retryable =
      RETRIABLE.has(status) &&
      (errors.length === 0 || errors.some((e) => e.statusCode === undefined || RETRIABLE.has(e.statusCode)));
    throw new AuditDeliveryError(
      `Application Insights accepted ${accepted} of ${records.length} audit record(s): HTTP ${status}${why.trimEnd()}.`,
      first?.statusCode !== undefined ? String(first.statusCode) : undefined,
      status,
      retryable,
    );
  }

  /** Nothing is buffered: kept so callers can close the trail like any other client. */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
