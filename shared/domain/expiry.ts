/** Key version expiry: days left and the page severity they call for. */

const DAY_MS = 86_400_000;

/** Whole days from `now` until `expiresOn` (negative once expired); undefined for a key that never expires. */
export function daysLeft(expiresOn: string | undefined, now: string): number | undefined {
  if (expiresOn === undefined) return undefined;
  return Math.floor((Date.parse(expiresOn) - Date.parse(now)) / DAY_MS);
}

/** Page severity for a key version that expires in `days`; undefined when it is not yet worth a page. */
export function expirySeverity(
  days: number | undefined,
  thresholds: { readonly warningDays: number; readonly criticalDays: number },
): 'critical' | 'warning' | undefined {
  if (days === undefined || days > thresholds.warningDays) return undefined;
  return days <= thresholds.criticalDays ? 'critical' : 'warning';
}
