import { leavesAlone } from '../domain/plan';
import { serverNameOf } from '../domain/resourceId';
import { type PlannedServer } from './activityIo';

/**
 * Words of the expiry pages that depend on which servers they list: the rotator moves a server only if
 * its plan lets it (an opted-out or held server is left alone, whatever happens to its key), so a page
 * listing such servers says who moves them.
 */

/** Names of the listed servers the rotator leaves alone (opt-out tag: `excluded`; hold tag: `held`). */
export function leftAloneServers(servers: readonly PlannedServer[]): { optedOut: string[]; held: string[] } {
  const optedOut: string[] = [];
  const held: string[] = [];
  for (const s of servers) {
    const decisions = s.slots.map((x) => x.decision).filter(leavesAlone);
    if (decisions.includes('excluded')) optedOut.push(serverNameOf(s.serverId));
    else if (decisions.includes('held')) held.push(serverNameOf(s.serverId));
  }
  return { optedOut, held };
}

const list = (names: readonly string[]): string =>
  names.slice(0, 20).join(', ') + (names.length > 20 ? ` and ${names.length - 20} more` : '');

/** " The rotator does not move X (opted out) or Y (on hold): ..." — empty when every server is the rotator's. */
export function leftAloneNote(servers: readonly PlannedServer[]): string {
  const { optedOut, held } = leftAloneServers(servers);
  if (optedOut.length === 0 && held.length === 0) return '';
  const parts = [
    ...(optedOut.length > 0 ? [`${list(optedOut)} (opted out: whoever owns them moves them)`] : []),
    ...(held.length > 0 ? [`${list(held)} (on hold: remove the hold tag, or move them yourself)`] : []),
  ];
  return ` The rotator does not move ${parts.join(' or ')}.`;
}

/**
 * An expired version: restore access to it first (Microsoft Learn, PostgreSQL flexible server data
 * encryption: an Inaccessible server refuses a new key until its current one is usable again), wait
 * for Ready, then move the servers — the rotator those it may move, the operator the others.
 */
export function expiredRecovery(
  keyName: string,
  version: string,
  vaultName: string,
  routeKey: string,
  newest: boolean,
  servers: readonly PlannedServer[],
): string {
  const { optedOut, held } = leftAloneServers(servers);
  const all = optedOut.length + held.length === servers.length;
  const moves = all
    ? `then move them to ${newest ? 'a new version (create one: "Rotate now")' : 'the newest version'} yourself: the rotator leaves them alone`
    : `then the rotator moves ${optedOut.length + held.length > 0 ? 'the others' : 'them'} to ${newest ? 'a new version (create one: "Rotate now")' : 'the newest version'} on its next run (sweep, event, or POST /api/rotations/${vaultName}/${routeKey})`;
  return `Restore access to ${keyName}/${version} first: extend its expiry date (or re-enable / recover it) in ${vaultName}; wait until the servers listed are Ready again (up to about an hour); ${moves}. A new version alone does not help: an Inaccessible server refuses a new key until its current one is usable again.${all ? '' : leftAloneNote(servers)}`;
}
