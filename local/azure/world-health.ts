import { dataEncryptionOf, props, type KeyAccessCheck, type ServerRecord } from './world-records';

/** The RP's key check of one key URI for one identity (world-grants.ts checkKeyAccess, bound to a world). */
export type KeyCheck = (uri: string, identity: string | undefined) => KeyAccessCheck;

type Slot = 'primary' | 'geoBackup';
const SLOTS: readonly Slot[] = ['primary', 'geoBackup'];

/**
 * Which servers the key status check must look at. A server's key status follows from its key URIs and
 * identities (and the world: key attributes, grants, time), so servers are grouped by those; every pass
 * checks each group's keys once, and looks at a group's servers only when that outcome changed. Beyond
 * that only servers whose own JSON changed (a PATCH began or ended, a server was added) and servers with
 * an Invalid key (counting towards Inaccessible) are looked at. The outcome is the same as checking
 * every server on every pass; the cost follows what changes, not the fleet's size.
 */
export class ServerHealth {
  private readonly groups = new Map<string, Set<ServerRecord>>();
  private readonly groupOf = new Map<ServerRecord, string>();
  /** The outcome of each group's key checks at the last pass. */
  private readonly outcomes = new Map<string, string>();
  private readonly dirty = new Set<ServerRecord>();
  /** Servers with an Invalid key: time alone can make them Inaccessible. */
  private readonly invalid = new Set<ServerRecord>();
  /** How many servers the last pass looked at (tests and benchmarks). */
  lastPassLooked = 0;

  changed(record: ServerRecord): void {
    this.dirty.add(record);
  }

  removed(record: ServerRecord): void {
    this.dirty.delete(record);
    this.invalid.delete(record);
    this.regroup(record, undefined);
  }

  private regroup(record: ServerRecord, group: string | undefined): void {
    const current = this.groupOf.get(record);
    if (current === group) return;
    if (current !== undefined) {
      const members = this.groups.get(current);
      members?.delete(record);
      if (members?.size === 0) {
        this.groups.delete(current);
        this.outcomes.delete(current);
      }
      this.groupOf.delete(record);
    }
    if (group !== undefined) {
      let members = this.groups.get(group);
      if (members === undefined) this.groups.set(group, (members = new Set()));
      members.add(record);
      this.groupOf.set(record, group);
    }
  }

  /**
   * One pass at clock time `now`: `checkKey` is the RP's key check (world-grants.ts), a key Invalid for
   * `inaccessibleAfterMs` makes its server Inaccessible.
   */
  pass(now: number, checkKey: KeyCheck, inaccessibleAfterMs: number): void {
    const checks = new Map<string, KeyAccessCheck>();
    const check: KeyCheck = (uri, identity) => {
      const key = `${uri}\n${identity ?? ''}`;
      let result = checks.get(key);
      if (result === undefined) checks.set(key, (result = checkKey(uri, identity)));
      return result;
    };
    const seen = new Set<ServerRecord>();
    const look = (record: ServerRecord) => {
      if (seen.has(record)) return;
      seen.add(record);
      if (evaluateServer(record, now, check, inaccessibleAfterMs)) this.invalid.add(record);
      else this.invalid.delete(record);
    };
    for (const record of this.dirty) {
      this.regroup(record, groupKey(record));
      look(record);
    }
    this.dirty.clear();
    for (const [group, members] of this.groups) {
      const outcome = groupOutcome(group, check);
      if (this.outcomes.get(group) === outcome) continue;
      this.outcomes.set(group, outcome);
      for (const record of members) look(record);
    }
    for (const record of [...this.invalid]) look(record);
    this.lastPassLooked = seen.size;
  }
}

/** The key URIs and identities a server's key status depends on. */
function groupKey(record: ServerRecord): string | undefined {
  const de = dataEncryptionOf(record.json);
  if (de?.['type'] !== 'AzureKeyVault') return undefined;
  return JSON.stringify(
    SLOTS.map((slot) => [de[`${slot}KeyURI`], de[`${slot}UserAssignedIdentityId`]] as const),
  );
}

function groupOutcome(group: string, check: KeyCheck): string {
  const slots = JSON.parse(group) as [unknown, unknown][];
  return slots
    .map(([uri, identity]) => {
      if (typeof uri !== 'string' || uri === '') return '-';
      const r = check(uri, typeof identity === 'string' ? identity : undefined);
      return r.ok ? 'ok' : r.code;
    })
    .join(' ');
}

/** The key status check of one server; true when a key is Invalid (and time may make it Inaccessible). */
function evaluateServer(
  record: ServerRecord,
  now: number,
  check: KeyCheck,
  inaccessibleAfterMs: number,
): boolean {
  const p = props(record.json);
  const de = dataEncryptionOf(record.json);
  if (de?.['type'] !== 'AzureKeyVault' || p['state'] === 'Updating' || p['state'] === 'Stopped') return false;
  let anyInvalidLongEnough = false;
  let allValid = true;
  for (const slot of SLOTS) {
    const uri = de[`${slot}KeyURI`];
    if (typeof uri !== 'string' || uri === '') continue;
    const identity = de[`${slot}UserAssignedIdentityId`];
    const result = check(uri, typeof identity === 'string' ? identity : undefined);
    if (result.ok) {
      de[`${slot}EncryptionKeyStatus`] = 'Valid';
      record.invalidSince[slot] = undefined;
    } else {
      allValid = false;
      de[`${slot}EncryptionKeyStatus`] = 'Invalid';
      const since = (record.invalidSince[slot] ??= now);
      if (now - since >= inaccessibleAfterMs) anyInvalidLongEnough = true;
    }
  }
  if (anyInvalidLongEnough && p['state'] === 'Ready') p['state'] = 'Inaccessible';
  if (allValid && p['state'] === 'Inaccessible') p['state'] = 'Ready';
  return !allValid;
}
