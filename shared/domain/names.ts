/**
 * Names shared by the code that registers functions and the infrastructure that points at them
 * (the Event Grid subscription targets the intake function by name).
 */
export const FUNCTION_NAMES = {
  /** Event Grid trigger: Key Vault key events in, durable rotations started or signalled. */
  keyVaultEvents: 'keyVaultEvents',
  /** Timer trigger: the reconcile sweep. */
  reconcileSweep: 'reconcileSweep',
  /**
   * HTTP trigger `rotations/{vault}/{key}`: GET a key's rotation (status, progress, output), POST
   * rotate it now. (Named `rotateKeyNow` before 0.1.0, which said only half of it.)
   */
  keyRotationApi: 'keyRotationApi',
  /** HTTP trigger: the plan a rotation would follow (dry run). */
  rotationPlan: 'rotationPlan',
  /** HTTP trigger: every key's current or last rotation. */
  listRotations: 'listRotations',
  /** HTTP trigger: retry one failed server of a key's last rotation. */
  retryServer: 'retryServer',
  /** HTTP trigger: the reconcile sweep, now. */
  sweepNow: 'sweepNow',
  /** HTTP trigger: re-send the events of a dead-letter blob through the intake. */
  replayEvents: 'replayEvents',
  /** HTTP trigger: the status page (HTML). */
  statusPage: 'statusPage',
  /** HTTP trigger: `GET /api/health`, pager channels and their state (function key). */
  health: 'health',
  /** HTTP trigger: the fleet posture (`GET /api/posture`). */
  fleetPosture: 'fleetPosture',
  /** HTTP trigger: every key's runs, newest first (`GET /api/runs`). */
  listRuns: 'listRuns',
  /** HTTP trigger: the allowed vaults and their keys (`GET /api/vaults`). */
  listVaults: 'listVaults',
  keyRotation: 'keyRotation',
  rolloutBatch: 'rolloutBatch',
  serverRollover: 'serverRollover',
  /** Durable entity, one per subscription: ARM's quota shared by every rotation (shared/rotation/governor.ts). */
  armQuotaGovernor: 'armQuotaGovernor',
  /**
   * Durable entity, one per subscription and rollout phase: its batches' in-flight budget
   * (shared/rotation/lane.ts).
   */
  rolloutLane: 'rolloutLane',
} as const;
