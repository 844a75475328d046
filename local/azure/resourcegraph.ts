import { createHash } from 'node:crypto';
import { armError, authorizeArm } from './arm';
import { isAllowed } from './arm-authz';
import { HttpError, isObject, jsonBody, type Reply, type Request } from './http';
import { KqlError, runKql, type Row } from './kql';
import { vaultArmId } from './keyvault-model';
import type { WorldState } from './world-state';

export const RESOURCE_GRAPH_API_VERSIONS = ['2021-03-01', '2022-10-01', '2024-04-01'];

/**
 * Rows of the `resources` table: ARM JSON plus the columns Resource Graph adds (type is lower-case).
 * The rows share the world's live objects (the query only reads them): only the page answered is
 * copied (`answerQuery`), not the whole estate on every page.
 */
export function resourceRows(world: WorldState): Row[] {
  const rows: Row[] = [];
  for (const r of world.servers.values()) {
    const id = String(r.json['id']);
    const parts = id.split('/');
    rows.push({
      id,
      name: r.json['name'],
      type: 'microsoft.dbforpostgresql/flexibleservers',
      tenantId: world.tenantId,
      kind: '',
      location: String(r.json['location']).toLowerCase().replace(/\s+/g, ''),
      resourceGroup: (parts[4] ?? '').toLowerCase(),
      subscriptionId: (parts[2] ?? '').toLowerCase(),
      managedBy: '',
      sku: r.json['sku'] ?? null,
      plan: null,
      properties: r.json['properties'] ?? {},
      tags: r.json['tags'] ?? {},
      identity: r.json['identity'] ?? null,
      zones: null,
      extendedLocation: null,
    });
  }
  for (const v of world.vaults.values()) {
    rows.push({
      id: vaultArmId(v),
      name: v.name,
      type: v.kind === 'managedHsm' ? 'microsoft.keyvault/managedhsms' : 'microsoft.keyvault/vaults',
      tenantId: world.tenantId,
      kind: '',
      location: v.location,
      resourceGroup: v.resourceGroup.toLowerCase(),
      subscriptionId: v.subscriptionId.toLowerCase(),
      managedBy: '',
      sku: { family: 'A', name: 'standard' },
      plan: null,
      properties: {
        vaultUri: `${world.vaultUrl(v)}/`,
        enableRbacAuthorization: true,
        enableSoftDelete: true,
      },
      tags: {},
      identity: null,
      zones: null,
      extendedLocation: null,
    });
  }
  return rows;
}

function invalidQuery(detail: string): HttpError {
  return new HttpError(400, {
    status: 400,
    body: {
      error: {
        code: 'BadRequest',
        message: 'Please provide below info when asking for support: timestamp, correlationId.',
        details: [
          {
            code: 'InvalidQuery',
            message:
              'Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.',
          },
          { code: 'ParserFailure', message: detail },
        ],
      },
    },
  });
}

/** `hh:mm:ss`, rounded up to whole seconds (the format of `x-ms-user-quota-resets-after`). */
export function formatResetsAfter(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(Math.floor(total / 3600))}:${two(Math.floor((total % 3600) / 60))}:${two(total % 60)}`;
}

/**
 * Resource Graph's per-principal quota (Learn, "Guidance for throttled requests in Azure Resource
 * Graph"): by default 15 queries per 5-second window; every response carries
 * `x-ms-user-quota-remaining` (int) and `x-ms-user-quota-resets-after` (hh:mm:ss); past the quota the
 * query is refused with 429. The 429 body's code (`RateLimiting`) is modeled, and the stand-in sends no
 * `Retry-After` (none is documented), so a client must honour the quota headers themselves.
 */
export class ResourceGraphQuota {
  private readonly windows = new Map<string, { start: number; used: number }>();

  constructor(private readonly world: WorldState) {}

  take(principal: string): Record<string, string> {
    const { requests, windowMs } = this.world.behaviour.resourceGraphQuota;
    const now = this.world.clock.now();
    let w = this.windows.get(principal);
    if (w === undefined || now - w.start >= windowMs) {
      w = { start: now, used: 0 };
      this.windows.set(principal, w);
    }
    const resetsAfter = formatResetsAfter(w.start + windowMs - now);
    if (w.used >= requests) {
      throw new HttpError(429, {
        status: 429,
        headers: { 'x-ms-user-quota-remaining': '0', 'x-ms-user-quota-resets-after': resetsAfter },
        body: {
          error: {
            code: 'RateLimiting',
            message: 'Please provide below info when asking for support: timestamp, correlationId.',
            details: [
              {
                code: 'RateLimiting',
                message:
                  'Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.',
              },
            ],
          },
        },
      });
    }
    w.used++;
    return {
      'x-ms-user-quota-remaining': String(requests - w.used),
      'x-ms-user-quota-resets-after': resetsAfter,
    };
  }
}

/** `POST /providers/Microsoft.ResourceGraph/resources`: runs the query for real, pages with $skipToken. */
export function queryResources(world: WorldState, quota: ResourceGraphQuota, req: Request): Reply {
  const principal = authorizeArm(req, RESOURCE_GRAPH_API_VERSIONS);
  const quotaHeaders = quota.take(principal);
  const reply = answerQuery(world, req, principal);
  return { ...reply, headers: { ...reply.headers, ...quotaHeaders } };
}

function answerQuery(world: WorldState, req: Request, principal: string): Reply {
  const body = jsonBody(req);
  if (!isObject(body) || typeof body['query'] !== 'string')
    throw armError(400, 'BadRequest', 'The request must contain a query.');
  const query = body['query'];
  const options = isObject(body['options']) ? body['options'] : {};
  const subs = Array.isArray(body['subscriptions'])
    ? body['subscriptions'].map((s) => String(s).toLowerCase())
    : undefined;
  const top = options['$top'] === undefined ? 1000 : Number(options['$top']);
  if (!Number.isInteger(top) || top < 1 || top > 1000)
    throw armError(400, 'BadRequest', '$top must be between 1 and 1000.');
  const skip = options['$skip'] === undefined ? 0 : Number(options['$skip']);
  const format = options['resultFormat'] ?? 'objectArray';

  // Resource Graph returns only what the caller may read (Azure RBAC, like ARM).
  const scoped = resourceRows(world).filter(
    (r) =>
      (subs === undefined || subs.includes(String(r['subscriptionId']))) &&
      isAllowed(world, principal, `${String(r['type'])}/read`, String(r['id'])),
  );
  let rows: Row[];
  try {
    rows = runKql(query, { resources: scoped });
  } catch (e) {
    if (e instanceof KqlError) throw invalidQuery(e.message);
    throw e;
  }
  // The skip token binds the offset to the query it came from.
  const queryHash = createHash('sha256')
    .update(query)
    .update(JSON.stringify(subs ?? []))
    .digest('hex')
    .slice(0, 16);
  let offset = skip;
  if (typeof options['$skipToken'] === 'string') {
    const [hash, off] = Buffer.from(options['$skipToken'], 'base64url').toString('utf8').split(':');
    if (hash !== queryHash || off === undefined || !/^\d+$/.test(off))
      throw armError(400, 'BadRequest', 'The $skipToken is invalid for this query.');
    offset = Number(off);
  }
  // A copy of the page as it stands now: a PATCH accepted after this query must not change its answer.
  const pageRows = structuredClone(rows.slice(offset, offset + top));
  const more = offset + top < rows.length;
  const data =
    format === 'table'
      ? {
          columns: Object.keys(pageRows[0] ?? {}).map((name) => ({ name, type: 'object' })),
          rows: pageRows.map((r) => Object.values(r)),
        }
      : pageRows;
  return {
    status: 200,
    body: {
      totalRecords: rows.length,
      count: pageRows.length,
      data,
      facets: [],
      resultTruncated: 'false',
      ...(more ? { $skipToken: Buffer.from(`${queryHash}:${offset + top}`).toString('base64url') } : {}),
    },
  };
}
