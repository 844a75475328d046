import type { HttpResponseInit } from '@azure/functions';
import type { Config } from '../config';
import { FUNCTION_NAMES } from '../domain/names';
import { asRotationProgress } from '../rotation/outcomes';
import { type RotationProgress } from '../rotation/contract';
import { runHistoryOf, type RunRecord } from '../rotation/runs';
import { describeFailure } from '../domain/diagnosis';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import { isActive, type RotationInstances } from '../ports/rotations';

/**
 * Read-only operator endpoints for the CLI: `GET /api/runs` (every key's runs, newest first, like
 * `gh run list`) and `GET /api/vaults` (the allowed vaults and their keys: what the CLI checks a vault or
 * key name against, and suggests from, before it sends anything).
 */

/** One key's runs: the one going on now (if any), then the ended ones its last output carries. */
export interface KeyRuns {
  readonly vault: string;
  readonly key: string;
  readonly instanceId: string;
  /** The run in progress: its start and progress (what started it is known once it ends). */
  readonly running:
    | {
        readonly runtimeStatus: string;
        readonly startedAt: string | undefined;
        readonly progress: RotationProgress | undefined;
      }
    | undefined;
  /** Ended runs, newest first (at most `RUN_HISTORY_LENGTH`). */
  readonly runs: readonly RunRecord[];
}

const ROTATION_ID = /^cmk-rotation:([^:]+):([^:]+)$/;

/** Every key's runs, keys in instance id order. */
export async function listKeyRuns(instances: RotationInstances): Promise<KeyRuns[]> {
  const all = await instances.list();
  const keys: KeyRuns[] = [];
  for (const i of all) {
    if (i.name !== FUNCTION_NAMES.keyRotation) continue;
    const m = ROTATION_ID.exec(i.instanceId);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    const running = isActive(i.runtimeStatus);
    keys.push({
      vault: m[1],
      key: m[2],
      instanceId: i.instanceId,
      running: running
        ? {
            runtimeStatus: i.runtimeStatus,
            startedAt: i.createdTime,
            progress: asRotationProgress(i.customStatus),
          }
        : undefined,
      // A run that ended without an output of this format (failed, terminated, older) is still a run.
      runs:
        !running && runHistoryOf(i.output).length === 0
          ? [
              {
                kind: 'other',
                trigger: '',
                startedAt: i.createdTime ?? '',
                endedAt: i.lastUpdatedTime ?? '',
                status: i.runtimeStatus,
                counts: { done: 0, failed: 0, skipped: 0 },
              },
            ]
          : runHistoryOf(i.output),
    });
  }
  return keys.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

/** `GET /api/runs`. */
export async function getRuns(instances: RotationInstances): Promise<HttpResponseInit> {
  return { status: 200, jsonBody: { keys: await listKeyRuns(instances) } };
}

/** One allowed vault and its keys, or why they could not be listed. */
export interface VaultKeys {
  readonly vault: string;
  readonly vaultUrl: string;
  readonly keys?: readonly string[];
  readonly error?: string;
}

/** `GET /api/vaults`: every vault of CMK_ALLOWED_VAULTS with its key names (one vault failing leaves the others). */
export async function getVaults(deps: {
  readonly config: Pick<Config, 'allowedVaults'>;
  readonly keys: Pick<KeyVaultKeys, 'listKeys'>;
}): Promise<HttpResponseInit> {
  const vaults = await Promise.all(
    deps.config.allowedVaults.map(async (v): Promise<VaultKeys> => {
      try {
        return {
          vault: v.vaultName,
          vaultUrl: v.vaultUrl,
          keys: (await deps.keys.listKeys(v.vaultUrl)).sort(),
        };
      } catch (e) {
        return { vault: v.vaultName, vaultUrl: v.vaultUrl, error: describeFailure(e) };
      }
    }),
  );
  return { status: 200, jsonBody: { vaults } };
}
