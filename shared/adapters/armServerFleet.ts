import {
  PostgreSQLManagementFlexibleServerClient,
  getContinuationToken,
  type PostgreSQLManagementFlexibleServerClientOptionalParams,
} from '@azure/arm-postgresql-flexible';
import type { TokenCredential } from '@azure/core-auth';
import {
  RestError,
  createHttpHeaders,
  createPipelineRequest,
  type PipelinePolicy,
} from '@azure/core-rest-pipeline';
import { CrossTenantUndeterminedError } from '../domain/crossTenant';
import { keyRef, sameKey, tryParseKeyUri } from '../domain/keyId';
import type { EncryptionPatchBody, ServerSnapshot } from '../domain/model';
import { parseFlexibleServerId } from '../domain/resourceId';
import type { ArmQuota } from '../rotation/pacing';
import { BadRequestError } from '../ports/errors';
import type {
  KeyLocator,
  OperationHandle,
  OperationStatus,
  ServerFleet,
  ServerPage,
} from '../ports/serverFleet';
import { mapAzureError } from './azureErrors';
import { writeOnceOptions } from './writeOnce';
import { serverFromArmJson, serverFromSdk } from './serverProjection';

export interface ArmServerFleetOptions {
  readonly credential: TokenCredential;
  /** Subscriptions in scope, in the order discovery walks them. */
  readonly subscriptions: readonly string[];
  readonly clientOptions?: PostgreSQLManagementFlexibleServerClientOptionalParams;
}

/** Resumable position of an ARM-list discovery: which subscription, and ARM's own nextLink token. */
interface ListCursor {
  readonly s: number;
  readonly t: string | undefined;
}

function encodeCursor(c: ListCursor): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

function decodeCursor(token: string): ListCursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<ListCursor>;
    if (
      typeof c.s === 'number' &&
      Number.isInteger(c.s) &&
      c.s >= 0 &&
      (c.t === undefined || typeof c.t === 'string')
    ) {
      return { s: c.s, t: c.t };
    }
  } catch {
    // fall through
  }
  throw new BadRequestError('Invalid discovery continuation token.', undefined, undefined);
}

/** Does either encryption slot of this server name the key (any version, or versionless)? */
export function referencesKey(server: ServerSnapshot, key: KeyLocator): boolean {
  const wanted = keyRef(key.vaultUrl, key.keyName);
  return [server.dataEncryption?.primaryKeyURI, server.dataEncryption?.geoBackupKeyURI].some((uri) => {
    const ref = tryParseKeyUri(uri);
    return ref !== undefined && sameKey(ref, wanted);
  });
}

/** The api-version that carries the cross-tenant CMK fields of `dataEncryption` (shared/domain/crossTenant.ts). */
export const CROSS_TENANT_API_VERSION = '2026-04-01-preview';
const UNSUPPORTED_API_VERSION = /"code"\s*:\s*"(InvalidApiVersionParameter|NoRegisteredProviderFound)"/i;
function previewUnsupported(status: number, body: string | null | undefined): boolean {
  return status === 400 && UNSUPPORTED_API_VERSION.test(body ?? '');
}

/**
 * `ServerFleet` over `@azure/arm-postgresql-flexible`. Discovery lists every flexible server of each
 * subscription (the fallback when Resource Graph is not allowed) and filters them here.
 */
export class ArmServerFleet implements ServerFleet {
  private readonly clients = new Map<string, PostgreSQLManagementFlexibleServerClient>();
  private readonly quota = new ArmQuotaObserver();
  private readonly writeClients = new Map<string, PostgreSQLManagementFlexibleServerClient>();

  constructor(private readonly options: ArmServerFleetOptions) {}

  /** Every attempt, the SDK's own retries of a 429 included: what ARM says is left of the quota. */
  private withQuotaObserver(
    base: PostgreSQLManagementFlexibleServerClientOptionalParams,
  ): PostgreSQLManagementFlexibleServerClientOptionalParams {
    return {
      ...base,
      additionalPolicies: [
        ...(base.additionalPolicies ?? []),
        { policy: this.quota.policy, position: 'perRetry' },
      ],
    };
  }

  /** Reads: the SDK's default retries (429/503 Retry-After, 5xx, 408, dropped connections). */
  private client(subscriptionId: string): PostgreSQLManagementFlexibleServerClient {
    let client = this.clients.get(subscriptionId);
    if (client === undefined) {
      client = new PostgreSQLManagementFlexibleServerClient(
        this.options.credential,
        subscriptionId,
        this.withQuotaObserver(this.options.clientOptions ?? {}),
      );
      this.clients.set(subscriptionId, client);
    }
    return client;
  }

  armQuota(subscriptionId: string, since: number): ArmQuota | undefined {
    return this.quota.reading(subscriptionId, since);
  }

  /**
   * The PATCH: no SDK retry (`writeOnceOptions`). ARM may have accepted a PATCH whose answer was a 5xx,
   * a 408 or a dropped connection, and the SDK would send it again; the orchestrator retries instead,
   * after re-reading the server.
   */
  private writeClient(subscriptionId: string): PostgreSQLManagementFlexibleServerClient {
    let client = this.writeClients.get(subscriptionId);
    if (client === undefined) {
      client = new PostgreSQLManagementFlexibleServerClient(
        this.options.credential,
        subscriptionId,
        writeOnceOptions(this.withQuotaObserver(this.options.clientOptions ?? {})),
      );
      this.writeClients.set(subscriptionId, client);
    }
    return client;
  }

  findServersReferencingKey(key: KeyLocator, continuationToken?: string): Promise<ServerPage> {
    return this.listPage((s) => referencesKey(s, key), continuationToken);
  }

  findServersWithCustomerManagedKeys(continuationToken?: string): Promise<ServerPage> {
    return this.listPage((s) => s.dataEncryption?.type === 'AzureKeyVault', continuationToken);
  }

  private async listPage(
    keep: (server: ServerSnapshot) => boolean,
    continuationToken: string | undefined,
  ): Promise<ServerPage> {
    const cursor = continuationToken === undefined ? { s: 0, t: undefined } : decodeCursor(continuationToken);
    const subscriptionId = this.options.subscriptions[cursor.s];
    if (subscriptionId === undefined) return { servers: [], continuationToken: undefined };
    try {
      const pages = this.client(subscriptionId)
        .servers.listBySubscription()
        .byPage(cursor.t === undefined ? {} : { continuationToken: cursor.t });
      const next = await pages.next();
      const page = next.done === true ? [] : next.value;
      const armToken = next.done === true ? undefined : getContinuationToken(page);
      const servers = page.map(serverFromSdk).filter(keep);
      const after: ListCursor | undefined =
        armToken !== undefined
          ? { s: cursor.s, t: armToken }
          : cursor.s + 1 < this.options.subscriptions.length
            ? { s: cursor.s + 1, t: undefined }
            : undefined;
      return { servers, continuationToken: after === undefined ? undefined : encodeCursor(after) };
    } catch (e) {
      throw mapAzureError(e, `listing flexible servers in subscription ${subscriptionId}`);
    }
  }

  async getServer(serverId: string): Promise<ServerSnapshot> {
    const ref = parseFlexibleServerId(serverId);
    try {
      return serverFromSdk(await this.client(ref.subscriptionId).servers.get(ref.resourceGroup, ref.name));
    } catch (e) {
      throw mapAzureError(e, `reading server ${ref.name}`);
    }
  }

  /**
   * The read right before a PATCH, with the preview api-version that knows cross-tenant CMK
   * (`CROSS_TENANT_API_VERSION`): ARM returns `primaryFederatedIdentityClientId` /
   * `geoBackupFederatedIdentityClientId` only to api-versions that define them, and a stable read cannot
   * tell a cross-tenant server from another. The same one read as `getServer` (issue 13's request
   * budget), raw through the read client's pipeline (auth, retries, throttling), projected like a
   * Resource Graph row. When the preview api-version is refused (400 InvalidApiVersionParameter /
   * NoRegisteredProviderFound: retired, or not served in the region) the read cannot tell, and a stable
   * read never shows the federated ids: it fails closed with `CrossTenantUndeterminedError` (permanent),
   * never falling back to the stable read. Any other failure fails the read too, so no PATCH follows a
   * read that could not tell.
   */
  async getServerForUpdate(serverId: string): Promise<ServerSnapshot> {
    const ref = parseFlexibleServerId(serverId);
    const client = this.client(ref.subscriptionId);
    const url = `${client.$host.replace(/\/$/, '')}/subscriptions/${encodeURIComponent(ref.subscriptionId)}/resourceGroups/${encodeURIComponent(ref.resourceGroup)}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${encodeURIComponent(ref.name)}?api-version=${CROSS_TENANT_API_VERSION}`;
    let response;
    try {
      response = await client.sendRequest(createPipelineRequest({ url, method: 'GET' }));
      if (response.status >= 400 && !previewUnsupported(response.status, response.bodyAsText))
        throw new RestError(`GET returned ${response.status}`, { statusCode: response.status, response });
    } catch (e) {
      throw mapAzureError(e, `reading server ${ref.name}`);
    }
    if (previewUnsupported(response.status, response.bodyAsText))
      throw new CrossTenantUndeterminedError(
        `reading server ${ref.name}: api-version ${CROSS_TENANT_API_VERSION} was refused (${response.bodyAsText?.match(UNSUPPORTED_API_VERSION)?.[1] ?? 'unsupported'}), so whether it uses cross-tenant CMK cannot be told; a stable-api PATCH could convert a cross-tenant server, so it is left alone, never PATCHed`,
      );
    return serverFromArmJson(JSON.parse(response.bodyAsText ?? '{}'));
  }

  /**
   * Sends the PATCH once and returns ARM's answer (202 and its operation URL) without polling. The
   * SDK's `servers.beginUpdate` polls the operation once right after the PATCH (its generated code
   * awaits `poller.poll()`), a read the rollout would spend for nothing seconds before the operation
   * can be done; so the PATCH goes through the same client's pipeline (auth, retries, throttling), its
   * body the REST spec's `ServerForPatch` wire shape.
   */
  async beginEncryptionUpdate(serverId: string, body: EncryptionPatchBody): Promise<OperationHandle> {
    const ref = parseFlexibleServerId(serverId);
    const client = this.writeClient(ref.subscriptionId);
    // dataEncryption only: no identity map, so ARM asks for no assign/action (see buildPatchBody).
    const wire = { properties: { dataEncryption: { ...body.properties.dataEncryption } } };
    const url = `${client.$host.replace(/\/$/, '')}/subscriptions/${encodeURIComponent(ref.subscriptionId)}/resourceGroups/${encodeURIComponent(ref.resourceGroup)}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${encodeURIComponent(ref.name)}?api-version=${encodeURIComponent(client.apiVersion)}`;
    try {
      const response = await client.sendRequest(
        createPipelineRequest({
          url,
          method: 'PATCH',
          body: JSON.stringify(wire),
          headers: createHttpHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
        }),
      );
      if (response.status >= 400)
        throw new RestError(`PATCH returned ${response.status}`, { statusCode: response.status, response });
      const operation = response.headers.get('azure-asyncoperation');
      return { serverId, operationUrl: this.sameHost(client, operation) ? operation : undefined };
    } catch (e) {
      throw mapAzureError(e, `updating encryption of server ${ref.name}`);
    }
  }

  /** Only ARM's own host gets the client's bearer token. */
  private sameHost(client: PostgreSQLManagementFlexibleServerClient, url: string | undefined): url is string {
    if (url === undefined || !url.startsWith('https://')) return false;
    try {
      return new URL(url).host.toLowerCase() === new URL(client.$host).host.toLowerCase();
    } catch {
      return false;
    }
  }

  /**
   * Reads ARM's operation status resource (the `Azure-AsyncOperation` URL from the PATCH) once, through
   * the SDK client's own pipeline (auth, retries, throttling). The status resource carries
   * `error.code` as data, which is what diagnosis needs. It does not read the server: the caller's
   * verification does that once.
   */
  async pollOperation(handle: OperationHandle): Promise<OperationStatus> {
    const ref = parseFlexibleServerId(handle.serverId);
    const client = this.client(ref.subscriptionId);
    const url = handle.operationUrl;
    if (!this.sameHost(client, url))
      throw new BadRequestError(
        'Operation handle carries no usable operation status URL.',
        undefined,
        undefined,
      );
    let status: string | undefined;
    let error: { code?: unknown; message?: unknown } | undefined;
    let durationSeconds: number | undefined;
    try {
      const response = await client.sendRequest(createPipelineRequest({ url, method: 'GET' }));
      if (response.status >= 400) {
        throw new RestError(`operation status returned ${response.status}`, {
          statusCode: response.status,
          response,
        });
      }
      const body = JSON.parse(response.bodyAsText ?? '{}') as {
        status?: unknown;
        error?: { code?: unknown; message?: unknown };
        startTime?: unknown;
        endTime?: unknown;
      };
      status = typeof body.status === 'string' ? body.status : undefined;
      error = body.error;
      durationSeconds = operationSeconds(body.startTime, body.endTime);
    } catch (e) {
      throw mapAzureError(e, `operation on server ${ref.name}`);
    }
    switch (status?.toLowerCase()) {
      case 'succeeded':
        return { status: 'Succeeded', durationSeconds };
      case 'failed':
      case 'canceled':
        return {
          status: status.toLowerCase() === 'failed' ? 'Failed' : 'Canceled',
          errorCode: typeof error?.code === 'string' ? error.code : 'OperationFailed',
          message: typeof error?.message === 'string' ? error.message : `operation ${status}`,
        };
      default:
        return { status: 'InProgress' };
    }
  }
}

const REMAINING = {
  reads: 'x-ms-ratelimit-remaining-subscription-reads',
  writes: 'x-ms-ratelimit-remaining-subscription-writes',
  /** Sent instead of the two above by a service that overrides ARM's default limits (Microsoft Learn). */
  resource: 'x-ms-ratelimit-remaining-subscription-resource-requests',
} as const;

/**
 * Keeps, per subscription, what ARM's answers said about the remaining request quota (Microsoft Learn,
 * "Understand how Azure Resource Manager throttles requests": reads remaining on read operations,
 * writes remaining on write operations) and the last 429's `Retry-After`. A pipeline policy on every
 * attempt, so the SDK's own retries of a 429 are seen too.
 */
export class ArmQuotaObserver {
  private readonly bySubscription = new Map<
    string,
    { reads?: number; writes?: number; throttledAt?: number; retryAfterSeconds?: number }
  >();

  readonly policy: PipelinePolicy = {
    name: 'armQuotaObserver',
    sendRequest: async (request, next) => {
      const response = await next(request);
      const sub = /\/subscriptions\/([^/?]+)/i.exec(new URL(request.url).pathname)?.[1]?.toLowerCase();
      if (sub === undefined) return response;
      const entry = this.bySubscription.get(sub) ?? {};
      const number = (name: string): number | undefined => {
        const v = response.headers.get(name);
        const n = v === undefined ? NaN : Number(v);
        return Number.isFinite(n) && n >= 0 ? n : undefined;
      };
      const read = request.method === 'GET' || request.method === 'HEAD';
      const remaining = number(read ? REMAINING.reads : REMAINING.writes) ?? number(REMAINING.resource);
      if (remaining !== undefined) {
        if (read) entry.reads = remaining;
        else entry.writes = remaining;
      }
      if (response.status === 429) {
        entry.throttledAt = Date.now();
        entry.retryAfterSeconds = Math.max(1, number('retry-after') ?? 1);
      }
      this.bySubscription.set(sub, entry);
      return response;
    },
  };

  reading(subscriptionId: string, since: number): ArmQuota | undefined {
    const e = this.bySubscription.get(subscriptionId.toLowerCase());
    if (e === undefined) return undefined;
    const throttled = e.throttledAt !== undefined && e.throttledAt >= since;
    return {
      ...(e.reads !== undefined ? { reads: e.reads } : {}),
      ...(e.writes !== undefined ? { writes: e.writes } : {}),
      ...(throttled ? { retryAfterSeconds: e.retryAfterSeconds } : {}),
    };
  }
}

/**
 * How long an operation ran by ARM's own clock: its status's `startTime` and `endTime` (optional
 * date-times of ARM's common `OperationStatusResult`, Azure/azure-rest-api-specs
 * specification/common-types/resource-management/v5/types.json). Undefined when either is missing
 * or unreadable, or the span is negative.
 */
export function operationSeconds(startTime: unknown, endTime: unknown): number | undefined {
  if (typeof startTime !== 'string' || typeof endTime !== 'string') return undefined;
  const span = (Date.parse(endTime) - Date.parse(startTime)) / 1000;
  return Number.isFinite(span) && span >= 0 ? span : undefined;
}
