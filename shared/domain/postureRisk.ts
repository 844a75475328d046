/** How the posture rules (postureRules.ts and its parts) rank and combine risks. */
import type { Risk } from './posture';

export const RANK: Record<Risk, number> = { ok: 0, warning: 1, critical: 2 };

export function worst(...risks: Risk[]): Risk {
  return risks.reduce<Risk>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
}
