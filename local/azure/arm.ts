import { randomUUID } from 'node:crypto';
import { readBearer } from './credential';
import type { TokenBuckets } from './faults';
import { HttpError, isObject, jsonBody, type Reply, type Request } from './http';
import { dataEncryptionOf, type Operation, type ServerRecord, type World } from './world';
import type { Scheduler } from './clock';

export const ARM_API_VERSIONS = ['2024-08-01', '2025-06-01-preview', '2025-08-01'];
const PROVIDER = 'microsoft.dbforpostgresql';
// The RP checks only the shape of a key URI when it accepts a PATCH; whether the key exists is found
// out when it reaches the vault, and fails the operation instead.
const KEY_URI_SHAPE =
  /^https:\/\/[a-z0-9-]+\.(vault|managedhsm)\.[a-z0-9.]+(:443)?\/keys\/[A-Za-z0-9-]+(\/[^/?#]*)?$/i;

export function armError(
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): HttpError {
  return new HttpError(status, {
    status,
    ...(headers !== undefined ? { headers } : {}),
    body: { error: { code, message } },
  });
}

export interface ArmContext {
  readonly world: World;
  readonly scheduler: Scheduler;
  readonly buckets: TokenBuckets;
}

export interface ArmRoute {
  readonly operation: string;
  readonly handle: () => Reply;
}

/** Checks the api-version and the bearer token for ARM's audience; returns the caller's object id. */
export function authorizeArm(req: Request, apiVersions: readonly string[]): string {
  const apiVersion = req.query.get('api-version');
  if (apiVersion === null || !apiVersions.includes(apiVersion)) {
    throw armError(
      400,
      'InvalidApiVersionParameter',
      `The api-version '${apiVersion ?? ''}' is invalid. The supported versions are '${apiVersions.join(',')}'.`,
    );
  }
  const header = req.headers.authorization;
  if (header === undefined || header === '') {
    throw armError(
      401,
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is missing.",
      {
        'www-authenticate':
          'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
      },
    );
  }
  const claims = readBearer(header);
  if (claims === undefined) throw armError(401, 'InvalidAuthenticationToken', 'The access token is invalid.');
  if (claims.aud.replace(/\/$/, '') !== 'https://management.azure.com') {
    throw armError(
      401,
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.`,
    );
  }
  return claims.oid;
}

function knownSubscriptions(world: World): Set<string> {
  const subs = new Set<string>();
  for (const r of world.servers.values()) subs.add(String(r.json['id']).split('/')[2]?.toLowerCase() ?? '');
  for (const v of world.vaults.values()) subs.add(v.subscriptionId.toLowerCase());
  return subs;
}

function knownResourceGroups(world: World, sub: string): Set<string> {
  const rgs = new Set<string>();
  for (const r of world.servers.values()) {
    const parts = String(r.json['id']).split('/');
    if (parts[2]?.toLowerCase() === sub) rgs.add(parts[4]?.toLowerCase() ?? '');
  }
  for (const v of world.vaults.values())
    if (v.subscriptionId.toLowerCase() === sub) rgs.add(v.resourceGroup.toLowerCase());
  return rgs;
}

function throttle(
  ctx: ArmContext,
  sub: string,
  principal: string,
  kind: 'reads' | 'writes',
): Record<string, string> {
  const cfg = kind === 'reads' ? ctx.world.behaviour.armReads : ctx.world.behaviour.armWrites;
  const result = ctx.buckets.take(`${sub}:${principal}:${kind}`, cfg.burst, cfg.perSecond);
  if (!result.ok) {
    throw armError(
      429,
      'SubscriptionRequestsThrottled',
      `Number of '${kind === 'reads' ? 'read' : 'write'}' requests for subscription '${sub}' actor '${principal}' exceeded. Please try again after '${result.retryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
      { 'retry-after': String(result.retryAfterSeconds) },
    );
  }
  return { [`x-ms-ratelimit-remaining-subscription-${kind}`]: String(result.remaining) };
}

function serverView(r: ServerRecord): Record<string, unknown> {
  return structuredClone(r.json);
}

function pageOf(ctx: ArmContext, records: ServerRecord[], req: Request, base: string): Reply['body'] {
  const sorted = records.sort((a, b) =>
    String(a.json['id']).toLowerCase().localeCompare(String(b.json['id']).toLowerCase()),
  );
  const token = req.query.get('$skiptoken');
  let offset = 0;
  if (token !== null) {
    offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0)
      throw armError(400, 'InvalidSkipToken', 'The $skiptoken is invalid.');
  }
  const size = ctx.world.behaviour.armPageSize;
  const value = sorted.slice(offset, offset + size).map(serverView);
  const next =
    offset + size < sorted.length
      ? `https://management.azure.com${base}?api-version=${req.query.get('api-version') ?? ''}&$skiptoken=${Buffer.from(String(offset + size)).toString('base64url')}`
      : undefined;
  return { value, ...(next !== undefined ? { nextLink: next } : {}) };
}

/** Routes an ARM request for flexible servers and their operations. Paths are case-insensitive. */
export function routeArm(ctx: ArmContext, req: Request): ArmRoute {
  const parts = req.path.split('/').slice(1);
  const lower = parts.map((p) => p.toLowerCase());
  const fail = (e: HttpError): ArmRoute => ({
    operation: 'unknown',
    handle: () => {
      throw e;
    },
  });
  if (lower[0] !== 'subscriptions' || parts[1] === undefined)
    return fail(armError(404, 'InvalidResourceType', `No route for ${req.path}.`));
  const sub = parts[1].toLowerCase();
  const m = req.method;

  const guard =
    (kind: 'reads' | 'writes', fn: (headers: Record<string, string>) => Reply): (() => Reply) =>
    () => {
      const principal = authorizeArm(req, ARM_API_VERSIONS);
      if (!knownSubscriptions(ctx.world).has(sub))
        throw armError(
          404,
          'SubscriptionNotFound',
          `The subscription '${parts[1] ?? ''}' could not be found.`,
        );
      const headers = throttle(ctx, sub, principal, kind);
      const reply = fn(headers);
      return { ...reply, headers: { ...headers, ...reply.headers } };
    };

  // /subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/flexibleServers
  if (
    lower.length === 5 &&
    lower[2] === 'providers' &&
    lower[3] === PROVIDER &&
    lower[4] === 'flexibleservers' &&
    m === 'GET'
  ) {
    return {
      operation: 'servers.list',
      handle: guard('reads', () => ({
        status: 200,
        body: pageOf(
          ctx,
          [...ctx.world.servers.values()].filter(
            (r) => String(r.json['id']).split('/')[2]?.toLowerCase() === sub,
          ),
          req,
          req.path,
        ),
      })),
    };
  }
  // /subscriptions/{s}/providers/Microsoft.DBforPostgreSQL/locations/{loc}/(azureAsyncOperation|operationResults)/{id}
  if (
    lower.length === 8 &&
    lower[2] === 'providers' &&
    lower[3] === PROVIDER &&
    lower[4] === 'locations' &&
    m === 'GET'
  ) {
    const kind = lower[6];
    const op = ctx.world.operations.get(lower[7] ?? '');
    return {
      operation: 'operations.get',
      handle: guard('reads', () => {
        if (
          op === undefined ||
          op.subscriptionId !== sub ||
          (kind !== 'azureasyncoperation' && kind !== 'operationresults')
        ) {
          throw armError(404, 'OperationNotFound', `The operation '${parts[7] ?? ''}' was not found.`);
        }
        if (kind === 'operationresults') {
          if (op.status === 'InProgress')
            return { status: 202, headers: { location: operationUrls(op).location } };
          if (op.status === 'Failed')
            throw armError(
              400,
              op.error?.code ?? 'OperationFailed',
              op.error?.message ?? 'The operation failed.',
            );
          const record = ctx.world.findServer(op.serverId);
          return record === undefined ? { status: 204 } : { status: 200, body: serverView(record) };
        }
        return { status: 200, body: operationBody(op) };
      }),
    };
  }
  // /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers[/{name}]
  if (
    lower[2] === 'resourcegroups' &&
    lower[4] === 'providers' &&
    lower[5] === PROVIDER &&
    lower[6] === 'flexibleservers'
  ) {
    const rg = lower[3] ?? '';
    const checkRg = () => {
      if (!knownResourceGroups(ctx.world, sub).has(rg))
        throw armError(
          404,
          'ResourceGroupNotFound',
          `Resource group '${parts[3] ?? ''}' could not be found.`,
        );
    };
    if (lower.length === 7 && m === 'GET') {
      return {
        operation: 'servers.listByResourceGroup',
        handle: guard('reads', () => {
          checkRg();
          const records = [...ctx.world.servers.values()].filter((r) => {
            const p = String(r.json['id']).toLowerCase().split('/');
            return p[2] === sub && p[4] === rg;
          });
          return { status: 200, body: pageOf(ctx, records, req, req.path) };
        }),
      };
    }
    if (lower.length === 8) {
      const name = parts[7] ?? '';
      const find = (): ServerRecord => {
        checkRg();
        const record = ctx.world.findServer(
          `/subscriptions/${sub}/resourceGroups/${parts[3] ?? ''}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`,
        );
        if (record === undefined) {
          throw armError(
            404,
            'ResourceNotFound',
            `The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/${name}' under resource group '${parts[3] ?? ''}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
          );
        }
        return record;
      };
      if (m === 'GET')
        return {
          operation: 'servers.get',
          handle: guard('reads', () => ({ status: 200, body: serverView(find()) })),
        };
      if (m === 'PATCH')
        return { operation: 'servers.update', handle: guard('writes', () => patchServer(ctx, find(), req)) };
    }
  }
  return fail(
    armError(
      404,
      'InvalidResourceType',
      `The resource type could not be found for ${req.method} ${req.path}.`,
    ),
  );
}

function operationUrls(op: Operation): { asyncOperation: string; location: string } {
  const base = `https://management.azure.com/subscriptions/${op.subscriptionId}/providers/Microsoft.DBforPostgreSQL/locations/${op.location}`;
  return {
    asyncOperation: `${base}/azureAsyncOperation/${op.id}?api-version=2025-08-01`,
    location: `${base}/operationResults/${op.id}?api-version=2025-08-01`,
  };
}

function operationBody(op: Operation): Record<string, unknown> {
  return {
    name: op.id,
    status: op.status,
    startTime: new Date(op.startTime).toISOString(),
    ...(op.endTime !== undefined ? { endTime: new Date(op.endTime).toISOString() } : {}),
    ...(op.error !== undefined ? { error: op.error } : {}),
  };
}

function bad(code: string, message: string): HttpError {
  return armError(400, code, message);
}

interface PatchPlan {
  dataEncryption: Record<string, unknown> | undefined;
  identities: Record<string, unknown> | undefined;
  identityType: string | undefined;
  tags: Record<string, string> | undefined;
}

/** What the flexible server RP checks synchronously before it accepts a PATCH. */
function validatePatch(ctx: ArmContext, record: ServerRecord, body: unknown): PatchPlan {
  if (!isObject(body))
    throw bad('InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
  const props = isObject(body['properties']) ? body['properties'] : {};
  const plan: PatchPlan = {
    dataEncryption: undefined,
    identities: undefined,
    identityType: undefined,
    tags: undefined,
  };
  if (isObject(body['tags']))
    plan.tags = Object.fromEntries(Object.entries(body['tags']).map(([k, v]) => [k, String(v)]));

  const currentIdentity = isObject(record.json['identity']) ? record.json['identity'] : {};
  const currentMap = isObject(currentIdentity['userAssignedIdentities'])
    ? currentIdentity['userAssignedIdentities']
    : {};
  let map = currentMap;
  if (body['identity'] !== undefined) {
    const identity = body['identity'];
    if (!isObject(identity) || typeof identity['type'] !== 'string')
      throw bad('InvalidParameterValue', 'identity.type is required.');
    if (!/UserAssigned/.test(identity['type']))
      throw bad('InvalidParameterValue', 'Servers with data encryption require UserAssigned identities.');
    const uais = isObject(identity['userAssignedIdentities']) ? identity['userAssignedIdentities'] : {};
    // The PATCH's identity map replaces the server's: an identity left out is removed.
    map = {};
    for (const id of Object.keys(uais)) {
      const known = ctx.world.identities.get(id.toLowerCase());
      if (known === undefined)
        throw bad('InvalidUserAssignedIdentity', `The user assigned identity '${id}' was not found.`);
      map[id] = { principalId: known.principalId, clientId: known.clientId };
    }
    plan.identities = map;
    plan.identityType = identity['type'];
  }

  const de = props['dataEncryption'];
  const currentDe = dataEncryptionOf(record.json);
  if (de !== undefined) {
    if (!isObject(de)) throw bad('InvalidParameterValue', 'properties.dataEncryption must be an object.');
    if (de['type'] !== 'AzureKeyVault') {
      throw bad(
        'DataEncryptionTypeChangeNotSupported',
        'Changing data encryption to system managed keys is not supported; provide type AzureKeyVault.',
      );
    }
    if (currentDe?.['type'] !== 'AzureKeyVault') {
      throw bad(
        'DataEncryptionTypeChangeNotSupported',
        'Data encryption with customer managed keys can only be enabled when a server is created.',
      );
    }
    const primaryUri = de['primaryKeyURI'];
    const primaryId = de['primaryUserAssignedIdentityId'];
    if (
      typeof primaryUri !== 'string' ||
      primaryUri === '' ||
      typeof primaryId !== 'string' ||
      primaryId === ''
    ) {
      throw bad(
        'InvalidParameterValue',
        'primaryKeyURI and primaryUserAssignedIdentityId are required for data encryption with customer managed keys.',
      );
    }
    const geoUri =
      typeof de['geoBackupKeyURI'] === 'string' && de['geoBackupKeyURI'] !== ''
        ? de['geoBackupKeyURI']
        : undefined;
    const geoId =
      typeof de['geoBackupUserAssignedIdentityId'] === 'string' &&
      de['geoBackupUserAssignedIdentityId'] !== ''
        ? de['geoBackupUserAssignedIdentityId']
        : undefined;
    const serverProps = isObject(record.json['properties']) ? record.json['properties'] : {};
    const backup = isObject(serverProps['backup']) ? serverProps['backup'] : {};
    const geoEnabled = backup['geoRedundantBackup'] === 'Enabled';
    for (const uri of [primaryUri, geoUri]) {
      if (uri !== undefined && !KEY_URI_SHAPE.test(uri))
        throw bad('InvalidParameterValue', `'${uri}' is not a valid Azure Key Vault key URI.`);
    }
    if (geoEnabled && (geoUri === undefined || geoId === undefined)) {
      throw bad(
        'InvalidParameterValue',
        'geoBackupKeyURI and geoBackupUserAssignedIdentityId are required for a server with geo-redundant backup.',
      );
    }
    if (!geoEnabled && geoUri !== undefined)
      throw bad(
        'InvalidParameterValue',
        'geoBackupKeyURI can only be set on a server with geo-redundant backup enabled.',
      );
    if (geoId !== undefined && geoId.toLowerCase() === primaryId.toLowerCase()) {
      throw bad(
        'InvalidParameterValue',
        'The primary and geo-backup user assigned identities must be different.',
      );
    }
    for (const id of [primaryId, geoId]) {
      if (id !== undefined && !Object.keys(map).some((k) => k.toLowerCase() === id.toLowerCase())) {
        throw bad(
          'InvalidParameterValue',
          `The user assigned identity '${id}' used for data encryption is not associated with the server.`,
        );
      }
    }
    plan.dataEncryption = {
      type: 'AzureKeyVault',
      primaryKeyURI: primaryUri,
      primaryUserAssignedIdentityId: primaryId,
      ...(geoUri !== undefined ? { geoBackupKeyURI: geoUri, geoBackupUserAssignedIdentityId: geoId } : {}),
    };
  } else if (plan.identities !== undefined && currentDe?.['type'] === 'AzureKeyVault') {
    // Dropping an identity that data encryption uses is refused.
    for (const id of [
      currentDe['primaryUserAssignedIdentityId'],
      currentDe['geoBackupUserAssignedIdentityId'],
    ]) {
      if (
        typeof id === 'string' &&
        id !== '' &&
        !Object.keys(map).some((k) => k.toLowerCase() === id.toLowerCase())
      ) {
        throw bad(
          'InvalidParameterValue',
          `The user assigned identity '${id}' is used for data encryption and cannot be removed.`,
        );
      }
    }
  }
  return plan;
}

function patchServer(ctx: ArmContext, record: ServerRecord, req: Request): Reply {
  const name = String(record.json['name']);
  const props = record.json['properties'] as Record<string, unknown>;
  if (record.operation !== undefined && record.operation.status === 'InProgress') {
    throw armError(
      409,
      'ServerBusy',
      `Server '${name}' is busy with another operation. Please try your operation later.`,
    );
  }
  if (
    props['state'] === 'Stopped' ||
    props['state'] === 'Stopping' ||
    props['state'] === 'Starting' ||
    props['state'] === 'Dropping'
  ) {
    throw armError(
      409,
      'ServerNotReady',
      `Server '${name}' is ${props['state'] as string}; the operation is not allowed in this state.`,
    );
  }
  const plan = validatePatch(ctx, record, jsonBody(req));
  const subscriptionId = String(record.json['id']).split('/')[2]?.toLowerCase() ?? '';
  const op: Operation = {
    id: randomUUID(),
    serverId: String(record.json['id']),
    subscriptionId,
    location: String(record.json['location']).toLowerCase().replace(/\s+/g, ''),
    startTime: ctx.world.clock.now(),
    status: 'InProgress',
    endTime: undefined,
    error: undefined,
  };
  ctx.world.operations.set(op.id, op);
  record.operation = op;
  const previousState = props['state'];
  props['state'] = 'Updating';
  ctx.scheduler.after(ctx.world.behaviour.updateDurationMs, `complete PATCH of ${name}`, () =>
    completePatch(ctx, record, op, plan, previousState),
  );
  const urls = operationUrls(op);
  return { status: 202, headers: { 'azure-asyncoperation': urls.asyncOperation, location: urls.location } };
}

/** The asynchronous part: the RP reaches the vault with the server's identity and proves the key works. */
function completePatch(
  ctx: ArmContext,
  record: ServerRecord,
  op: Operation,
  plan: PatchPlan,
  previousState: unknown,
): void {
  const props = record.json['properties'] as Record<string, unknown>;
  const de = plan.dataEncryption;
  if (de !== undefined) {
    for (const slot of ['primary', 'geoBackup'] as const) {
      const uri = de[`${slot}KeyURI`];
      if (typeof uri !== 'string') continue;
      const identity = de[`${slot}UserAssignedIdentityId`];
      const check = ctx.world.checkKeyAccess(uri, typeof identity === 'string' ? identity : undefined, true);
      if (!check.ok) {
        op.status = 'Failed';
        op.error = { code: check.code, message: check.message };
        op.endTime = ctx.world.clock.now();
        props['state'] = previousState;
        return;
      }
    }
  }
  if (plan.identities !== undefined) {
    record.json['identity'] = {
      ...(isObject(record.json['identity']) ? record.json['identity'] : {}),
      type: plan.identityType,
      userAssignedIdentities: plan.identities,
    };
  }
  if (de !== undefined) {
    props['dataEncryption'] = {
      ...de,
      primaryEncryptionKeyStatus: 'Valid',
      ...(de['geoBackupKeyURI'] !== undefined ? { geoBackupEncryptionKeyStatus: 'Valid' } : {}),
    };
    record.invalidSince = {};
  }
  if (plan.tags !== undefined) record.json['tags'] = plan.tags;
  props['state'] = previousState === 'Inaccessible' && de !== undefined ? 'Ready' : previousState;
  op.status = 'Succeeded';
  op.endTime = ctx.world.clock.now();
}
