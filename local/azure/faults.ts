import type { Reply } from './http';

export type Service = 'keyvault' | 'arm' | 'resourcegraph' | 'ingestion' | 'pagerduty' | 'webhook';

/**
 * A fault rule: matching requests get `status` (with an Azure-shaped error body) and/or extra latency.
 * `rate` is the share of matching requests affected (deterministic sequence, so tests are repeatable);
 * `count` limits how many requests it affects in total.
 */
export interface FaultRule {
  readonly service: Service | '*';
  /** e.g. `servers.update`, `servers.get`, `keys.get`, `keys.unwrap`, `resources.query`; omit for all. */
  readonly operation?: string;
  /** Substring of the request path, e.g. a server name. */
  readonly pathContains?: string;
  readonly status?: number;
  readonly code?: string;
  readonly message?: string;
  readonly retryAfterSeconds?: number;
  readonly latencyMs?: number;
  readonly rate?: number;
  readonly count?: number;
  /**
   * Serve the request first (a PATCH is applied, an operation starts), then answer the fault instead:
   * what a client sees when Azure accepted a write and the answer was lost (a 500 from a gateway after
   * the resource provider took it, a connection dropped on the way back). A request the service
   * refuses (401 challenge, 409 busy) still gets its refusal. Needs `status`.
   */
  readonly afterApply?: boolean;
}

interface ActiveRule extends FaultRule {
  readonly id: number;
  seen: number;
  fired: number;
}

export interface FaultDecision {
  readonly latencyMs: number;
  readonly reply: Reply | undefined;
  /** The request is to be served before `reply` replaces its answer (`FaultRule.afterApply`). */
  readonly afterApply: boolean;
}

export class Faults {
  private rules: ActiveRule[] = [];
  private nextId = 1;

  add(rule: FaultRule): number {
    if (rule.status === undefined && rule.latencyMs === undefined)
      throw new Error('a fault needs a status or a latencyMs');
    if (rule.afterApply === true && rule.status === undefined)
      throw new Error('an afterApply fault needs a status');
    if (rule.rate !== undefined && (rule.rate < 0 || rule.rate > 1))
      throw new Error('rate must be between 0 and 1');
    const id = this.nextId++;
    this.rules.push({ ...rule, id, seen: 0, fired: 0 });
    return id;
  }

  clear(): void {
    this.rules = [];
  }

  list(): readonly FaultRule[] {
    return this.rules;
  }

  decide(service: Service, operation: string, path: string): FaultDecision {
    let latencyMs = 0;
    let reply: Reply | undefined;
    let afterApply = false;
    for (const r of this.rules) {
      if (r.service !== '*' && r.service !== service) continue;
      if (r.operation !== undefined && r.operation !== operation) continue;
      if (r.pathContains !== undefined && !path.toLowerCase().includes(r.pathContains.toLowerCase()))
        continue;
      if (r.count !== undefined && r.fired >= r.count) continue;
      r.seen++;
      // Evenly spread: fire when the running share of fired requests falls below the rate.
      const rate = r.rate ?? 1;
      if (r.fired >= Math.floor(r.seen * rate + 1e-9)) continue;
      r.fired++;
      latencyMs += r.latencyMs ?? 0;
      if (reply === undefined && r.status !== undefined) {
        reply = errorReply(service, r);
        afterApply = r.afterApply === true;
      }
    }
    return { latencyMs, reply, afterApply };
  }
}

function errorReply(service: Service, r: FaultRule): Reply {
  const status = r.status ?? 500;
  const code = r.code ?? defaultCode(status);
  const headers: Record<string, string> = {};
  if (r.retryAfterSeconds !== undefined) headers['retry-after'] = String(r.retryAfterSeconds);
  const message = r.message ?? `Injected fault: ${code}.`;
  if (service === 'pagerduty')
    return { status, headers, body: { status: 'error', message, errors: [message] } };
  if (service === 'ingestion')
    // Breeze's TrackResponse shape. A 206 rule is applied by the ingestion stand-in itself (it accepts
    // all items but the last), so the reply here only marks it.
    return {
      status,
      headers,
      body: { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: status, message }] },
    };
  return { status, headers, body: { error: { code, message } } };
}

function defaultCode(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 403:
      return 'AuthorizationFailed';
    case 404:
      return 'ResourceNotFound';
    case 409:
      return 'Conflict';
    case 429:
      return 'TooManyRequests';
    case 503:
      return 'ServiceUnavailable';
    default:
      return 'InternalServerError';
  }
}

/** ARM's token bucket (since 2024): per subscription and principal, separate for reads and writes. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes a token; returns the seconds to wait when none is left. */
  take(
    key: string,
    burst: number,
    perSecond: number,
  ): { ok: true; remaining: number } | { ok: false; retryAfterSeconds: number } {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens) };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perSecond)) };
  }
}
