import { createHash } from 'node:crypto';
import { isObject, type Reply, type Request } from './http';

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

  constructor(private readonly now: () => string) {}

  /** Application Insights `POST /v2.1/track`: a JSON array (or newline-delimited JSON) of envelopes. */
  track(req: Request): Reply {
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
      const problem = envelopeProblem(item);
      if (problem !== undefined) errors.push({ index, statusCode: 400, message: problem });
      else this.telemetry.push({ receivedAt: this.now(), envelope: item as Record<string, unknown> });
    });
    const accepted = items.length - errors.length;
    return {
      status: errors.length === 0 ? 200 : accepted > 0 ? 206 : 400,
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
    if (errors.length > 0 || typeof routingKey !== 'string' || dedupKey === undefined) {
      return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
    }
    const event: PagerEvent = {
      receivedAt: this.now(),
      routingKeyFingerprint: fingerprint(routingKey),
      eventAction: String(action),
      dedupKey,
      payload,
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
