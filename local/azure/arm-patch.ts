import { createHash, randomUUID } from 'node:crypto';
import { armError, type ArmContext } from './arm-common';
import { operationUrls } from './arm-operations';
import { validatePatch, type PatchPlan } from './arm-validate';
import { isObject, jsonBody, type Reply, type Request } from './http';
import { checkKeyAccess } from './world-grants';
import type { Operation, ServerRecord } from './world-records';
import type { Behaviour } from './world-state';

/**
 * The RP accepts a PATCH only on a Ready server. Codes (none is documented for PATCH; modeled, see
 * local/README.md): a Stopped or Stopping server answers 400 `ServerStoppedError`, as PG flexible does
 * for other operations on a stopped server (turbot/steampipe-plugin-azure#1015); any other state that
 * is not Ready (Updating, Starting, Restarting, Inaccessible, Disabled, Dropping, ...) answers 409
 * `ServerIsNotReady`, the code PG flexible gives a restart of a server that is not Ready
 * (hashicorp/terraform-provider-azurerm#29219: "... Current Server State = Updating").
 */
function refuseUnlessReady(name: string, state: unknown): void {
  const current = typeof state === 'string' ? state : 'Unknown';
  if (current === 'Ready') return;
  if (current === 'Stopped' || current === 'Stopping')
    throw armError(
      400,
      'ServerStoppedError',
      `Operation 'Update' cannot be performed as server '${name}' is in state '${current}'. Start the server and try again.`,
    );
  throw armError(
    409,
    'ServerIsNotReady',
    `Update can only be performed on Ready servers. Server Name = ${name}, Current Server State = ${current}`,
  );
}

/** The api-version that defines cross-tenant CMK (`primaryFederatedIdentityClientId`, ...). */
export const CROSS_TENANT_API_VERSION = '2026-04-01-preview';
export const CROSS_TENANT_FIELDS = ['primaryFederatedIdentityClientId', 'geoBackupFederatedIdentityClientId'];

/**
 * Cross-tenant CMK across a PATCH (Learn, PostgreSQL data encryption, cross-tenant CMK preview: a PATCH
 * without `primaryFederatedIdentityClientId` "is treated as a non-cross-tenant CMK configuration"). A
 * PATCH of `dataEncryption` with the preview api-version carries the ids it names; with any other
 * api-version it cannot name them, and the server is converted: the ids are gone after it, as a test
 * reading `/admin/servers` (the stored JSON) sees.
 */
function withFederatedIds(plan: PatchPlan, req: Request): PatchPlan {
  if (plan.dataEncryption === undefined || req.query.get('api-version') !== CROSS_TENANT_API_VERSION)
    return plan;
  const body = jsonBody(req);
  const props = isObject(body) && isObject(body['properties']) ? body['properties'] : {};
  const de = isObject(props['dataEncryption']) ? props['dataEncryption'] : {};
  const ids: Record<string, unknown> = {};
  for (const field of CROSS_TENANT_FIELDS)
    if (typeof de[field] === 'string' && de[field] !== '') ids[field] = de[field];
  return { ...plan, dataEncryption: { ...plan.dataEncryption, ...ids } };
}

export function patchServer(ctx: ArmContext, record: ServerRecord, req: Request): Reply {
  const name = String(record.json['name']);
  const props = record.json['properties'] as Record<string, unknown>;
  if (record.operation !== undefined && record.operation.status === 'InProgress') {
    throw armError(
      409,
      'ServerBusy',
      `Server '${name}' is busy with another operation. Please try your operation later.`,
    );
  }
  refuseUnlessReady(name, props['state']);
  const plan = withFederatedIds(validatePatch(ctx, record, jsonBody(req)), req);
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
  ctx.world.serverChanged(record);
  const lasts = operationDurationMs(ctx.world.behaviour, op.serverId);
  ctx.scheduler.after(lasts, `complete PATCH of ${name}`, () =>
    completePatch(ctx, record, op, plan, previousState),
  );
  const urls = operationUrls(op);
  return { status: 202, headers: { 'azure-asyncoperation': urls.asyncOperation, location: urls.location } };
}

/**
 * How long a server's PATCH operations last: `updateDurationMs` ± up to `updateDurationSpreadMs`,
 * spread evenly over the servers and never below zero. Drawn from the server's id alone (not from the
 * body, whose key version is new in every run), so a run repeats: each server is as slow as in the last
 * run, and all of its operations last the same. Real operations do not all last the same (how long a
 * CMK update of a flexible server takes is not documented), and a client that times its looks by the
 * typical one pays for the others with reads.
 */
export function operationDurationMs(
  behaviour: Pick<Behaviour, 'updateDurationMs' | 'updateDurationSpreadMs'>,
  serverId: string,
): number {
  const spread = behaviour.updateDurationSpreadMs;
  // Not `spread <= 0`: a spread that is not a number (NaN) would schedule the completion at NaN, never.
  if (!(spread > 0)) return behaviour.updateDurationMs;
  const draw = createHash('sha256').update(serverId.toLowerCase()).digest().readUInt32BE(0);
  const u = draw / 2 ** 32;
  return Math.max(0, Math.round(behaviour.updateDurationMs + (2 * u - 1) * spread));
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
      const check = checkKeyAccess(ctx.world, uri, typeof identity === 'string' ? identity : undefined, true);
      if (!check.ok) {
        op.status = 'Failed';
        op.error = { code: check.code, message: check.message };
        op.endTime = ctx.world.clock.now();
        props['state'] = previousState;
        ctx.world.serverChanged(record);
        return;
      }
    }
  }
  if (plan.identities !== undefined) {
    const { userAssignedIdentities: _old, ...rest } = isObject(record.json['identity'])
      ? record.json['identity']
      : {};
    record.json['identity'] = {
      ...rest,
      type: plan.identityType,
      ...(Object.keys(plan.identities).length > 0 ? { userAssignedIdentities: plan.identities } : {}),
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
  props['state'] = previousState;
  op.status = 'Succeeded';
  op.endTime = ctx.world.clock.now();
  ctx.world.serverChanged(record);
}
