import {
  PostgreSQLManagementFlexibleServerClient,
  getContinuationToken,
  type PostgreSQLManagementFlexibleServerClientOptionalParams,
  type ServerForPatch,
} from '@azure/arm-postgresql-flexible';
import type { TokenCredential } from '@azure/core-auth';
import { RestError, createPipelineRequest } from '@azure/core-rest-pipeline';
import { keyRef, sameKey, tryParseKeyUri } from '../domain/keyId';
import type { EncryptionPatchBody, ServerSnapshot } from '../domain/model';
import { parseFlexibleServerId } from '../domain/resourceId';
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
import { serverFromSdk } from './serverProjection';

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

/**
 * `ServerFleet` over `@azure/arm-postgresql-flexible`. Discovery lists every flexible server of each
 * subscription (the fallback when Resource Graph is not allowed) and filters them here.
 */
export class ArmServerFleet implements ServerFleet {
  private readonly clients = new Map<string, PostgreSQLManagementFlexibleServerClient>();
  private readonly writeClients = new Map<string, PostgreSQLManagementFlexibleServerClient>();

  constructor(private readonly options: ArmServerFleetOptions) {}

  /** Reads: the SDK's default retries (429/503 Retry-After, 5xx, 408, dropped connections). */
  private client(subscriptionId: string): PostgreSQLManagementFlexibleServerClient {
    let client = this.clients.get(subscriptionId);
    if (client === undefined) {
      client = new PostgreSQLManagementFlexibleServerClient(
        this.options.credential,
        subscriptionId,
        this.options.clientOptions,
      );
      this.clients.set(subscriptionId, client);
    }
    return client;
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
        writeOnceOptions(this.options.clientOptions ?? {}),
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

  async beginEncryptionUpdate(serverId: string, body: EncryptionPatchBody): Promise<OperationHandle> {
    const ref = parseFlexibleServerId(serverId);
    // dataEncryption only: no identity map, so ARM asks for no assign/action (see buildPatchBody).
    const patch: ServerForPatch = { dataEncryption: { ...body.properties.dataEncryption } };
    // The SDK's beginUpdate sends the PATCH, then already polls the operation once (servers.js:
    // `await poller.poll()`). A failure of that poll is a failed *read* after ARM accepted the write:
    // thrown as is, the caller would take the PATCH as refused and send it again. So the PATCH's own
    // answer is kept, and once ARM accepted it the handle is built from its Azure-AsyncOperation
    // (or Location) header whatever the first poll did.
    let accepted: { operationUrl: string | undefined } | undefined;
    try {
      const poller = await this.writeClient(ref.subscriptionId).servers.beginUpdate(
        ref.resourceGroup,
        ref.name,
        patch,
        {
          onResponse: (raw) => {
            if (raw.request.method !== 'PATCH' || raw.status < 200 || raw.status >= 300) return;
            const url = raw.headers.get('azure-asyncoperation') ?? raw.headers.get('location');
            accepted = { operationUrl: url?.startsWith('https://') === true ? url : undefined };
          },
        },
      );
      return { serverId, pollerState: poller.toString() };
    } catch (e) {
      if (accepted !== undefined)
        return {
          serverId,
          pollerState:
            accepted.operationUrl === undefined
              ? '{}'
              : JSON.stringify({ state: { config: { operationLocation: accepted.operationUrl } } }),
        };
      throw mapAzureError(e, `updating encryption of server ${ref.name}`);
    }
  }

  /**
   * Reads ARM's operation status resource (the `Azure-AsyncOperation` URL from the PATCH) once, through
   * the SDK client's own pipeline (auth, retries, throttling). The SDK poller would surface a failed
   * operation as an untyped Error with the code inside its message; the status resource carries
   * `error.code` as data, which is what diagnosis needs.
   */
  async pollOperation(handle: OperationHandle): Promise<OperationStatus> {
    const ref = parseFlexibleServerId(handle.serverId);
    const url = operationUrl(handle.pollerState);
    const client = this.client(ref.subscriptionId);
    let status: string | undefined;
    let error: { code?: unknown; message?: unknown } | undefined;
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
      };
      status = typeof body.status === 'string' ? body.status : undefined;
      error = body.error;
    } catch (e) {
      throw mapAzureError(e, `operation on server ${ref.name}`);
    }
    switch (status?.toLowerCase()) {
      case 'succeeded':
        return { status: 'Succeeded', server: await this.getServer(handle.serverId) };
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

/** The operation status URL inside the SDK poller's serialized state. */
function operationUrl(pollerState: string): string {
  try {
    const parsed = JSON.parse(pollerState) as { state?: { config?: { operationLocation?: unknown } } };
    const url = parsed.state?.config?.operationLocation;
    if (typeof url === 'string' && url.startsWith('https://')) return url;
  } catch {
    // fall through
  }
  throw new BadRequestError('Operation handle carries no operation status URL.', undefined, undefined);
}
