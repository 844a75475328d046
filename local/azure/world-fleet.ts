import { roleAssignmentsFrom, RoleError } from './arm-authz';
import { Clock, parseFleetTime } from './clock';
import type { FleetFile } from './fleet';
import { isObject } from './http';
import { armIdOfType, FLEXIBLE_SERVER_TYPE, USER_ASSIGNED_IDENTITY_TYPE } from './ids';
import {
  DEFAULT_KEY_OPS,
  generateKeyMaterial,
  newVersionId,
  type Vault,
  type VaultKey,
} from './keyvault-model';
import { applyKeyVaultRoleAssignments } from './keyvault-rbac';
import { grant } from './world-grants';
import { markPastNotifications, normalizePolicy } from './world-keys';
import { evaluateServers } from './world-time';
import { props, type ServerRecord } from './world-records';
import { FleetError, type Behaviour, type WorldState } from './world-state';

/**
 * Builds the world a fleet file describes: identities, vaults with keys and grants, servers. `create`
 * makes the (empty) world to fill: world.ts passes its facade, so this module never imports it.
 */
export async function loadWorld<W extends WorldState>(
  fleet: FleetFile,
  behaviourOverride: Partial<Behaviour>,
  create: (clock: Clock, behaviour: Behaviour, tenantId: string) => W,
): Promise<W> {
  const start = fleet.clockStart !== undefined ? parseFleetTime(fleet.clockStart, Date.now()) : undefined;
  const clock = new Clock(start);
  const b = fleet.behaviour ?? {};
  const behaviour: Behaviour = {
    updateDurationMs: b.updateDurationMs ?? 2000,
    updateDurationSpreadMs: b.updateDurationSpreadMs ?? 0,
    inaccessibleAfterMs: b.inaccessibleAfterMs ?? 600_000,
    armPageSize: b.armPageSize ?? 100,
    keyVaultPageSize: b.keyVaultPageSize ?? 25,
    eventGridRetryScale: b.eventGridRetryScale ?? 1,
    eventGridDeliveryTimeoutMs: b.eventGridDeliveryTimeoutMs ?? 30_000,
    armWrites: { burst: 200, perSecond: 10, ...b.armThrottling?.writes },
    armReads: { burst: 250, perSecond: 25, ...b.armThrottling?.reads },
    resourceGraphQuota: { requests: 15, windowMs: 5000, ...b.resourceGraphQuota },
    ...behaviourOverride,
  };
  const world = create(clock, behaviour, fleet.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47');
  const now = clock.now();

  for (const id of fleet.identities ?? []) {
    if (armIdOfType(id.id, USER_ASSIGNED_IDENTITY_TYPE) === undefined)
      throw new FleetError(`identity ${id.id} is not a user-assigned identity id`);
    world.identities.set(id.id.toLowerCase(), id);
  }
  for (const v of fleet.vaults ?? []) {
    const vault: Vault = {
      name: v.name.toLowerCase(),
      subscriptionId: v.subscriptionId,
      resourceGroup: v.resourceGroup,
      location: v.location ?? 'westeurope',
      keys: new Map(),
      access: [],
      enforceCallerAccess: v.enforceCallerAccess ?? false,
      kind: v.kind ?? 'vault',
      arm: {
        tenantId: v.tenantId ?? world.tenantId,
        enableSoftDelete: v.enableSoftDelete ?? true,
        softDeleteRetentionInDays: v.softDeleteRetentionInDays ?? 90,
        enablePurgeProtection: v.enablePurgeProtection ?? false,
        enableRbacAuthorization: v.enableRbacAuthorization ?? true,
        publicNetworkAccess: v.publicNetworkAccess ?? 'Enabled',
        networkAcls:
          v.networkAcls === undefined
            ? undefined
            : {
                bypass: v.networkAcls.bypass ?? 'AzureServices',
                defaultAction: v.networkAcls.defaultAction ?? 'Allow',
                ipRules: [...(v.networkAcls.ipRules ?? [])],
                virtualNetworkRules: [...(v.networkAcls.virtualNetworkRules ?? [])],
              },
      },
    };
    if (vault.arm.softDeleteRetentionInDays < 7 || vault.arm.softDeleteRetentionInDays > 90)
      throw new FleetError(`vault ${vault.name}: softDeleteRetentionInDays must be 7 to 90`);
    if (world.vaults.has(vault.name))
      throw new FleetError(`two vaults or HSMs named ${vault.name}: the stand-in keys them by name`);
    for (const a of v.access ?? []) grant(world, vault, a.identity ?? a.principalId ?? '', a.permissions);
    for (const k of v.keys ?? []) {
      const key: VaultKey = {
        name: k.name,
        versions: [],
        deleted: undefined,
        rotationPolicy: undefined,
        notified: new Set(),
      };
      if (k.rotationPolicy !== undefined)
        key.rotationPolicy = normalizePolicy(world, vault, k.name, k.rotationPolicy, now);
      for (const fv of k.versions) {
        const kty = k.kty ?? 'RSA';
        const size = fv.size ?? k.size ?? 2048;
        const created = fv.created !== undefined ? parseFleetTime(fv.created, now) : now;
        const material = await generateKeyMaterial(kty, size);
        key.versions.push({
          version: (fv.version ?? newVersionId()).toLowerCase(),
          created,
          updated: created,
          enabled: fv.enabled ?? true,
          nbf: fv.nbf !== undefined ? parseFleetTime(fv.nbf, now) : undefined,
          exp: fv.exp !== undefined ? parseFleetTime(fv.exp, now) : undefined,
          kty,
          size,
          ops: [...(fv.ops ?? k.ops ?? DEFAULT_KEY_OPS)],
          tags: {},
          privateKey: material.privateKey,
          publicKey: material.publicKey,
        });
      }
      // Thresholds already behind us were notified before the stand-in started.
      markPastNotifications(key, now);
      vault.keys.set(k.name.toLowerCase(), key);
    }
    world.vaults.set(vault.name, vault);
  }
  for (const raw of fleet.servers ?? []) addServer(world, raw);
  if (fleet.appNetwork !== undefined)
    world.appNetwork = {
      outboundIpAddresses: [...(fleet.appNetwork.outboundIpAddresses ?? [])],
      subnetId: fleet.appNetwork.subnetId,
      privateEndpointVaults: new Set((fleet.appNetwork.privateEndpoints ?? []).map((v) => v.toLowerCase())),
    };
  if (fleet.roleAssignments !== undefined) {
    try {
      world.roleAssignments = roleAssignmentsFrom(fleet.roleAssignments);
    } catch (e) {
      if (e instanceof RoleError) throw new FleetError(e.message);
      throw e;
    }
  }
  applyKeyVaultRoleAssignments(world, fleet.roleAssignments ?? []);
  // Key health is part of the state from the first request on, not from the first clock tick.
  evaluateServers(world);
  return world;
}

export function addServer(world: WorldState, raw: unknown): ServerRecord {
  if (!isObject(raw)) throw new FleetError('a server must be a JSON object');
  const json = structuredClone(raw);
  const ref = armIdOfType(String(json['id']), FLEXIBLE_SERVER_TYPE);
  if (ref === undefined) throw new FleetError(`server id ${String(json['id'])} is not a flexible server id`);
  if (typeof json['name'] !== 'string') json['name'] = ref.name;
  json['type'] ??= 'Microsoft.DBforPostgreSQL/flexibleServers';
  if (typeof json['location'] !== 'string') throw new FleetError(`server ${ref.name} has no location`);
  const p = props(json);
  p['state'] ??= 'Ready';
  // Fill principal/client ids of user-assigned identities from the fleet's identities, as ARM does.
  const identity = json['identity'];
  if (isObject(identity) && isObject(identity['userAssignedIdentities'])) {
    const map = identity['userAssignedIdentities'];
    for (const id of Object.keys(map)) {
      const known = world.identities.get(id.toLowerCase());
      if (known !== undefined) map[id] = { principalId: known.principalId, clientId: known.clientId };
    }
  }
  const record: ServerRecord = { json, operation: undefined, invalidSince: {} };
  const key = ref.id.toLowerCase();
  const previous = world.servers.get(key);
  world.servers.set(key, record);
  const [, , sub = '', , rg = ''] = key.split('/');
  const replace = (list: ServerRecord[] | undefined): ServerRecord[] => [
    ...(list ?? []).filter((r) => r !== previous),
    record,
  ];
  world.serversBySubscription.set(sub, replace(world.serversBySubscription.get(sub)));
  world.serversByResourceGroup.set(`${sub}/${rg}`, replace(world.serversByResourceGroup.get(`${sub}/${rg}`)));
  if (previous !== undefined) world.health.removed(previous);
  world.serverChanged(record);
  return record;
}
