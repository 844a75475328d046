import { formatKeyUri, keyRef, sameKey, tryParseKeyUri, type KeyRef } from './keyId';
import type { EncryptionPatchBody, KeyInfo, KeyVersionInfo, ServerSnapshot, Slot } from './model';
import { InvalidInputError } from './errors';

/**
 * What happens to one slot (primary or geo-backup key) of one server:
 * - `update`: pinned to an older version of this key; PATCH it to the target.
 * - `current`: already on the target version; verify only.
 * - `versionless`: follows the latest version by itself; verify only, never convert to versioned.
 * - `excluded`: the server carries the opt-out tag; never touched.
 * - `held`: an operator put the server on hold (the hold tag, e.g. during an incident or a change
 *   freeze); never touched while the tag is there, like the opt-out, but temporary by intent.
 * - `deferred`: needs an update but the server is not Ready; retried by a later run or the sweep.
 * - `ahead`: pinned to a version newer than the target; moving it would be a downgrade.
 * - `unknownVersion`: pinned to a version the vault does not list; its age cannot be proven, so an
 *   operator decides.
 */
export type SlotDecision =
  'update' | 'current' | 'versionless' | 'excluded' | 'held' | 'deferred' | 'ahead' | 'unknownVersion';

/** Decisions that leave the server alone whatever its state (opt-out, operator hold). */
export function leavesAlone(decision: SlotDecision): boolean {
  return decision === 'excluded' || decision === 'held';
}

/** What the rollout does with a server as a whole. */
export type ServerAction = 'update' | 'verify' | 'skip';

export interface SlotPlan {
  readonly slot: Slot;
  readonly decision: SlotDecision;
  readonly currentUri: string;
  /** Set for `update` and `deferred`: the versioned URI the slot moves (or would move) to. */
  readonly targetUri: string | undefined;
  readonly reason: string;
}

export interface ServerPlan {
  readonly serverId: string;
  readonly serverName: string;
  readonly subscriptionId: string;
  readonly action: ServerAction;
  /** Only the slots that name this key; a slot on another key is kept as it is in the PATCH body. */
  readonly slots: readonly SlotPlan[];
  /** The full body to PATCH, present when `action` is `update`. */
  readonly patch: EncryptionPatchBody | undefined;
}

export interface RolloutPlan {
  readonly vaultUrl: string;
  readonly keyName: string;
  readonly targetKid: string;
  readonly targetVersion: string;
  readonly servers: readonly ServerPlan[];
  /** Servers handed in that reference neither slot to this key: never touched. */
  readonly notReferencing: readonly string[];
}

export interface PlanInput {
  readonly key: KeyInfo;
  readonly targetVersion: string;
  readonly servers: readonly ServerSnapshot[];
  /** Tag name that opts a server out (any value but false/0/no/off). ARM tag names are case-insensitive. */
  readonly optOutTag: string;
  /** Tag that puts a server on operator hold (any value but false/0/no/off; the value says why). */
  readonly holdTag?: string | undefined;
}

export class PlanInputError extends InvalidInputError {
  constructor(message: string) {
    super('InvalidPlanInput', message);
  }
}

const FALSY_TAG_VALUES = ['false', '0', 'no', 'off'];

export function hasTag(tags: Readonly<Record<string, string>>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(tags)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

export function isOptedOut(server: ServerSnapshot, optOutTag: string): boolean {
  const value = hasTag(server.tags, optOutTag);
  return value !== undefined && !FALSY_TAG_VALUES.includes(value.trim().toLowerCase());
}

/**
 * The rollout's rings, the one vocabulary of the rollout, the plan preview and the posture: the
 * `canary` ring (the canary tag's value `0`) goes first; the `main` ring only once every canary verified.
 */
export type Ring = 'canary' | 'main';

/** A server's ring by the configured canary tag (tag names are case-insensitive, the value trimmed). */
export function ringOf(server: ServerSnapshot, canaryTag: string): Ring {
  return hasTag(server.tags, canaryTag)?.trim() === '0' ? 'canary' : 'main';
}

/** The hold tag's value when the server is on operator hold, else undefined. */
export function holdOf(server: ServerSnapshot, holdTag: string | undefined): string | undefined {
  if (holdTag === undefined || holdTag === '') return undefined;
  const value = hasTag(server.tags, holdTag);
  return value !== undefined && !FALSY_TAG_VALUES.includes(value.trim().toLowerCase()) ? value : undefined;
}

function slotUri(server: ServerSnapshot, slot: Slot): string | undefined {
  const de = server.dataEncryption;
  const uri = slot === 'primary' ? de?.primaryKeyURI : de?.geoBackupKeyURI;
  return uri === undefined || uri.trim() === '' ? undefined : uri;
}

function findVersion(key: KeyInfo, version: string): KeyVersionInfo | undefined {
  return key.versions.find((v) => v.version.toLowerCase() === version.toLowerCase());
}

function decideSlot(
  ref: KeyRef,
  currentUri: string,
  slot: Slot,
  key: KeyInfo,
  target: KeyVersionInfo,
  targetUri: string,
): SlotPlan {
  const plan = (decision: SlotDecision, reason: string, to?: string): SlotPlan => ({
    slot,
    decision,
    currentUri,
    targetUri: to,
    reason,
  });
  if (ref.version === undefined) return plan('versionless', 'versionless key URI follows the latest version');
  if (ref.version === target.version.toLowerCase()) return plan('current', 'already on the target version');
  const current = findVersion(key, ref.version);
  if (current === undefined)
    return plan('unknownVersion', `version ${ref.version} is not listed by the vault`);
  const age = Date.parse(current.createdOn) - Date.parse(target.createdOn);
  if (age > 0 || (age === 0 && isCurrentVersion(key, current.version))) {
    return plan('ahead', `version ${ref.version} is not older than the target; never downgrade`);
  }
  return plan('update', `version ${ref.version} -> ${target.version}`, targetUri);
}

/**
 * Builds the PATCH body: the whole `properties.dataEncryption` (both slots, their identities included),
 * and nothing else. A partial `dataEncryption` could drop the geo-backup key or identity, so every
 * field the server has is sent again, with only the slots on the rotating key changed.
 *
 * Why no `identity` map (checked 2026-11-28 against primary sources):
 * - REST spec, Microsoft.DBforPostgreSQL 2025-08-01 Servers.json: `ServerForPatch.identity` is
 *   optional ("the request body can contain one or multiple of the properties").
 * - ARM PATCH merges `identity.userAssignedIdentities`: an identity left out stays assigned, `null`
 *   removes one. The azure-cli sources rely on it: `az postgres flexible-server identity assign` PATCHes
 *   a map of only the new identities, `identity remove` a map of `{<id>: null}`
 *   (Azure/azure-cli src/azure-cli/azure/cli/command_modules/postgresql/commands/identity_commands.py);
 *   Learn "Configure data encryption" (how-to-data-encryption) says the identities `--identity` and
 *   `--backup-identity` send are "added to the list" of the server's identities. So omitting the map
 *   changes no identity; the encryption identities are already assigned (the server uses them today).
 * - Every identity named in a request body costs the caller
 *   `Microsoft.ManagedIdentity/userAssignedIdentities/assign/action` on that identity, or ARM refuses
 *   the whole PATCH with 403 LinkedAuthorizationFailed ("... does not have permission to perform action
 *   '.../assign/action' on the linked scope(s) ..."), e.g. for an identity in a security resource group.
 *   `az postgres flexible-server update --key --identity` (_flexible_server_util.py
 *   `build_identity_and_data_encryption`) sends the primary and geo identities because it may assign a
 *   new one; a rotation never changes identities, so it needs neither the map nor that permission.
 * The local ARM stand-in implements these semantics (merge, null removes, linked authorization, the
 * encryption identities must be assigned after the merge) and the tests run this body against it.
 */
export function buildPatchBody(
  server: ServerSnapshot,
  newUris: Partial<Record<Slot, string>>,
): EncryptionPatchBody {
  const de = server.dataEncryption ?? {};
  const primaryKeyURI = newUris.primary ?? de.primaryKeyURI;
  const primaryIdentity = de.primaryUserAssignedIdentityId;
  if (
    primaryKeyURI === undefined ||
    primaryKeyURI === '' ||
    primaryIdentity === undefined ||
    primaryIdentity === ''
  ) {
    throw new PlanInputError(
      `Server ${server.id} has no primary key URI and identity to keep in the PATCH body.`,
    );
  }
  const geoBackupKeyURI = newUris.geoBackup ?? de.geoBackupKeyURI;
  const geoIdentity = de.geoBackupUserAssignedIdentityId;
  const withGeo = geoBackupKeyURI !== undefined && geoBackupKeyURI !== '';
  return {
    properties: {
      dataEncryption: {
        type: 'AzureKeyVault',
        primaryKeyURI,
        primaryUserAssignedIdentityId: primaryIdentity,
        ...(withGeo ? { geoBackupKeyURI } : {}),
        ...(withGeo && geoIdentity !== undefined && geoIdentity !== ''
          ? { geoBackupUserAssignedIdentityId: geoIdentity }
          : {}),
      },
    },
  };
}

/**
 * Decides, per server and per slot, what a rollout of `targetVersion` does. Pure: the same input always
 * gives the same plan, so an orchestrator may compute it in an activity and replay it safely.
 */
export function planRollout(input: PlanInput): RolloutPlan {
  const { key } = input;
  const target = findVersion(key, input.targetVersion);
  if (target === undefined)
    throw new PlanInputError(`Target version ${input.targetVersion} is not a version of key ${key.name}.`);
  const wanted = keyRef(key.vaultUrl, key.name);
  const targetUri = formatKeyUri({
    vaultUrl: wanted.vaultUrl,
    name: key.name,
    version: target.version.toLowerCase(),
  });

  const servers: ServerPlan[] = [];
  const notReferencing: string[] = [];
  for (const server of input.servers) {
    const slots: SlotPlan[] = [];
    for (const slot of ['primary', 'geoBackup'] as const) {
      const uri = slotUri(server, slot);
      const ref = tryParseKeyUri(uri);
      if (uri === undefined || ref === undefined || !sameKey(ref, wanted)) continue;
      slots.push(decideSlot(ref, uri, slot, key, target, targetUri));
    }
    if (slots.length === 0) {
      notReferencing.push(server.id);
      continue;
    }
    let finalSlots = slots;
    const hold = holdOf(server, input.holdTag);
    if (isOptedOut(server, input.optOutTag)) {
      finalSlots = slots.map((s) => ({
        ...s,
        decision: 'excluded',
        targetUri: undefined,
        reason: `opted out by tag ${input.optOutTag}`,
      }));
    } else if (hold !== undefined) {
      finalSlots = slots.map((s) => ({
        ...s,
        decision: 'held',
        targetUri: undefined,
        reason: `on operator hold by tag ${input.holdTag ?? ''}=${hold}`,
      }));
    } else if (server.state !== 'Ready') {
      finalSlots = slots.map((s) =>
        s.decision === 'update'
          ? {
              ...s,
              decision: 'deferred',
              reason: `server is ${server.state ?? 'in an unknown state'}, not Ready`,
            }
          : s,
      );
    }
    const updates = finalSlots.filter((s) => s.decision === 'update');
    const action: ServerAction =
      updates.length > 0
        ? 'update'
        : finalSlots.some((s) => s.decision === 'current' || s.decision === 'versionless')
          ? 'verify'
          : 'skip';
    const newUris: Partial<Record<Slot, string>> = {};
    for (const s of updates) newUris[s.slot] = targetUri;
    servers.push({
      serverId: server.id,
      serverName: server.name,
      subscriptionId: server.subscriptionId,
      action,
      slots: finalSlots,
      patch: action === 'update' ? buildPatchBody(server, newUris) : undefined,
    });
  }
  return {
    vaultUrl: wanted.vaultUrl,
    keyName: key.name,
    targetKid: targetUri,
    targetVersion: target.version.toLowerCase(),
    servers,
    notReferencing,
  };
}

function isCurrentVersion(key: KeyInfo, version: string): boolean {
  return key.currentVersion !== undefined && key.currentVersion.toLowerCase() === version.toLowerCase();
}

/**
 * The newest version: the vault's current one when known, else the latest by creation time; undefined
 * for a key without versions.
 */
export function latestVersion(key: KeyInfo): KeyVersionInfo | undefined {
  const current = key.versions.find((v) => isCurrentVersion(key, v.version));
  if (current !== undefined) return current;
  let best: KeyVersionInfo | undefined;
  for (const v of key.versions)
    if (best === undefined || Date.parse(v.createdOn) > Date.parse(best.createdOn)) best = v;
  return best;
}
