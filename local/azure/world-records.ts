import { isObject } from './http';
import type { KeyVersion } from './keyvault-model';

/**
 * The records the local Azure keeps per server and per long-running operation, and the outcome of the
 * RP's key check: the leaf of the world modules (world-state owns the world, world-health watches the
 * servers' key status, the rules live in world-fleet, world-grants, world-keys and world-time, and world.ts
 * is the facade over all of them). Nothing here imports another world module.
 */
export interface Operation {
  readonly id: string;
  readonly serverId: string;
  readonly subscriptionId: string;
  readonly location: string;
  readonly startTime: number;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  endTime: number | undefined;
  error: { code: string; message: string } | undefined;
}

export interface ServerRecord {
  /** ARM `Server` JSON exactly as GET returns it; the stand-in edits it in place. */
  json: Record<string, unknown>;
  operation: Operation | undefined;
  invalidSince: Partial<Record<'primary' | 'geoBackup', number>>;
}
/** The RP's check that an identity can use a key URI for a server (world-grants.ts checkKeyAccess). */
export type KeyAccessCheck = { ok: true; version: KeyVersion } | { ok: false; code: string; message: string };

export function props(json: Record<string, unknown>): Record<string, unknown> {
  if (!isObject(json['properties'])) json['properties'] = {};
  return json['properties'] as Record<string, unknown>;
}

export function dataEncryptionOf(json: Record<string, unknown>): Record<string, unknown> | undefined {
  const de = props(json)['dataEncryption'];
  return isObject(de) ? de : undefined;
}
