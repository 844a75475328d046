import { armError, type ArmContext } from './arm-common';
import type { HttpError } from './http';
import { isObject } from './http';
import { dataEncryptionOf, type ServerRecord } from './world-records';

// The RP checks only the shape of a key URI when it accepts a PATCH; whether the key exists is found
// out when it reaches the vault, and fails the operation instead.
const KEY_URI_SHAPE =
  /^https:\/\/[a-z0-9-]+\.(vault|managedhsm)\.[a-z0-9.]+(:443)?\/keys\/[A-Za-z0-9-]+(\/[^/?#]*)?$/i;

function bad(code: string, message: string): HttpError {
  return armError(400, code, message);
}

export interface PatchPlan {
  dataEncryption: Record<string, unknown> | undefined;
  identities: Record<string, unknown> | undefined;
  identityType: string | undefined;
  tags: Record<string, string> | undefined;
}

const IDENTITY_TYPES = ['None', 'UserAssigned', 'SystemAssigned', 'SystemAssigned,UserAssigned'];

function hasKey(map: Record<string, unknown>, id: string): boolean {
  return Object.keys(map).some((k) => k.toLowerCase() === id.toLowerCase());
}

/**
 * ARM PATCH semantics of `identity` (Learn, managed identities on a resource with REST; the azure-cli
 * `flexible-server identity assign/remove` commands rely on them): `userAssignedIdentities` merges into
 * the server's map, an entry whose value is `null` removes that identity, one left out stays; a type
 * without `UserAssigned` removes every user-assigned identity. Without `identity` nothing changes.
 */
function mergeIdentity(
  ctx: ArmContext,
  record: ServerRecord,
  raw: unknown,
): { map: Record<string, unknown>; type: string | undefined } {
  const current = isObject(record.json['identity']) ? record.json['identity'] : {};
  const currentMap = isObject(current['userAssignedIdentities']) ? current['userAssignedIdentities'] : {};
  if (raw === undefined || raw === null)
    return {
      map: currentMap,
      type: typeof current['type'] === 'string' ? current['type'] : undefined,
    };
  if (!isObject(raw) || typeof raw['type'] !== 'string')
    throw bad('InvalidParameterValue', 'identity.type is required.');
  const given = raw['type'].replace(/\s+/g, '');
  const type = IDENTITY_TYPES.find((t) => t.toLowerCase() === given.toLowerCase());
  if (type === undefined)
    throw bad(
      'InvalidParameterValue',
      `The identity type '${raw['type']}' is invalid. Allowed: ${IDENTITY_TYPES.join(', ')}.`,
    );
  const changes = raw['userAssignedIdentities'];
  if (changes !== undefined && changes !== null && !isObject(changes))
    throw bad('InvalidParameterValue', 'identity.userAssignedIdentities must be an object.');
  const entries = Object.entries(isObject(changes) ? changes : {});
  if (!type.includes('UserAssigned')) {
    if (entries.length > 0)
      throw bad(
        'InvalidParameterValue',
        `userAssignedIdentities can only be given with an identity type that includes UserAssigned, not '${type}'.`,
      );
    return { map: {}, type };
  }
  let map: Record<string, unknown> = { ...currentMap };
  for (const [id, value] of entries) {
    const existing = Object.keys(map).find((k) => k.toLowerCase() === id.toLowerCase());
    if (value === null) {
      map = Object.fromEntries(Object.entries(map).filter(([k]) => k !== existing));
      continue;
    }
    if (!isObject(value))
      throw bad(
        'InvalidParameterValue',
        `The value for user assigned identity '${id}' must be an object or null.`,
      );
    const known = ctx.world.identities.get(id.toLowerCase());
    if (known === undefined)
      throw bad('InvalidUserAssignedIdentity', `The user assigned identity '${id}' was not found.`);
    map[existing ?? id] = { principalId: known.principalId, clientId: known.clientId };
  }
  return { map, type };
}

/** What the flexible server RP checks synchronously before it accepts a PATCH. */
export function validatePatch(ctx: ArmContext, record: ServerRecord, body: unknown): PatchPlan {
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

  const merged = mergeIdentity(ctx, record, body['identity']);
  const map = merged.map;
  if (body['identity'] !== undefined) {
    plan.identities = merged.map;
    plan.identityType = merged.type;
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
      if (id !== undefined && !hasKey(map, id)) {
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
      if (typeof id === 'string' && id !== '' && !hasKey(map, id)) {
        throw bad(
          'InvalidParameterValue',
          `The user assigned identity '${id}' is used for data encryption and cannot be removed.`,
        );
      }
    }
  }
  return plan;
}
