import type { KeyInfo, KeyVersionInfo } from '../../../../shared/domain/model';
import {
  ROTATION_SCHEMA_VERSION,
  type RolloutBatchInput,
  type RotationInput,
  type RotationSettings,
  type ServerOutcome,
} from '../../../../shared/rotation/contract';
import { type PlannedServer } from '../../../../shared/rotation/activityIo';
import { keyInfo, keyVersion } from '../../../support/keys';
import { flexibleServerId, SUBSCRIPTION } from '../../../support/servers';

export const VAULT_URL = 'https://contoso-pg-kv.vault.azure.net';
export const NOW = '2026-11-24T10:00:00.000Z';
export const V1 = '5f1e2d3c4b5a69788796a5b4c3d2e1f0';
export const V2 = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
export const V3 = '0123456789abcdef0123456789abcdef';

const DAY = 86_400_000;
export const inDays = (d: number): string => new Date(Date.parse(NOW) + d * DAY).toISOString();

export function version(v: string, createdDaysAgo: number, expiresInDays?: number): KeyVersionInfo {
  return keyVersion(v, inDays(-createdDaysAgo), {
    vaultUrl: VAULT_URL,
    expiresOn: expiresInDays === undefined ? undefined : inDays(expiresInDays),
    keyType: 'RSA-HSM',
    keySize: 3072,
    keyOps: ['wrapKey', 'unwrapKey'],
  });
}

export function keyWith(...versions: KeyVersionInfo[]): KeyInfo {
  return keyInfo(versions, { vaultUrl: VAULT_URL });
}

export const SETTINGS: RotationSettings = {
  maxParallelUpdates: 2,
  canaryTag: 'cmk-rotation-ring',
  optOutTag: 'cmk-rotation-optout',
  minKeyLifetimeDays: 30,
  nearExpiry: { warningDays: 30, criticalDays: 7 },
  autoRotateOnNearExpiry: false,
  pollIntervalSeconds: 10,
  operationTimeoutMinutes: 60,
  maxWriteAttempts: 4,
};

export function rotationInput(overrides: Partial<RotationInput> = {}): RotationInput {
  return {
    schemaVersion: ROTATION_SCHEMA_VERSION,
    vaultUrl: VAULT_URL,
    vaultName: 'contoso-pg-kv',
    keyName: 'pg-cmk',
    trigger: 'event:e1',
    reason: 'KeyNewVersionCreated',
    hintVersion: V2,
    settings: SETTINGS,
    openIncidents: [],
    generation: 0,
    ...overrides,
  };
}

export function serverId(name: string): string {
  return flexibleServerId(SUBSCRIPTION, 'rg', name);
}

export function planned(
  name: string,
  opts: { ring?: 'canary' | 'main'; action?: PlannedServer['action']; from?: string } = {},
): PlannedServer {
  const action = opts.action ?? 'update';
  return {
    serverId: serverId(name),
    action,
    ring: opts.ring ?? 'main',
    slots: [
      {
        slot: 'primary',
        decision: action === 'update' ? 'update' : action === 'verify' ? 'current' : 'excluded',
        version: opts.from ?? V1,
        reason: 'test',
      },
    ],
  };
}

export function outcome(name: string, kind: ServerOutcome['outcome']): ServerOutcome {
  return {
    serverId: serverId(name),
    serverName: name,
    subscriptionId: '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b',
    outcome: kind,
    slots: [{ slot: 'primary', from: V1, to: V2 }],
    ...(kind === 'failed'
      ? {
          reasonCode: 'AzureKeyVaultMissingPermissions',
          incident: {
            dedupKey: `server-${name}`,
            kind: 'server' as const,
            serverId: serverId(name),
            version: V2,
          },
        }
      : {}),
  };
}

/** `n` server names in order: pg-0000, pg-0001, … */
export const serverNames = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `pg-${String(i).padStart(4, '0')}`);

/** A `rolloutBatch` input for the named servers of `subscriptionId`, at most `maxInFlight` at once. */
export function rolloutBatchInput(
  servers: string[],
  maxInFlight: number,
  subscriptionId: string,
): RolloutBatchInput {
  return {
    schemaVersion: ROTATION_SCHEMA_VERSION,
    correlationId: 'cmk-rotation:contoso-pg-kv:pg-cmk',
    trigger: 'event:e1',
    key: keyWith(version(V1, 300, 65), version(V2, 1, 365)),
    targetVersion: V2,
    subscriptionId,
    servers: servers.map((name) => ({ serverId: serverId(name) })),
    settings: {
      optOutTag: SETTINGS.optOutTag,
      pollIntervalSeconds: SETTINGS.pollIntervalSeconds,
      operationTimeoutMinutes: SETTINGS.operationTimeoutMinutes,
      maxWriteAttempts: SETTINGS.maxWriteAttempts,
    },
    maxInFlight,
  };
}
