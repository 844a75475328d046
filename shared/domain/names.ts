/**
 * Names shared by the code that registers functions and the infrastructure that points at them
 * (the Event Grid subscription targets the intake function by name).
 */
export const FUNCTION_NAMES = {
  /** Event Grid trigger: Key Vault key events in, durable rotations started or signalled. */
  keyVaultEvents: 'keyVaultEvents',
  /** Timer trigger: the reconcile sweep. */
  reconcileSweep: 'reconcileSweep',
  /** HTTP trigger: the operator API (status of a key's rotation, manual rotation). */
  rotateKeyNow: 'rotateKeyNow',
  /** HTTP trigger: `GET /api/health`, pager channels and their state (function key). */
  health: 'health',
  /** HTTP trigger: the fleet posture (`GET /api/posture`). */
  fleetPosture: 'fleetPosture',
  keyRotation: 'keyRotation',
  serverRollover: 'serverRollover',
} as const;
