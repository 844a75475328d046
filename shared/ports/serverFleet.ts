import type { EncryptionPatchBody, ServerSnapshot } from '../domain/model';
import type { ArmQuota } from '../rotation/pacing';

export interface KeyLocator {
  readonly vaultUrl: string;
  readonly keyName: string;
}

/** One page of a discovery; hand `continuationToken` back to resume exactly where it stopped. */
export interface ServerPage {
  readonly servers: readonly ServerSnapshot[];
  readonly continuationToken: string | undefined;
  /** Rows that name the key but cannot be read as a server (malformed): reported, never dropped silently. */
  readonly invalid?: readonly InvalidServerRow[];
}

/** A discovered row that is not a usable server: its id when it has one, and why. */
export interface InvalidServerRow {
  readonly id: string | undefined;
  readonly name: string | undefined;
  readonly reason: string;
}

/** A long-running PATCH as ARM answered it: plain JSON, safe to carry through an orchestration. */
export interface OperationHandle {
  readonly serverId: string;
  /** ARM's operation status URL (`Azure-AsyncOperation`); undefined when the answer named none usable. */
  readonly operationUrl: string | undefined;
}

export type OperationStatus =
  | { readonly status: 'InProgress' }
  /**
   * `durationSeconds`: how long ARM says the operation ran (its status's `endTime` − `startTime`),
   * when it says so; paces the first poll of the servers that follow.
   */
  | { readonly status: 'Succeeded'; readonly durationSeconds?: number | undefined }
  | { readonly status: 'Failed' | 'Canceled'; readonly errorCode: string; readonly message: string };

/** Flexible servers across the configured subscriptions. */
export interface ServerFleet {
  /**
   * Servers whose primary or geo-backup key URI names this key (versioned or versionless), one page
   * at a time. Discovery may over-match (prefix queries); callers plan with the domain, which re-checks.
   */
  findServersReferencingKey(key: KeyLocator, continuationToken?: string): Promise<ServerPage>;
  /**
   * Every server in scope with customer-managed keys (`dataEncryption.type` AzureKeyVault), one page at
   * a time: one discovery serves many keys (the sweep groups the result by key itself).
   */
  findServersWithCustomerManagedKeys(continuationToken?: string): Promise<ServerPage>;
  getServer(serverId: string): Promise<ServerSnapshot>;
  /**
   * The read right before a PATCH: `getServer`, plus the cross-tenant CMK federated client ids where
   * Azure shows them (the api-version that has the field; shared/domain/crossTenant.ts). One request.
   */
  getServerForUpdate(serverId: string): Promise<ServerSnapshot>;
  /** Sends the PATCH and returns as soon as ARM accepted it (202), without waiting for the operation. */
  beginEncryptionUpdate(serverId: string, body: EncryptionPatchBody): Promise<OperationHandle>;
  /** One poll of the operation (one request); never blocks until completion, never reads the server. */
  pollOperation(handle: OperationHandle): Promise<OperationStatus>;
  /**
   * What ARM's answers for this subscription said about its remaining request quota, the latest
   * reading of each kind; `retryAfterSeconds` only if ARM throttled a request since `since` (ms epoch).
   * Undefined when nothing was read yet (or the fleet cannot tell).
   */
  armQuota?(subscriptionId: string, since: number): ArmQuota | undefined;
}

/** All pages of a discovery: the servers, and the rows it could not read as servers. */
async function allPages(
  next: (token: string | undefined) => Promise<ServerPage>,
): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
  const servers: ServerSnapshot[] = [];
  const invalid: InvalidServerRow[] = [];
  let token: string | undefined;
  do {
    const page = await next(token);
    servers.push(...page.servers);
    invalid.push(...(page.invalid ?? []));
    token = page.continuationToken;
  } while (token !== undefined);
  return { servers, invalid };
}

/** Every server a discovery finds, and the rows it could not read, following continuation tokens to the end. */
export function discoverServersReferencingKey(
  fleet: ServerFleet,
  key: KeyLocator,
): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
  return allPages((token) => fleet.findServersReferencingKey(key, token));
}

/** Every server a discovery finds, following its continuation tokens to the end. */
export async function findAllServersReferencingKey(
  fleet: ServerFleet,
  key: KeyLocator,
): Promise<ServerSnapshot[]> {
  return (await discoverServersReferencingKey(fleet, key)).servers;
}

/** Every server in scope with customer-managed keys, and the rows it could not read, all pages. */
export function discoverServersWithCustomerManagedKeys(
  fleet: ServerFleet,
): Promise<{ servers: ServerSnapshot[]; invalid: InvalidServerRow[] }> {
  return allPages((token) => fleet.findServersWithCustomerManagedKeys(token));
}

/** Every server in scope with customer-managed keys, all pages. */
export async function findAllServersWithCustomerManagedKeys(fleet: ServerFleet): Promise<ServerSnapshot[]> {
  return (await discoverServersWithCustomerManagedKeys(fleet)).servers;
}
