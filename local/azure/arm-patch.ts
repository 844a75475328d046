import { randomUUID } from 'node:crypto';
import { armError, type ArmContext } from './arm-common';
import { operationUrls } from './arm-operations';
import { validatePatch, type PatchPlan } from './arm-validate';
import { isObject, jsonBody, type Reply, type Request } from './http';
import type { Operation, ServerRecord } from './world';

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
}
