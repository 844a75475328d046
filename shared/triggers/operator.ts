import type { Config } from '../config';
import { rotationSettings } from '../config';
import { InvalidInputError } from '../domain/errors';
import { keyRef } from '../domain/keyId';
import { rotationInstanceId } from '../domain/rotation';
import type { AuditTrail } from '../ports/auditTrail';
import type { InstanceInfo, RotationInstances } from '../ports/rotations';
import { requestAudit, requestRotation, type RequestOutcome } from './rotationRequests';

export class OperatorRequestError extends InvalidInputError {
  constructor(message: string) {
    super('InvalidOperatorRequest', message);
  }
}

const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** Validates the vault and key an operator named; throws `OperatorRequestError` and changes nothing. */
export function operatorTarget(
  config: Config,
  vault: string,
  key: string,
): { vaultUrl: string; vaultName: string; keyName: string } {
  const vaultName = vault.toLowerCase();
  if (!config.allowedVaults.includes(vaultName))
    throw new OperatorRequestError(`Vault "${vault}" is not in CMK_ALLOWED_VAULTS.`);
  if (!KEY_NAME.test(key)) throw new OperatorRequestError(`"${key}" is not a Key Vault key name.`);
  const ref = keyRef(`https://${vaultName}.vault.azure.net`, key);
  return { vaultUrl: ref.vaultUrl, vaultName, keyName: key };
}

/** Manual rotation: the same path as an event (one instance per key), attributed to the caller. */
export async function requestOperatorRotation(
  instances: RotationInstances,
  deps: { readonly config: Config; readonly audit: AuditTrail },
  vault: string,
  key: string,
  caller: string,
): Promise<RequestOutcome> {
  const target = operatorTarget(deps.config, vault, key);
  const request = {
    ...target,
    trigger: `operator:${caller}`,
    reason: 'Operator' as const,
    version: undefined,
  };
  const outcome = await requestRotation(instances, request, rotationSettings(deps.config));
  await deps.audit.record([requestAudit(request, outcome)]);
  return outcome;
}

/** The key's rotation instance, for `GET`. */
export async function rotationStatus(
  instances: RotationInstances,
  config: Config,
  vault: string,
  key: string,
): Promise<{ instanceId: string; info: InstanceInfo | undefined }> {
  const target = operatorTarget(config, vault, key);
  const instanceId = rotationInstanceId(target.vaultName, target.keyName);
  return { instanceId, info: await instances.status(instanceId) };
}
