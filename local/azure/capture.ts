import { createHash } from 'node:crypto';
import { readBearer } from './credential';
import { isObject, type Reply, type Request } from './http';

/** How the Application Insights resource behind the ingestion stand-in is set up (fleet `applicationInsights`). */
export interface IngestionSettings {
  /**
   * `DisableLocalAuth` of the component: only Entra-authenticated telemetry is ingested (a bearer token
   * for `https://monitor.azure.com`). Default true, as infra deploys it.
   */
  readonly disableLocalAuth: boolean;
  /** Principals holding "Monitoring Metrics Publisher" on the component; any principal when absent. */
  readonly publishers: readonly string[] | undefined;
}

/** The Entra token audience of Application Insights ingestion in the public cloud. */
export const MONITOR_AUDIENCE = 'https://monitor.azure.com';

/** What arrived at Application Insights' ingestion endpoint, envelope by envelope. */
export interface TelemetryItem {
  readonly receivedAt: string;
  readonly envelope: Record<string, unknown>;
}

/** An Application Insights custom event (`EventData`) as the ingestion stand-in received it. */
export interface CustomEvent {
  readonly name: string;
  readonly properties: Record<string, string>;
}

/** The custom events among received telemetry items (the audit trail), in arrival order. */
export function customEventsOf(items: readonly TelemetryItem[]): CustomEvent[] {
  return items.flatMap((t) => {
    const data = t.envelope['data'] as { baseType?: string; baseData?: CustomEvent } | undefined;
    return data?.baseType === 'EventData' && data.baseData !== undefined ? [data.baseData] : [];
  });
}

export interface PagerEvent {
  readonly receivedAt: string;
  /** Routing keys are secrets: only a fingerprint is kept. */
  readonly routingKeyFingerprint: string;
  readonly eventAction: string;
  readonly dedupKey: string;
  readonly payload: Record<string, unknown> | undefined;
  /** Events API v2 top-level `links` ({href, text}) and `client_url`, when the event carried them. */
  readonly links?: readonly { href: string; text?: string }[];
  readonly clientUrl?: string;
}

export interface WebhookCapture {
  readonly receivedAt: string;
  readonly name: string;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12);
}

/** Stand-ins for the non-Azure-Resource-Manager endpoints the app sends to. */
export class Captures {
  readonly telemetry: TelemetryItem[] = [];
  readonly pages: PagerEvent[] = [];
  readonly webhooks: WebhookCapture[] = [];
  /** PagerDuty incident state per dedup key: what the on-call engineer would see. */
  readonly incidents = new Map<
    string,
    {
      status: 'triggered' | 'acknowledged' | 'resolved';
      summary: string;
      severity: string;
      updatedAt: string;
    }
  >();

  constructor(
    private readonly now: () => string,
    private readonly ingestion: IngestionSettings = { disableLocalAuth: true, publishers: undefined },
  ) {}

  /**
   * With local auth disabled, ingestion takes only telemetry carrying an Entra token for the Monitor
   * audience from a principal with "Monitoring Metrics Publisher": no or a bad token is 401, a principal
   * without the role 403 (Microsoft Learn, "Troubleshoot Microsoft Entra authentication issues" for
   * Application Insights: "401 Authorization required" when no valid token comes, "403 Unauthorized"
   * when the identity lacks permission on the resource).
   */
  private refuseUnauthenticated(req: Request): Reply | undefined {
    if (!this.ingestion.disableLocalAuth) return undefined;
    const refuse = (status: number, message: string): Reply => ({
      status,
      body: { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: status, message }] },
    });
    const claims = readBearer(req.headers.authorization);
    if (claims === undefined) return refuse(401, 'Authorization required');
    if (claims.aud.replace(/\/$/, '') !== MONITOR_AUDIENCE)
      return refuse(401, `Authorization required: invalid audience ${claims.aud}`);
    if (claims.exp * 1000 < Date.now()) return refuse(401, 'Authorization required: token expired');
    const publishers = this.ingestion.publishers;
    if (publishers !== undefined && !publishers.some((p) => p.toLowerCase() === claims.oid.toLowerCase()))
      return refuse(403, 'Unauthorized: the principal does not have Monitoring Metrics Publisher');
    return undefined;
  }

  /**
   * Application Insights `POST /v2.1/track`: a JSON array (or newline-delimited JSON) of envelopes.
   * `refuseLast` (an injected partial failure) refuses the last item with a retriable 500, as Breeze
   * does for items it could not store: 206 with `errors`.
   */
  track(req: Request, options: { refuseLast?: boolean } = {}): Reply {
    const unauthenticated = this.refuseUnauthenticated(req);
    if (unauthenticated !== undefined) return unauthenticated;
    const text = req.body.toString('utf8').trim();
    let items: unknown[];
    try {
      const parsed: unknown = text.startsWith('[')
        ? JSON.parse(text)
        : text
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l) as unknown);
      items = Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      return {
        status: 400,
        body: {
          itemsReceived: 0,
          itemsAccepted: 0,
          errors: [{ index: 0, statusCode: 400, message: 'Invalid JSON' }],
        },
      };
    }
    const errors: { index: number; statusCode: number; message: string }[] = [];
    items.forEach((item, index) => {
      const problem =
        options.refuseLast === true && index === items.length - 1
          ? { statusCode: 500, message: 'Internal Server Error' }
          : envelopeProblem(item);
      if (typeof problem === 'object') errors.push({ index, ...problem });
      else if (problem !== undefined) errors.push({ index, statusCode: 400, message: problem });
      else this.telemetry.push({ receivedAt: this.now(), envelope: item as Record<string, unknown> });
    });
    const accepted = items.length - errors.length;
    return {
      status:
        errors.length === 0 ? 200 : accepted > 0 ? 206 : errors.some((e) => e.statusCode >= 500) ? 500 : 400,
      body: { itemsReceived: items.length, itemsAccepted: accepted, errors },
    };
  }

  /** PagerDuty Events API v2 `POST /v2/enqueue`. */
  enqueue(req: Request): Reply {
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      return {
        status: 400,
        body: { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] },
      };
    }
    const errors: string[] = [];
    if (!isObject(body))
      return {
        status: 400,
        body: {
          status: 'invalid event',
          message: 'Event object is invalid',
          errors: ['Body must be an object'],
        },
      };
    const routingKey = body['routing_key'];
    const action = body['event_action'];
    if (typeof routingKey !== 'string' || routingKey.length !== 32)
      errors.push("'routing_key' is invalid (must be 32 characters)");
    if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve')
      errors.push("'event_action' is invalid (must be trigger, acknowledge or resolve)");
    const payload = isObject(body['payload']) ? body['payload'] : undefined;
    let dedupKey = typeof body['dedup_key'] === 'string' ? body['dedup_key'] : undefined;
    if (dedupKey !== undefined && dedupKey.length > 255)
      errors.push("'dedup_key' must be at most 255 characters");
    if (action === 'trigger') {
      if (payload === undefined) errors.push("'payload' is missing");
      else {
        if (typeof payload['summary'] !== 'string' || payload['summary'] === '')
          errors.push("'payload.summary' is missing");
        else if (payload['summary'].length > 1024)
          errors.push("'payload.summary' must be at most 1024 characters");
        if (typeof payload['source'] !== 'string' || payload['source'] === '')
          errors.push("'payload.source' is missing");
        if (!['critical', 'error', 'warning', 'info'].includes(String(payload['severity'])))
          errors.push("'payload.severity' is invalid");
      }
      dedupKey ??= crypto.randomUUID().replace(/-/g, '');
    } else if ((action === 'acknowledge' || action === 'resolve') && dedupKey === undefined) {
      errors.push("'dedup_key' is required for acknowledge and resolve");
    }
    // Events API v2: `links` is an array of {href, text?}; `client_url` a string (with `client`).
    const links = body['links'];
    if (
      links !== undefined &&
      (!Array.isArray(links) ||
        !links.every((l) => isObject(l) && typeof l['href'] === 'string' && /^https?:\/\//.test(l['href'])))
    )
      errors.push("'links' must be an array of objects with an http(s) 'href'");
    if (body['client_url'] !== undefined && typeof body['client_url'] !== 'string')
      errors.push("'client_url' must be a string");
    if (errors.length > 0 || typeof routingKey !== 'string' || dedupKey === undefined) {
      return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
    }
    const event: PagerEvent = {
      receivedAt: this.now(),
      routingKeyFingerprint: fingerprint(routingKey),
      eventAction: String(action),
      dedupKey,
      payload,
      ...(Array.isArray(links) ? { links: links as { href: string; text?: string }[] } : {}),
      ...(typeof body['client_url'] === 'string' ? { clientUrl: body['client_url'] } : {}),
    };
    this.pages.push(event);
    const existing = this.incidents.get(dedupKey);
    if (action === 'trigger' && (existing === undefined || existing.status === 'resolved')) {
      this.incidents.set(dedupKey, {
        status: 'triggered',
        summary: String(payload?.['summary']),
        severity: String(payload?.['severity']),
        updatedAt: event.receivedAt,
      });
    } else if (existing !== undefined && action !== 'trigger') {
      existing.status = action === 'resolve' ? 'resolved' : 'acknowledged';
      existing.updatedAt = event.receivedAt;
    }
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: dedupKey } };
  }

  /** Any other webhook (Teams, generic JSON): `POST /hooks/<name>` records headers and body. */
  hook(name: string, req: Request): Reply {
    let body: unknown = req.body.toString('utf8');
    try {
      body = JSON.parse(String(body));
    } catch {
      // keep the text
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    this.webhooks.push({ receivedAt: this.now(), name, headers, body });
    // Teams incoming webhooks answer 200 with the text "1".
    return { status: 200, body: '1', headers: { 'content-type': 'text/plain' } };
  }
}

function envelopeProblem(item: unknown): string | undefined {
  if (!isObject(item)) return 'Envelope must be an object';
  if (typeof item['name'] !== 'string' || item['name'] === '')
    return "Field 'name' on type 'Envelope' is required but missing or empty";
  if (typeof item['time'] !== 'string' || Number.isNaN(Date.parse(item['time'])))
    return "Field 'time' on type 'Envelope' is required but missing or empty";
  if (typeof item['iKey'] !== 'string' || item['iKey'] === '')
    return "Field 'iKey' on type 'Envelope' is required but missing or empty";
  const data = item['data'];
  if (!isObject(data) || typeof data['baseType'] !== 'string' || !isObject(data['baseData']))
    return "Field 'data' on type 'Envelope' is invalid";
  if (data['baseType'] === 'EventData' && typeof data['baseData']['name'] !== 'string')
    return "Field 'name' on type 'EventData' is required";
  return undefined;
}
