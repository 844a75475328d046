import type { PlannedServer, UnplannableServer } from './activityIo';

/** Words of the rotation's audit records. */

/** The PlanComputed record's reason: how many servers the plan gives each action. */
export function summarizePlan(
  servers: readonly PlannedServer[],
  unplannable: readonly UnplannableServer[],
): string {
  const count = (a: string) => servers.filter((s) => s.action === a).length;
  return `${count('update')} to update, ${count('verify')} to verify, ${count('skip')} skipped, ${unplannable.length} unplannable, ${servers.filter((s) => s.ring === 'canary').length} in the canary ring`;
}
