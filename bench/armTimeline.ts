/**
 * What ARM saw, from the stand-ins' request log (`GET /admin/requests`): each entry is stamped when the
 * request reached ARM. The fleet benchmark's two timings are read from it with one definition, so they
 * are comparable: "first PATCH" is when ARM received the first write of the rollout, "all verified" is
 * when ARM received the last verifying read, that is the latest of each server's last successful GET.
 *
 * The verifying read is the last `servers.get` ARM answered with 200 for a server: the rollover reads a
 * server before its PATCH (prepare) and after ARM's operation succeeded (the verification, or a re-read
 * while it settles); nothing reads it after it is verified, so the last one is the verification.
 */

/** One entry of the stand-ins' request log (the fields read here). */
export interface ArmLogEntry {
  readonly at: string;
  readonly service: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

/** The resource path of a request, lower-case, without its query (ARM ids are case-insensitive). */
function resourcePath(path: string): string {
  const q = path.indexOf('?');
  const raw = q < 0 ? path : path.slice(0, q);
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // A malformed escape: compare the path as sent.
  }
  return decoded.replace(/\/+$/, '').toLowerCase();
}

/** When ARM received the first PATCH at or after `since` (epoch ms); undefined when there was none. */
export function firstPatchAt(log: readonly ArmLogEntry[], since: number): number | undefined {
  let first: number | undefined;
  for (const r of log) {
    if (r.service !== 'arm' || r.method !== 'PATCH') continue;
    const at = Date.parse(r.at);
    if (at >= since && (first === undefined || at < first)) first = at;
  }
  return first;
}

export interface LastVerification {
  /** When ARM received the last verifying GET of the fleet (epoch ms); undefined unless every server had one. */
  readonly at: number | undefined;
  /** The server whose verifying GET came last. */
  readonly serverId: string | undefined;
  /** Servers of `serverIds` that ARM never answered a GET for at or after `since`. */
  readonly unread: readonly string[];
}

/**
 * The time of the last verification ARM saw for the fleet `serverIds`: per server the last GET of its
 * resource ARM answered 200 at or after `since`, then the latest of those. A server without one leaves
 * the fleet unverified (`at` undefined, the server in `unread`).
 */
export function lastVerificationAt(
  log: readonly ArmLogEntry[],
  serverIds: readonly string[],
  since: number,
): LastVerification {
  const lastGet = new Map<string, number>();
  for (const r of log) {
    if (r.service !== 'arm' || r.method !== 'GET' || r.status !== 200) continue;
    const at = Date.parse(r.at);
    if (at < since) continue;
    const path = resourcePath(r.path);
    const seen = lastGet.get(path);
    if (seen === undefined || at > seen) lastGet.set(path, at);
  }
  let at: number | undefined;
  let serverId: string | undefined;
  const unread: string[] = [];
  for (const id of serverIds) {
    const t = lastGet.get(resourcePath(id));
    if (t === undefined) unread.push(id);
    else if (at === undefined || t > at) {
      at = t;
      serverId = id;
    }
  }
  return unread.length > 0 ? { at: undefined, serverId: undefined, unread } : { at, serverId, unread };
}
