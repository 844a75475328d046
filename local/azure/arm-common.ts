import { readBearer } from './credential';
import type { Scheduler } from './clock';
import type { TokenBuckets } from './faults';
import { HttpError, type Request } from './http';
import type { WorldState } from './world-state';

/** What every ARM handler works on: the world, the clock's scheduler and the throttling buckets. */
export interface ArmContext {
  readonly world: WorldState;
  readonly scheduler: Scheduler;
  readonly buckets: TokenBuckets;
}

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

/** Does the subscription (lower-case) exist: it holds a server or a vault. Indexed, not a scan of servers. */
export function knownSubscription(world: WorldState, sub: string): boolean {
  if (world.serversBySubscription.has(sub)) return true;
  for (const v of world.vaults.values()) if (v.subscriptionId.toLowerCase() === sub) return true;
  return false;
}

/** Does the resource group exist in the subscription (both lower-case): it holds a server or a vault. */
export function knownResourceGroup(world: WorldState, sub: string, rg: string): boolean {
  if (world.serversByResourceGroup.has(`${sub}/${rg}`)) return true;
  for (const v of world.vaults.values())
    if (v.subscriptionId.toLowerCase() === sub && v.resourceGroup.toLowerCase() === rg) return true;
  return false;
}

export function throttle(
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

/**
 * One page of `items` in ARM's list shape (`value`, `nextLink` absolute with an opaque `$skiptoken`),
 * `behaviour.armPageSize` per page, as the spec's `x-ms-pageable` (`nextLinkName: nextLink`) says.
 */
export function armPage(
  world: WorldState,
  req: Request,
  items: readonly Record<string, unknown>[],
): { value: Record<string, unknown>[]; nextLink?: string } {
  const token = req.query.get('$skiptoken');
  let offset = 0;
  if (token !== null) {
    offset = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0)
      throw armError(400, 'InvalidSkipToken', 'The $skiptoken is invalid.');
  }
  const size = world.behaviour.armPageSize;
  const value = items.slice(offset, offset + size);
  if (offset + size >= items.length) return { value };
  const next = new URLSearchParams();
  for (const [k, v] of req.query) if (k !== '$skiptoken') next.append(k, v);
  // `$skiptoken` as ARM writes it (URLSearchParams would escape the `$`); base64url needs no escaping.
  const nextToken = Buffer.from(String(offset + size)).toString('base64url');
  return {
    value,
    nextLink: `https://management.azure.com${req.path}?${next.toString()}&$skiptoken=${nextToken}`,
  };
}
