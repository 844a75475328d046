/** Paging operators. Adapters: PagerDuty Events v2, Microsoft Teams webhook, signed generic webhook. */
import type { Incident } from '../domain/incident';

export type { Incident, Severity } from '../domain/incident';

export type PageOutcome =
  | { readonly channel: string; readonly ok: true }
  | { readonly channel: string; readonly ok: false; readonly reason: string };

export interface Pager {
  /** Opens (or updates) the incident on every configured channel; one outcome per channel. */
  trigger(incident: Incident): Promise<PageOutcome[]>;
  /** Resolves the incident a later successful run proved fixed. */
  resolve(dedupKey: string, summary: string, correlationId: string): Promise<PageOutcome[]>;
}
