import type { Incident } from './incident';

/** A link a page carries (PagerDuty `links`, a Teams card action, the webhook's `links`). */
export interface PageLink {
  readonly href: string;
  readonly text: string;
}

/** Where pages link to; each is left out when it is not configured. */
export interface PageLinkSettings {
  /** The status page (`GET /api/status`) as operators open it. */
  readonly statusPageUrl?: string | undefined;
  /** docs/runbook.md as operators read it; pages link to `<base>#<section>`. */
  readonly runbookBaseUrl?: string | undefined;
}

export const STATUS_PAGE_LINK_TEXT = 'CMK rotation status page';

/** Runbook sections (docs/runbook.md headings, as GitHub anchors them) by incident class. */
export const RUNBOOK_SECTIONS = {
  health: 'a-server-lost-its-key-health-watch',
  inaccessible: 'recovering-an-inaccessible-server',
  expiry: 'a-key-version-expires-soon',
  pages: 'what-each-page-means-and-the-next-step',
} as const;

/** The runbook section for an incident's class (health watch, Inaccessible or expired, expiring, the rest). */
export function runbookSection(i: Pick<Incident, 'dedupKey' | 'facts'>): string {
  const codes = (i.facts['reasonCode'] ?? '').toLowerCase().split(',');
  if (i.dedupKey.startsWith('cmk-health:')) return RUNBOOK_SECTIONS.health;
  if (codes.includes('keyexpired') || codes.includes('serverinaccessible'))
    return RUNBOOK_SECTIONS.inaccessible;
  if (codes.includes('keynearexpiry')) return RUNBOOK_SECTIONS.expiry;
  return RUNBOOK_SECTIONS.pages;
}

/** The links a page carries: the runbook section for its class, then the status page. */
export function pageLinks(i: Pick<Incident, 'dedupKey' | 'facts'>, s: PageLinkSettings): PageLink[] {
  const links: PageLink[] = [];
  if (s.runbookBaseUrl !== undefined)
    links.push({
      href: `${s.runbookBaseUrl.replace(/#.*$/, '')}#${runbookSection(i)}`,
      text: `Runbook: ${runbookSection(i).replace(/-/g, ' ')}`,
    });
  if (s.statusPageUrl !== undefined) links.push({ href: s.statusPageUrl, text: STATUS_PAGE_LINK_TEXT });
  return links;
}
