import { createHash } from 'node:crypto';

/** The names a rotation is known by: durable instance ids and the pager's dedup keys. */

/**
 * Durable Functions instance ids: 1–100 characters, none of `/ \ # ?`, no control characters, and not
 * starting with `@` (Microsoft Learn, "Instance management with Durable Functions" / orchestration
 * identity; the Durable Task Framework refuses anything else). Returns the reason an id is refused.
 */
export function instanceIdProblem(id: string): string | undefined {
  if (id.length < 1 || id.length > MAX_INSTANCE_ID)
    return `must be 1 to ${MAX_INSTANCE_ID} characters (has ${id.length})`;
  if (/[/\\#?]/.test(id)) return 'must not contain / \\ # or ?';

  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) return 'must not contain control characters';
  if (id.startsWith('@')) return 'must not start with @';
  return undefined;
}

export const MAX_INSTANCE_ID = 100;

function shortHash(s: string): string {
  return createHash('sha256').update(s.toLowerCase()).digest('hex').slice(0, 12);
}
const ROTATION_PREFIX = 'cmk-rotation:';
const SERVER_PREFIX = 'cmk-server:';

/**
 * How a vault appears in ids: its name on the public cloud's Key Vault host (`<name>.vault.azure.net`,
 * the ids existing instances have), else the name and a short hash of the URL, so a Managed HSM or a
 * sovereign-cloud vault with the same name gets a different id. Accepts a vault URL or, as before, a
 * bare vault name (meaning the public host).
 */
export function vaultToken(vaultUrlOrName: string): string {
  const v = vaultUrlOrName.trim().toLowerCase().replace(/\/+$/, '');
  if (!v.includes('://')) return v;
  const host = v.replace(/^https:\/\//, '').replace(/:443$/, '');
  const name = host.split('.')[0] ?? host;
  return host === `${name}.vault.azure.net` ? name : `${name}~${shortHash(host).slice(0, 6)}`;
}

/** `text` cut to `max` characters, the cut part replaced by `~` and a hash of the whole, so it stays unique. */
function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const hash = shortHash(text);
  return `${text.slice(0, max - hash.length - 1)}~${hash}`;
}

/**
 * One rotation instance per key: duplicates collapse onto it and newer versions are signalled to it.
 * `cmk-rotation:<vault>:<key>` (lower-case) while that fits in 100 characters; a longer key name keeps
 * its first characters and ends in `~<hash>` of the whole id.
 */
export function rotationInstanceId(vaultUrlOrName: string, keyName: string): string {
  return bounded(`${ROTATION_PREFIX}${vaultToken(vaultUrlOrName)}:${keyName.toLowerCase()}`, MAX_INSTANCE_ID);
}

/**
 * A server's rollover sub-orchestration: `cmk-server:<server name>:<hash of the parent id and the
 * deterministic per-server guid>`, at most 99 characters for a 63-character server name; the name stays
 * readable and the hash keeps it unique per rotation instance, generation and server.
 */
export function serverRolloverInstanceId(
  parentInstanceId: string,
  serverName: string,
  unique: string,
): string {
  const hash = createHash('sha256')
    .update(`${parentInstanceId}|${unique}`.toLowerCase())
    .digest('hex')
    .slice(0, 24);
  return bounded(`${SERVER_PREFIX}${serverName.toLowerCase()}:${hash}`, MAX_INSTANCE_ID);
}

/** PagerDuty's limit on `dedup_key` (Events API v2). */
export const MAX_DEDUP_KEY = 255;

/**
 * PagerDuty dedup keys (at most 255 characters, so server ids are hashed): one per key + version for
 * key-wide problems, one per key + version + server for a server.
 */
export const incidentKeys = {
  server: (vault: string, key: string, version: string, serverName: string, serverId: string): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:${version}:server:${serverName}:${shortHash(serverId)}`),
  preflight: (vault: string, key: string, version: string): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:${version}:preflight`),
  /**
   * Per severity: PagerDuty folds a repeat trigger into the open alert without raising its severity,
   * so escalating from warning to critical needs an incident of its own.
   */
  expiry: (vault: string, key: string, version: string, severity: 'warning' | 'critical'): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:${version}:expiry:${severity}`),
  rotation: (vault: string, key: string, code: string): string =>
    dedup(`cmk:${vaultToken(vault)}:${key}:rotation:${code}`),
};

/** Lower-case, at most 255 characters (a longer key keeps its start and ends in a hash of the whole). */
function dedup(key: string): string {
  return bounded(key.toLowerCase(), MAX_DEDUP_KEY);
}
