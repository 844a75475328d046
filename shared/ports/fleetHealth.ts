import type { ServerSnapshot } from '../domain/model';
import {
  discoverServersWithCustomerManagedKeys,
  type InvalidServerRow,
  type ServerFleet,
} from './serverFleet';

/** What the health watch reads of the fleet: one query per tick. */
export interface FleetHealth {
  /**
   * Servers in scope with customer-managed keys whose state is Inaccessible or whose primary or
   * geo-backup key status is Invalid, and the servers named in `watch` (ids, case-insensitive) whatever
   * their state: the watch resolves a page only on what it read.
   */
  findUnhealthyServers(
    watch: readonly string[],
  ): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }>;
}

const is = (v: string | undefined, want: string): boolean => v?.toLowerCase() === want.toLowerCase();

/** Does a server match the watch's filter (the same filter the Resource Graph query applies)? */
export function matchesHealthFilter(s: ServerSnapshot, watch: ReadonlySet<string>): boolean {
  const de = s.dataEncryption;
  return (
    is(de?.type, 'AzureKeyVault') &&
    (is(s.state, 'Inaccessible') ||
      is(de?.primaryEncryptionKeyStatus, 'Invalid') ||
      is(de?.geoBackupEncryptionKeyStatus, 'Invalid') ||
      watch.has(s.id.toLowerCase()))
  );
}

/**
 * The watch over any `ServerFleet` (`CMK_DISCOVERY=armList`): lists every server with customer-managed
 * keys (ARM's read quota, one list per subscription and page) and keeps those the filter matches.
 */
export class ListedFleetHealth implements FleetHealth {
  constructor(private readonly fleet: ServerFleet) {}

  async findUnhealthyServers(
    watch: readonly string[],
  ): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
    const ids = new Set(watch.map((w) => w.toLowerCase()));
    const found = await discoverServersWithCustomerManagedKeys(this.fleet);
    return { servers: found.servers.filter((s) => matchesHealthFilter(s, ids)), invalid: found.invalid };
  }
}
