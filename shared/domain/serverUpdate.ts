import type { AuditRecord } from './audit';
import { sameKeyVersion, tryParseKeyUri } from './keyId';
import type {
  DataEncryptionInfo,
  EncryptionPatchBody,
  IdentityInfo,
  KeyInfo,
  ServerSnapshot,
  Slot,
} from './model';
import { leavesAlone, planRollout } from './plan';

export interface SlotChange {
  readonly slot: Slot;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/** Last-known-good: what to restore by hand if the new version turns out unusable. */
export interface EncryptionSnapshot {
  readonly dataEncryption: DataEncryptionInfo;
  readonly identity: IdentityInfo | undefined;
}

/** The server as it is now, re-planned: discovery can be minutes old and another run may have moved it. */
export type PrepareServerOutput =
  | {
      readonly kind: 'update';
      readonly patch: EncryptionPatchBody;
      readonly snapshot: EncryptionSnapshot;
      readonly expected: Partial<Record<Slot, string>>;
      readonly from: Partial<Record<Slot, string>>;
    }
  | { readonly kind: 'verify'; readonly expected: Partial<Record<Slot, string>> }
  /** Busy with an operation (its own earlier PATCH, or someone else's): wait, never PATCH over it. */
  | { readonly kind: 'updating'; readonly expected: Partial<Record<Slot, string>> }
  /** Its key version is unusable (Inaccessible): access to that version must be restored first. */
  | { readonly kind: 'inaccessible'; readonly from: Partial<Record<Slot, string>>; readonly reason: string }
  | { readonly kind: 'skip'; readonly code: string; readonly reason: string };

/** What one read of a server proves about its keys (`verifyEncryption`). */
export type Verification =
  | { readonly ok: true; readonly dataEncryption: DataEncryptionInfo }
  | {
      readonly ok: false;
      /** Still settling (Updating, key status not yet reported): worth another look shortly. */
      readonly pending: boolean;
      /**
       * The server is Updating: an operation is still running on it (the flexible server API's
       * `state`, Azure/azure-rest-api-specs, Servers.json in test/fixtures/azure-specs). Absent otherwise.
       */
      readonly updating?: true;
      readonly code: string;
      readonly message: string;
      readonly identityId: string | undefined;
    };

/**
 * The per-server rules of a rollout, pure (the activities only read the server and hand it here):
 * what to do with a server as it is now, whether it is already where the PATCH would put it, and
 * whether it proves it works on the expected key URIs.
 */

function slotUri(server: ServerSnapshot, slot: Slot): string | undefined {
  const de = server.dataEncryption;
  const uri = slot === 'primary' ? de?.primaryKeyURI : de?.geoBackupKeyURI;
  return uri === undefined || uri.trim() === '' ? undefined : uri;
}

/** Azure's states (`ServerState`): a server in these will not take a PATCH until access to its key is restored. */
const INACCESSIBLE = ['inaccessible'];

/**
 * What the rollout does with this server now. Re-plans it against the key (discovery can be minutes
 * old, another run may have moved it): update, verify only, wait for the running operation, page the
 * Inaccessible procedure, or skip. Throws `PlanInputError` for a server that cannot be planned.
 */
export function prepareServerUpdate(
  server: ServerSnapshot,
  key: KeyInfo,
  targetVersion: string,
  optOutTag: string,
  holdTag?: string,
): PrepareServerOutput {
  const plan = planRollout({ key, targetVersion, servers: [server], optOutTag, holdTag });
  const sp = plan.servers[0];
  if (sp === undefined)
    return { kind: 'skip', code: 'NotReferencingKey', reason: `the server no longer uses key ${key.name}` };
  const current: Partial<Record<Slot, string>> = {};
  for (const s of sp.slots) current[s.slot] = s.currentUri;
  const excluded = sp.slots.some((s) => leavesAlone(s.decision));
  const state = (server.state ?? '').toLowerCase();
  if (!excluded && INACCESSIBLE.includes(state))
    return {
      kind: 'inaccessible',
      from: current,
      reason: `server is ${server.state ?? 'Inaccessible'}: its key version is disabled, expired, deleted or not granted`,
    };
  const targetOf = (decision: string, uri: string) =>
    decision === 'update' || decision === 'deferred' ? plan.targetKid : uri;
  if (!excluded && state === 'updating') {
    const expected: Partial<Record<Slot, string>> = {};
    for (const s of sp.slots) expected[s.slot] = targetOf(s.decision, s.currentUri);
    return { kind: 'updating', expected };
  }
  if (sp.action === 'verify') return { kind: 'verify', expected: current };
  if (sp.action === 'skip' || sp.patch === undefined) {
    const first = sp.slots[0];
    return {
      kind: 'skip',
      code: first?.decision ?? 'skip',
      reason: sp.slots.map((s) => s.reason).join('; '),
    };
  }
  const expected: Partial<Record<Slot, string>> = {};
  for (const s of sp.slots) expected[s.slot] = targetOf(s.decision, s.currentUri);
  return {
    kind: 'update',
    patch: sp.patch,
    snapshot: { dataEncryption: server.dataEncryption ?? {}, identity: server.identity },
    expected,
    from: current,
  };
}

/** Does every expected slot already name its expected URI (case-insensitively, as Azure compares)? */
export function isOnTarget(server: ServerSnapshot, expected: Partial<Record<Slot, string>>): boolean {
  const slots = (['primary', 'geoBackup'] as const).filter((s) => expected[s] !== undefined);
  return (
    slots.length > 0 &&
    slots.every((s) => {
      const a = tryParseKeyUri(slotUri(server, s));
      const b = tryParseKeyUri(expected[s]);
      return a !== undefined && b !== undefined && sameKeyVersion(a, b);
    })
  );
}

/**
 * Proof that the server works on the expected key URIs: state Ready, each expected slot on its URI,
 * each configured slot's key status Valid. `pending` marks what is still settling (Updating, status
 * not yet reported): worth another look, not yet a failure.
 */
export function verifyEncryption(
  server: ServerSnapshot,
  expected: Partial<Record<Slot, string>>,
): Verification {
  const de = server.dataEncryption ?? {};
  const identityOf = (slot: Slot): string | undefined =>
    slot === 'primary' ? de.primaryUserAssignedIdentityId : de.geoBackupUserAssignedIdentityId;
  const fail = (pending: boolean, code: string, message: string, slot: Slot = 'primary') =>
    ({ ok: false, pending, code, message, identityId: identityOf(slot) }) as const;
  if (server.state === 'Updating')
    return { ...fail(true, 'VerificationFailed', 'server state is Updating'), updating: true };
  if (server.state !== 'Ready')
    return fail(
      false,
      server.state?.toLowerCase() === 'inaccessible' ? 'ServerInaccessible' : 'VerificationFailed',
      `server state is ${server.state ?? 'unknown'}`,
    );
  for (const slot of ['primary', 'geoBackup'] as const) {
    const uri = slotUri(server, slot);
    const want = expected[slot];
    if (want !== undefined && uri?.toLowerCase() !== want.toLowerCase())
      return fail(
        false,
        'VerificationFailed',
        `${slot} key URI is ${uri ?? 'unset'}, expected ${want}`,
        slot,
      );
    if (uri === undefined) continue;
    const status = slot === 'primary' ? de.primaryEncryptionKeyStatus : de.geoBackupEncryptionKeyStatus;
    if (status !== 'Valid')
      return fail(
        status === undefined || status === 'Unknown',
        'VerificationFailed',
        `${slot} key status is ${status ?? 'not reported'}`,
        slot,
      );
  }
  return { ok: true, dataEncryption: de };
}

type Uris = Partial<Record<Slot, string>>;

const versionOf = (uri: string | undefined): string | undefined =>
  uri === undefined ? undefined : (tryParseKeyUri(uri)?.version ?? 'versionless');

/** Each configured slot's version before and after (`versionless` for a versionless URI). */
export function slotChanges(from: Uris, to: Uris): SlotChange[] {
  return (['primary', 'geoBackup'] as const)
    .filter((slot) => to[slot] !== undefined || from[slot] !== undefined)
    .map((slot) => ({ slot, from: versionOf(from[slot]), to: versionOf(to[slot]) }));
}

/** The version a server moves away from: the first slot that changes, else its primary's. */
export function movingFrom(slots: readonly SlotChange[]): string | undefined {
  return slots.find((s) => s.from !== s.to)?.from ?? slots[0]?.from;
}

/**
 * The `ServerUpdateStarted` record of a server PATCHed by its rollover, with its last-known-good. The
 * rollover records it once the write step's answer is in its history (the write step records
 * nothing): with the first look at the server when ARM accepted the PATCH, at once when ARM refused
 * it. The same record (same audit id) however often it is sent.
 */
export function updateStartedRecord(
  base: AuditRecord,
  update: { readonly from: Uris; readonly expected: Uris; readonly snapshot: EncryptionSnapshot },
  /** When ARM accepted the PATCH (epoch ms), for a record written later than that (`details.acceptedAt`). */
  acceptedAt?: number,
): AuditRecord {
  const slots = slotChanges(update.from, update.expected);
  return {
    ...base,
    step: 'ServerUpdateStarted',
    outcome: 'info',
    fromVersion: movingFrom(slots),
    reason: `moving ${slots.map((s) => `${s.slot} ${s.from ?? '-'} -> ${s.to ?? '-'}`).join(', ')}`,
    details: {
      lastKnownGood: JSON.stringify(update.snapshot),
      ...(acceptedAt !== undefined ? { acceptedAt: new Date(acceptedAt).toISOString() } : {}),
    },
  };
}
