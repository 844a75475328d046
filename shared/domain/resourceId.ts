import { InvalidInputError } from './errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// ARM: resource group 1-90 chars of letters, digits, _ - . ( ), not ending with a period.
const RESOURCE_GROUP = /^[-\w.()]{0,89}[-\w()]$/;
// Flexible server names: 3-63 lower-case letters, digits and hyphens, not starting or ending with a hyphen.
const SERVER_NAME = /^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$/i;
// User-assigned identity names: 3-128 chars, letters, digits, hyphens and underscores, starting alphanumeric.
const IDENTITY_NAME = /^[a-z0-9][a-z0-9_-]{2,127}$/i;

export interface ResourceRef {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  /** Canonical form: lower-case provider segments, the casing of names preserved. */
  readonly id: string;
}

export class InvalidResourceIdError extends InvalidInputError {
  constructor(input: string, expected: string, reason: string) {
    super('InvalidResourceId', `Not a ${expected} resource id: "${input.slice(0, 300)}" (${reason}).`);
  }
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function parseTyped(
  input: string,
  expected: string,
  provider: string,
  type: string,
  namePattern: RegExp,
): ResourceRef {
  const parts = input.trim().split('/');
  // ['', 'subscriptions', sub, 'resourceGroups', rg, 'providers', provider, type, name]
  if (parts.length !== 9 || parts[0] !== '') {
    throw new InvalidResourceIdError(
      input,
      expected,
      'expected /subscriptions/<id>/resourceGroups/<rg>/providers/...',
    );
  }
  const [
    ,
    subsLiteral,
    subscriptionId = '',
    rgLiteral,
    resourceGroup = '',
    provLiteral,
    prov,
    typ,
    name = '',
  ] = parts;
  if (
    subsLiteral?.toLowerCase() !== 'subscriptions' ||
    rgLiteral?.toLowerCase() !== 'resourcegroups' ||
    provLiteral?.toLowerCase() !== 'providers'
  ) {
    throw new InvalidResourceIdError(
      input,
      expected,
      'expected /subscriptions/<id>/resourceGroups/<rg>/providers/...',
    );
  }
  if (!UUID.test(subscriptionId))
    throw new InvalidResourceIdError(input, expected, 'subscription must be a UUID');
  if (!RESOURCE_GROUP.test(resourceGroup))
    throw new InvalidResourceIdError(input, expected, 'invalid resource group name');
  if (prov?.toLowerCase() !== provider.toLowerCase() || typ?.toLowerCase() !== type.toLowerCase()) {
    throw new InvalidResourceIdError(input, expected, `resource type must be ${provider}/${type}`);
  }
  if (!namePattern.test(name)) throw new InvalidResourceIdError(input, expected, `invalid name "${name}"`);
  return {
    subscriptionId: subscriptionId.toLowerCase(),
    resourceGroup,
    name,
    id: `/subscriptions/${subscriptionId.toLowerCase()}/resourceGroups/${resourceGroup}/providers/${provider}/${type}/${name}`,
  };
}

export function parseFlexibleServerId(input: string): ResourceRef {
  return parseTyped(
    input,
    'PostgreSQL flexible server',
    'Microsoft.DBforPostgreSQL',
    'flexibleServers',
    SERVER_NAME,
  );
}

export function parseUserAssignedIdentityId(input: string): ResourceRef {
  return parseTyped(
    input,
    'user-assigned identity',
    'Microsoft.ManagedIdentity',
    'userAssignedIdentities',
    IDENTITY_NAME,
  );
}

/** ARM resource ids compare case-insensitively. */
export function sameResourceId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * An ARM resource's name: the last segment of its id (a trailing slash ignored), the input itself when
 * it has no segment. The one reading of a name from an id: never `split('/').pop()` at the call site.
 */
export function resourceNameOf(resourceId: string): string {
  const segments = resourceId.split('/').filter((s) => s !== '');
  return segments[segments.length - 1] ?? resourceId;
}

/** A flexible server's name: the last segment of its resource id. */
export function serverNameOf(serverId: string): string {
  return resourceNameOf(serverId);
}

/** The subscription of a resource id, as the id spells it ('' when it names none). */
export function subscriptionOf(resourceId: string): string {
  return /\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1] ?? '';
}
