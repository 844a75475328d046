import type { Server } from '@azure/arm-postgresql-flexible';
import type { DataEncryptionInfo, IdentityInfo, ServerSnapshot } from '../domain/model';
import { parseFlexibleServerId } from '../domain/resourceId';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function tagsOf(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function identityOf(v: unknown): IdentityInfo | undefined {
  if (!isObject(v)) return undefined;
  const map: Record<string, { principalId?: string; clientId?: string }> = {};
  const uais = v['userAssignedIdentities'];
  if (isObject(uais)) {
    for (const [id, val] of Object.entries(uais)) {
      const principalId = isObject(val) ? str(val['principalId']) : undefined;
      const clientId = isObject(val) ? str(val['clientId']) : undefined;
      map[id] = {
        ...(principalId !== undefined ? { principalId } : {}),
        ...(clientId !== undefined ? { clientId } : {}),
      };
    }
  }
  const tenantId = str(v['tenantId']);
  return {
    type: str(v['type']) ?? 'None',
    ...(tenantId !== undefined ? { tenantId } : {}),
    userAssignedIdentities: map,
  };
}

/** The cross-tenant federated client ids, when the JSON carries them (preview api-version, Resource Graph). */
function federatedIdsOf(
  v: Json,
): Pick<DataEncryptionInfo, 'primaryFederatedIdentityClientId' | 'geoBackupFederatedIdentityClientId'> {
  const primary = str(v['primaryFederatedIdentityClientId']);
  const geo = str(v['geoBackupFederatedIdentityClientId']);
  return {
    ...(primary !== undefined && primary !== '' ? { primaryFederatedIdentityClientId: primary } : {}),
    ...(geo !== undefined && geo !== '' ? { geoBackupFederatedIdentityClientId: geo } : {}),
  };
}

function dataEncryptionOf(v: unknown): DataEncryptionInfo | undefined {
  if (!isObject(v)) return undefined;
  return {
    type: str(v['type']),
    primaryKeyURI: str(v['primaryKeyURI']),
    primaryUserAssignedIdentityId: str(v['primaryUserAssignedIdentityId']),
    geoBackupKeyURI: str(v['geoBackupKeyURI']),
    geoBackupUserAssignedIdentityId: str(v['geoBackupUserAssignedIdentityId']),
    primaryEncryptionKeyStatus: str(v['primaryEncryptionKeyStatus']),
    geoBackupEncryptionKeyStatus: str(v['geoBackupEncryptionKeyStatus']),
    ...federatedIdsOf(v),
  };
}

/** `properties.replica.role` (2023-06-01-preview and later) or the older `properties.replicationRole`. */
function replicationRoleOf(props: Json): { replicationRole?: string } {
  const replica = props['replica'];
  const role = (isObject(replica) ? str(replica['role']) : undefined) ?? str(props['replicationRole']);
  return role !== undefined ? { replicationRole: role } : {};
}

/** From ARM's wire JSON (`properties.*` nested), as Resource Graph rows and raw GETs carry it. */
export function serverFromArmJson(raw: unknown): ServerSnapshot {
  if (!isObject(raw)) throw new TypeError('server is not a JSON object');
  const id = str(raw['id']) ?? '';
  const ref = parseFlexibleServerId(id);
  const props = isObject(raw['properties']) ? raw['properties'] : {};
  return {
    id,
    name: str(raw['name']) ?? ref.name,
    subscriptionId: ref.subscriptionId,
    resourceGroup: ref.resourceGroup,
    location: str(raw['location']) ?? '',
    state: str(props['state']),
    tags: tagsOf(raw['tags']),
    identity: identityOf(raw['identity']),
    dataEncryption: dataEncryptionOf(props['dataEncryption']),
    ...replicationRoleOf(props),
  };
}

/** From the PostgreSQL SDK's model, which flattens `properties` onto the server object. */
export function serverFromSdk(server: Server): ServerSnapshot {
  const ref = parseFlexibleServerId(server.id ?? '');
  return {
    id: server.id ?? ref.id,
    name: server.name ?? ref.name,
    subscriptionId: ref.subscriptionId,
    resourceGroup: ref.resourceGroup,
    location: server.location,
    state: server.state,
    tags: tagsOf(server.tags),
    identity: identityOf(server.identity),
    dataEncryption: dataEncryptionOf(server.dataEncryption),
    ...replicationRoleOf({ replica: server.replica, replicationRole: server.replicationRole }),
  };
}
