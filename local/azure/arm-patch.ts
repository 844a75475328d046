import { randomUUID } from 'node:crypto';
import { armError, type ArmContext } from './arm-common';
import { operationUrls } from './arm-operations';
import { validatePatch, type PatchPlan } from './arm-validate';
import { isObject, jsonBody, type Reply, type Request } from './http';
import type { Operation, ServerRecord } from './world';

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
  if (
    props['state'] === 'Stopped' ||
    props['state'] === 'Stopping' ||
    props['state'] === 'Starting' ||
    props['state'] === 'Dropping'
  ) {
    throw armError(
      409,
      'ServerNotReady',
      `Server '${name}' is ${props['state'] as string}; the operation is not allowed in this state.`,
    );
  }
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
    record.json['identity'] = {
      ...(isObject(record.json['identity']) ? record.json['identity'] : {}),
      type: plan.identityType,
      userAssignedIdentities: plan.identities,
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
  props['state'] = previousState === 'Inaccessible' && de !== undefined ? 'Ready' : previousState;
  op.status = 'Succeeded';
  op.endTime = ctx.world.clock.now();
}
