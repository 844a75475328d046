import type { Risk } from './statusModel';

// ---------------------------------------------------------------------------------------------
// Rendering primitives of the status page: every value escaped; how risks, times, runbook sections,
// versions and expiries are shown.

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(v: string | number | boolean | null | undefined): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export class Html {
  constructor(readonly text: string) {}
}

export type Value = Html | string | number | boolean | null | undefined;

function fragment(v: Value): string {
  return v instanceof Html ? v.text : escapeHtml(v);
}

/** A template whose interpolations are escaped unless they are `Html` already. */
const isList = (v: Value | readonly Value[]): v is readonly Value[] => Array.isArray(v);

export function html(strings: TemplateStringsArray, ...values: (Value | readonly Value[])[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const part = isList(v) ? v.map(fragment).join('') : fragment(v);
    out += part + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

export const badge = (risk: Risk | 'error') => html`<span class="${risk} nowrap">${risk}</span>`;

/** How long ago (or until) `iso`, in words, from `now`. Pure. */
export function relativeTime(iso: string, now: string): string {
  const s = Math.round((Date.parse(now) - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return iso;
  const a = Math.abs(s);
  const words =
    a < 60
      ? `${a} s`
      : a < 3600
        ? `${Math.floor(a / 60)} min`
        : a < 86_400
          ? `${Math.floor(a / 3600)} h`
          : `${Math.floor(a / 86_400)} d`;
  return s >= 0 ? `${words} ago` : `in ${words}`;
}

/** A time shown relative to the page's time, the UTC time on hover and in `datetime`. */
export const when = (iso: string | undefined, now: string) =>
  iso === undefined || iso === ''
    ? ''
    : html`<time datetime="${iso}" title="${iso}">${relativeTime(iso, now)}</time>`;

/** A runbook section: a link when CMK_RUNBOOK_BASE_URL is set, else its name in docs/runbook.md. */
export const runbookLink = (section: string | undefined, base: string | undefined) =>
  section === undefined
    ? ''
    : base === undefined
      ? html`<span class="muted">runbook: docs/runbook.md#${section}</span>`
      : html`<a href="${base.replace(/#.*$/, '')}#${section}" rel="noreferrer">runbook</a>`;

export const short = (v: string | undefined) => (v === undefined ? 'versionless' : v.slice(0, 8));
export const countdown = (d: number | undefined) =>
  d === undefined ? 'never expires' : d < 0 ? `expired ${-d} day(s) ago` : `${d} day(s) left`;
