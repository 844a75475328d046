import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  pageLinks,
  STATUS_PAGE_LINK_TEXT,
  type PageLink,
  type PageLinkSettings,
} from '../domain/incidentLinks';
import type { Incident, PageOutcome, Pager } from '../ports/pager';
import { postWithRetry, type PostOptions } from './httpPost';

interface Channel {
  readonly name: string;
  /** `links`: the runbook section for the incident's class and the status page (when configured). */
  trigger(incident: Incident, links?: readonly PageLink[]): Promise<PageOutcome>;
  resolve(dedupKey: string, summary: string, correlationId: string): Promise<PageOutcome>;
}

type RetryOptions = PostOptions & { attempts?: number; baseDelayMs?: number };

function outcome(channel: string, r: { ok: true } | { ok: false; reason: string }): PageOutcome {
  return r.ok ? { channel, ok: true } : { channel, ok: false, reason: r.reason };
}

function factsOf(i: Incident): [string, string][] {
  return [
    ['What', i.summary],
    ['Where', i.source],
    ['Since', i.since],
    ...(i.deadline !== undefined ? ([['Deadline (key expiry)', i.deadline]] as [string, string][]) : []),
    ['Next step', i.nextStep],
    ['Correlation id', i.correlationId],
    ...Object.entries(i.facts),
  ];
}

/** PagerDuty Events API v2: `trigger` with a dedup key, `resolve` with the same key. */
export class PagerDutyChannel implements Channel {
  readonly name = 'pagerduty';
  constructor(
    private readonly routingKey: string,
    private readonly eventsUrl: string,
    private readonly options: RetryOptions = {},
  ) {}

  async trigger(i: Incident, links: readonly PageLink[] = []): Promise<PageOutcome> {
    // Events API v2: `links` [{href, text}] and `client` / `client_url` (the "View in <client>" link).
    const status = links.find((l) => l.text === STATUS_PAGE_LINK_TEXT);
    const body = {
      routing_key: this.routingKey,
      event_action: 'trigger',
      dedup_key: i.dedupKey,
      ...(links.length > 0 ? { links: links.map((l) => ({ href: l.href, text: l.text })) } : {}),
      ...(status !== undefined ? { client: 'pg-cmk-rotator', client_url: status.href } : {}),
      payload: {
        summary: i.summary.slice(0, 1024),
        source: i.source,
        severity: i.severity,
        timestamp: i.since,
        component: 'pg-cmk-rotator',
        group: i.facts['vault'] ?? 'key-vault',
        class: i.facts['reasonCode'] ?? 'cmk-rotation',
        custom_details: Object.fromEntries(factsOf(i)),
      },
    };
    return outcome(this.name, await postWithRetry(this.eventsUrl, JSON.stringify(body), this.options));
  }

  async resolve(dedupKey: string): Promise<PageOutcome> {
    const body = { routing_key: this.routingKey, event_action: 'resolve', dedup_key: dedupKey };
    return outcome(this.name, await postWithRetry(this.eventsUrl, JSON.stringify(body), this.options));
  }
}

/** Microsoft Teams incoming webhook: an Adaptive Card per trigger and resolve. */
export class TeamsChannel implements Channel {
  readonly name = 'teams';
  constructor(
    private readonly webhookUrl: string,
    private readonly options: RetryOptions = {},
  ) {}

  private card(
    title: string,
    color: 'attention' | 'good' | 'warning',
    facts: [string, string][],
    links: readonly PageLink[] = [],
  ): string {
    return JSON.stringify({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', size: 'Medium', weight: 'Bolder', color, wrap: true, text: title },
              { type: 'FactSet', facts: facts.map(([title, value]) => ({ title, value })) },
            ],
            ...(links.length > 0
              ? { actions: links.map((l) => ({ type: 'Action.OpenUrl', title: l.text, url: l.href })) }
              : {}),
          },
        },
      ],
    });
  }

  async trigger(i: Incident, links: readonly PageLink[] = []): Promise<PageOutcome> {
    const color = i.severity === 'critical' || i.severity === 'error' ? 'attention' : 'warning';
    const card = this.card(`[${i.severity.toUpperCase()}] ${i.summary}`, color, factsOf(i), links);
    return outcome(this.name, await postWithRetry(this.webhookUrl, card, this.options));
  }

  async resolve(dedupKey: string, summary: string, correlationId: string): Promise<PageOutcome> {
    const card = this.card(`[RESOLVED] ${summary}`, 'good', [
      ['Incident', dedupKey],
      ['Correlation id', correlationId],
    ]);
    return outcome(this.name, await postWithRetry(this.webhookUrl, card, this.options));
  }
}

/**
 * A generic JSON webhook signed with HMAC-SHA256: header `x-cmk-signature: sha256=<hex>` over
 * `<x-cmk-timestamp>.<body>`, so a receiver can check origin and reject replays.
 */
export class SignedWebhookChannel implements Channel {
  readonly name = 'webhook';
  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly options: RetryOptions = {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  private send(payload: unknown): Promise<{ ok: true } | { ok: false; reason: string }> {
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(this.now().getTime() / 1000));
    const signature = createHmac('sha256', this.secret).update(`${timestamp}.${body}`).digest('hex');
    return postWithRetry(this.url, body, {
      ...this.options,
      headers: { 'x-cmk-timestamp': timestamp, 'x-cmk-signature': `sha256=${signature}` },
    });
  }

  async trigger(i: Incident, links: readonly PageLink[] = []): Promise<PageOutcome> {
    return outcome(this.name, await this.send({ action: 'trigger', ...i, links }));
  }

  async resolve(dedupKey: string, summary: string, correlationId: string): Promise<PageOutcome> {
    return outcome(this.name, await this.send({ action: 'resolve', dedupKey, summary, correlationId }));
  }
}

/** Every configured channel, each tried independently: one failing channel does not silence the others. */
export class MultiChannelPager implements Pager {
  constructor(
    private readonly channels: readonly Channel[],
    private readonly links: PageLinkSettings = {},
  ) {}

  trigger(incident: Incident): Promise<PageOutcome[]> {
    const links = pageLinks(incident, this.links);
    return Promise.all(this.channels.map((c) => c.trigger(incident, links)));
  }

  resolve(dedupKey: string, summary: string, correlationId: string): Promise<PageOutcome[]> {
    return Promise.all(this.channels.map((c) => c.resolve(dedupKey, summary, correlationId)));
  }
}

/** Verifies a signed webhook delivery (for receivers, and for our tests), in constant time. */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string,
  body: string,
  header: string,
): boolean {
  const expected = Buffer.from(
    `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`,
  );
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
