import {
  armError,
  armPage,
  authorizeArm,
  knownResourceGroup,
  knownSubscription,
  throttle,
  type ArmContext,
} from './arm-common';
import { ACTIONS, isAllowed, requireAction, requireLinkedIdentities } from './arm-authz';
import { operationBody, operationUrls } from './arm-operations';
import { CROSS_TENANT_API_VERSION, CROSS_TENANT_FIELDS, patchServer } from './arm-patch';
import {
  AUTHORIZATION_API_VERSIONS,
  KEYVAULT_API_VERSIONS,
  getVault,
  listRoleAssignments,
  listVaultResources,
  listVaults,
  RESOURCES_API_VERSIONS,
  roleAssignmentScope,
} from './arm-keyvault';
import { isObject, jsonBody, type HttpError, type Reply, type Request } from './http';
import type { ServerRecord } from './world-records';

export { armError, authorizeArm, type ArmContext } from './arm-common';

export const ARM_API_VERSIONS = ['2024-08-01', '2025-06-01-preview', '2025-08-01', CROSS_TENANT_API_VERSION];

export interface ArmRoute {
  readonly operation: string;
  readonly handle: () => Reply;
}

/** What a matched route hands its handler: the context, the request and the path's named segments. */
interface Call {
  readonly ctx: ArmContext;
  readonly req: Request;
  /** Named segments as the client wrote them; `sub` is lower-cased. */
  readonly params: Readonly<Record<string, string>>;
  readonly sub: string;
  /** Object id of the caller, from the bearer token. */
  readonly principal: string;
}

interface RouteSpec {
  readonly method: string;
  /** Path template; literal segments match case-insensitively (ARM paths are case-insensitive). */
  readonly template: string;
  readonly operation: string;
  /** Which ARM token bucket the request draws from. */
  readonly kind: 'reads' | 'writes';
  /** The api-versions the resource provider accepts; default: the flexible server RP's. */
  readonly apiVersions?: readonly string[];
  readonly handle: (call: Call) => Reply;
}

const PROVIDER = 'providers/Microsoft.DBforPostgreSQL';
const SERVERS_IN_RG = `subscriptions/{sub}/resourceGroups/{rg}/${PROVIDER}/flexibleServers`;

/** The route table of the flexible server RP (and its async operations). */
const ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET',
    template: `subscriptions/{sub}/${PROVIDER}/flexibleServers`,
    operation: 'servers.list',
    kind: 'reads',
    handle: listServers,
  },
  {
    method: 'GET',
    template: `subscriptions/{sub}/${PROVIDER}/locations/{location}/{kind}/{operationId}`,
    operation: 'operations.get',
    kind: 'reads',
    handle: getOperation,
  },
  {
    method: 'GET',
    template: SERVERS_IN_RG,
    operation: 'servers.listByResourceGroup',
    kind: 'reads',
    handle: listServersInResourceGroup,
  },
  {
    method: 'GET',
    template: `${SERVERS_IN_RG}/{name}`,
    operation: 'servers.get',
    kind: 'reads',
    handle: (call) => {
      requireAction(call.ctx.world, call.principal, ACTIONS.read, serverIdOf(call));
      return { status: 200, body: serverView(findServer(call), call.req) };
    },
  },
  {
    method: 'PATCH',
    template: `${SERVERS_IN_RG}/{name}`,
    operation: 'servers.update',
    kind: 'writes',
    handle: (call) => {
      // ARM authorizes the caller before the resource provider sees the request.
      const id = serverIdOf(call);
      requireAction(call.ctx.world, call.principal, ACTIONS.write, id);
      requireLinkedIdentities(call.ctx.world, call.principal, ACTIONS.write, id, jsonBody(call.req));
      return patchServer(call.ctx, findServer(call), call.req);
    },
  },
  {
    method: 'GET',
    template: 'subscriptions/{sub}/providers/Microsoft.KeyVault/vaults',
    operation: 'vaults.listBySubscription',
    kind: 'reads',
    apiVersions: KEYVAULT_API_VERSIONS,
    handle: (call) => listVaults(call.ctx.world, call.req, call.sub, call.principal),
  },
  {
    method: 'GET',
    template: 'subscriptions/{sub}/resources',
    operation: 'vaults.list',
    kind: 'reads',
    apiVersions: RESOURCES_API_VERSIONS,
    handle: (call) => listVaultResources(call.ctx.world, call.req, call.sub, call.principal),
  },
  {
    method: 'GET',
    template: 'subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}',
    operation: 'vaults.get',
    kind: 'reads',
    apiVersions: KEYVAULT_API_VERSIONS,
    handle: (call) =>
      getVault(call.ctx.world, call.sub, call.params['rg'] ?? '', call.params['name'] ?? '', call.principal),
  },
];

/** The route table as data (method, path template, api-versions), for the conformance suite. */
export function armRouteTable(): readonly {
  method: string;
  template: string;
  operation: string;
  apiVersions: readonly string[];
}[] {
  return ROUTES.map((r) => ({
    method: r.method,
    template: r.template,
    operation: r.operation,
    apiVersions: r.apiVersions ?? ARM_API_VERSIONS,
  }));
}

const COMPILED = ROUTES.map((r) => ({ ...r, segments: r.template.split('/') }));

function match(template: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (template.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, seg] of template.entries()) {
    const part = parts[i] ?? '';
    const name = /^\{(\w+)\}$/.exec(seg)?.[1];
    if (name !== undefined) params[name] = part;
    else if (seg.toLowerCase() !== part.toLowerCase()) return undefined;
  }
  return params;
}

/** Routes an ARM request for flexible servers and their operations. Paths are case-insensitive. */
export function routeArm(ctx: ArmContext, req: Request): ArmRoute {
  const parts = req.path.split('/').slice(1);
  const fail = (e: HttpError): ArmRoute => ({
    operation: 'unknown',
    handle: () => {
      throw e;
    },
  });
  if (parts[0]?.toLowerCase() !== 'subscriptions' || parts[1] === undefined)
    return fail(armError(404, 'InvalidResourceType', `No route for ${req.path}.`));
  const scope = roleAssignmentScope(req.path);
  if (scope !== undefined && req.method === 'GET') {
    const sub = parts[1].toLowerCase();
    return {
      operation: 'roleAssignments.listForScope',
      handle: () => {
        const principal = authorizeArm(req, AUTHORIZATION_API_VERSIONS);
        if (!knownSubscription(ctx.world, sub))
          throw armError(
            404,
            'SubscriptionNotFound',
            `The subscription '${parts[1] ?? ''}' could not be found.`,
          );
        const headers = throttle(ctx, sub, principal, 'reads');
        const reply = listRoleAssignments(ctx.world, req, scope, principal);
        return { ...reply, headers: { ...headers, ...reply.headers } };
      },
    };
  }
  for (const route of COMPILED) {
    if (route.method !== req.method) continue;
    const params = match(route.segments, parts);
    if (params === undefined) continue;
    const sub = (params['sub'] ?? '').toLowerCase();
    return {
      operation: route.operation,
      handle: () => {
        const principal = authorizeArm(req, route.apiVersions ?? ARM_API_VERSIONS);
        if (!knownSubscription(ctx.world, sub))
          throw armError(
            404,
            'SubscriptionNotFound',
            `The subscription '${params['sub'] ?? ''}' could not be found.`,
          );
        const headers = throttle(ctx, sub, principal, route.kind);
        const reply = route.handle({ ctx, req, params, sub, principal });
        return { ...reply, headers: { ...headers, ...reply.headers } };
      },
    };
  }
  return fail(
    armError(
      404,
      'InvalidResourceType',
      `The resource type could not be found for ${req.method} ${req.path}.`,
    ),
  );
}

/**
 * A server as ARM answers the api-version asked: the cross-tenant CMK fields of `dataEncryption` only
 * for the api-version that defines them (ARM serializes a resource by the request's api-version;
 * Resource Graph, which returns the stored properties, shows them whatever the version).
 */
function serverView(r: ServerRecord, req: Request): Record<string, unknown> {
  const json = structuredClone(r.json);
  if (req.query.get('api-version') === CROSS_TENANT_API_VERSION) return json;
  const props = json['properties'];
  if (!isObject(props) || !isObject(props['dataEncryption'])) return json;
  props['dataEncryption'] = Object.fromEntries(
    Object.entries(props['dataEncryption']).filter(([k]) => !CROSS_TENANT_FIELDS.includes(k)),
  );
  return json;
}

function pageOf(ctx: ArmContext, records: ServerRecord[], req: Request): Reply['body'] {
  const sorted = records.sort((a, b) =>
    String(a.json['id']).toLowerCase().localeCompare(String(b.json['id']).toLowerCase()),
  );
  return armPage(
    ctx.world,
    req,
    sorted.map((r) => serverView(r, req)),
  );
}

/** ARM lists only what the caller may read (a list filtered by the caller's role assignments). */
function readable(call: Call, records: ServerRecord[]): ServerRecord[] {
  return records.filter((r) => isAllowed(call.ctx.world, call.principal, ACTIONS.read, String(r.json['id'])));
}

function serverIdOf({ params, sub }: Call): string {
  return `/subscriptions/${sub}/resourceGroups/${params['rg'] ?? ''}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${params['name'] ?? ''}`;
}

function listServers(call: Call): Reply {
  const { ctx, req, sub } = call;
  const records = readable(call, [...(ctx.world.serversBySubscription.get(sub) ?? [])]);
  return { status: 200, body: pageOf(ctx, records, req) };
}

function checkResourceGroup({ ctx, params, sub }: Call): string {
  const rg = (params['rg'] ?? '').toLowerCase();
  if (!knownResourceGroup(ctx.world, sub, rg))
    throw armError(
      404,
      'ResourceGroupNotFound',
      `Resource group '${params['rg'] ?? ''}' could not be found.`,
    );
  return rg;
}

function listServersInResourceGroup(call: Call): Reply {
  const rg = checkResourceGroup(call);
  const records = readable(call, [...(call.ctx.world.serversByResourceGroup.get(`${call.sub}/${rg}`) ?? [])]);
  return { status: 200, body: pageOf(call.ctx, records, call.req) };
}

function findServer(call: Call): ServerRecord {
  checkResourceGroup(call);
  const rg = call.params['rg'] ?? '';
  const name = call.params['name'] ?? '';
  const record = call.ctx.world.findServer(
    `/subscriptions/${call.sub}/resourceGroups/${rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/${name}`,
  );
  if (record === undefined) {
    throw armError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }
  return record;
}

function getOperation({ ctx, params, sub, req }: Call): Reply {
  const kind = (params['kind'] ?? '').toLowerCase();
  const op = ctx.world.operations.get((params['operationId'] ?? '').toLowerCase());
  if (
    op === undefined ||
    op.subscriptionId !== sub ||
    (kind !== 'azureasyncoperation' && kind !== 'operationresults')
  ) {
    throw armError(404, 'OperationNotFound', `The operation '${params['operationId'] ?? ''}' was not found.`);
  }
  if (kind === 'operationresults') {
    if (op.status === 'InProgress') return { status: 202, headers: { location: operationUrls(op).location } };
    if (op.status === 'Failed')
      throw armError(400, op.error?.code ?? 'OperationFailed', op.error?.message ?? 'The operation failed.');
    const record = ctx.world.findServer(op.serverId);
    return record === undefined ? { status: 204 } : { status: 200, body: serverView(record, req) };
  }
  return { status: 200, body: operationBody(op) };
}
