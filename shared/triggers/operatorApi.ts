import type { HttpResponseInit } from '@azure/functions';
import type { Config } from '../config';
import type { AuditRecord } from '../domain/audit';
import { InvalidInputError } from '../domain/errors';
import { HEALTH_WATCH_INSTANCE_ID } from '../domain/healthWatch';
import type { AuditTrail } from '../ports/auditTrail';
import { AzureCallError, NotFoundError } from '../ports/errors';
import type { KeyVaultEventReader } from '../ports/keyVaultEvents';
import type { KeyVaultKeys } from '../ports/keyVaultKeys';
import type { RotationInstances } from '../ports/rotations';
import type { ServerFleet } from '../ports/serverFleet';
import {
  listRotations,
  noteDetails,
  OperatorDependencyError,
  OperatorKeyNotFoundError,
  OperatorRequestError,
  operatorTarget,
  parseOperatorNote,
  readOperatorKey,
  requestOperatorRotation,
  requestServerRetry,
  RetryRefusedError,
  rotationStatus,
  summarizeRotation,
} from './operator';
import { healthWatchState } from './healthWatch';
import { replayDeadLetters } from './keyVaultEvents';
import {
  OperatorQueryError,
  parseOperatorQuery,
  queryPairs,
  type ParsedQuery,
  type QuerySpec,
} from './operatorQuery';
import { previewPlan } from './planPreview';
import { failingVaultChecks } from './statusModel';
import { gatherStatus, renderStatusPage } from './statusPage';
import { STATUS_PAGE_CSP } from './statusStyle';
import { readPosture, sweepWithPostureSnapshot, type PostureDeps } from './posture';
import { EventVersionNotListedError, RunClosingError, type ClosingWait } from './rotationRequests';

/**
 * The operator API's HTTP answers (functions/ registers the routes; the logic and the status codes
 * live here). Every route takes the function key (or App Service Authentication in front of it).
 */
export interface OperatorApiDeps {
  readonly config: Config;
  readonly keys: KeyVaultKeys;
  readonly fleet: ServerFleet;
  readonly audit: AuditTrail;
  readonly now: () => Date;
  /** The bounded wait for a closing run (tests shorten it); `requestRotation`'s default when absent. */
  readonly closingWait?: ClosingWait | undefined;
}

/**
 * Expected refusals as HTTP answers; anything else is thrown (a 500, logged by the host). A refusal's
 * body carries its stable `code` (and, for a query parameter, what is `accepted`): `guardOperatorCall`
 * audits every answer that has one.
 */
async function answer(work: () => Promise<HttpResponseInit>): Promise<HttpResponseInit> {
  try {
    return await work();
  } catch (e) {
    return refusalOf(e);
  }
}

function refusalOf(e: unknown): HttpResponseInit {
  if (e instanceof RetryRefusedError) return { status: 409, jsonBody: { error: e.message, code: e.code } };
  if (e instanceof OperatorKeyNotFoundError)
    return { status: 404, jsonBody: { error: e.message, code: e.code } };
  // Key Vault could not answer: 503 "try again" only when a retry can help; a refusal that lasts until
  // an operator fixes something (the firewall, a role) is a 502 without Retry-After.
  if (e instanceof OperatorDependencyError)
    return e.retryable
      ? { status: 503, headers: { 'retry-after': '30' }, jsonBody: { error: e.message, code: e.code } }
      : { status: 502, jsonBody: { error: e.message, code: e.code } };
  // The key's run is finishing and did not end within the intake's wait: not "signalled" (it may not
  // read the signal); the operator tries again in a moment.
  if (e instanceof RunClosingError)
    return {
      status: 503,
      headers: { 'retry-after': '5' },
      jsonBody: { error: `${e.message} (the run is finishing; try again)`, code: e.code },
    };
  // A dead-letter replay met an event whose version Key Vault does not list yet (see the intake).
  if (e instanceof EventVersionNotListedError)
    return { status: 503, headers: { 'retry-after': '60' }, jsonBody: { error: e.message, code: e.code } };
  if (e instanceof OperatorQueryError)
    return { status: 400, jsonBody: { error: e.message, code: e.code, accepted: e.accepted } };
  if (e instanceof OperatorRequestError || e instanceof InvalidInputError)
    return { status: 400, jsonBody: { error: e.message, code: e.code } };
  if (e instanceof NotFoundError) return { status: 404, jsonBody: { error: e.message, code: e.code } };
  if (e instanceof AzureCallError)
    return { status: 502, jsonBody: { error: `Azure refused: ${e.azureCode ?? e.code}` } };
  throw e;
}

/** Who called which operator endpoint: what a refusal's audit record says besides the refusal. */
export interface OperatorCall {
  /** The function's name (`keyRotationApi`, ...). */
  readonly route: string;
  readonly method: string;
  /** `operatorCaller(...)`: a trusted principal name, or `function-key`. */
  readonly caller: string;
  readonly invocationId: string;
  /** The route's `{vault}` and `{key}`, as sent (kept in the record only when they are plain names). */
  readonly vault?: string | undefined;
  readonly key?: string | undefined;
}

const PLAIN_NAME = /^[A-Za-z0-9.-]{1,127}$/;

/** The audit record of a refused operator request: who, which endpoint, why. No URL, no body, no key. */
export function refusalRecord(
  call: OperatorCall,
  status: number,
  code: string,
  message: string,
): AuditRecord {
  return {
    step: 'OperatorRequestRefused',
    correlationId: call.invocationId,
    trigger: `operator:${call.caller}`,
    outcome: 'failure',
    ...(call.vault !== undefined && PLAIN_NAME.test(call.vault) ? { vault: call.vault.toLowerCase() } : {}),
    ...(call.key !== undefined && PLAIN_NAME.test(call.key) ? { key: call.key } : {}),
    reasonCode: code,
    reason: message.length > 500 ? `${message.slice(0, 500)}...` : message,
    details: { route: call.route, method: call.method, status: String(status) },
  };
}

/**
 * Every operator endpoint goes through this: its query parsed strictly against `spec` (a refusal is
 * answered 400 before the handler runs, so nothing is read, started or written), then the handler;
 * every refusal — a query parameter, a vault not allowed, a malformed key name, a key the vault does
 * not have, a retry refused — is audited as `OperatorRequestRefused`, one record per request. An
 * audit trail that refuses the record does not change the answer (the request changed nothing).
 */
export async function guardOperatorCall(
  audit: AuditTrail,
  call: OperatorCall,
  spec: QuerySpec,
  url: string,
  handler: (query: ParsedQuery) => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  let response: HttpResponseInit;
  try {
    const query = parseOperatorQuery(spec, queryPairs(url));
    response = await handler(query);
  } catch (e) {
    response = refusalOf(e);
  }
  const body = response.jsonBody as { code?: unknown; error?: unknown } | undefined;
  const status = response.status ?? 200;
  if (status >= 400 && status < 500 && typeof body?.code === 'string') {
    const record = refusalRecord(call, status, body.code, typeof body.error === 'string' ? body.error : '');
    await audit.record([record]).catch(() => undefined);
  }
  return response;
}

/** `GET /api/rotations/{vault}/{key}`: the key's rotation with its progress and times. */
export function getRotation(
  instances: RotationInstances,
  config: Config,
  vault: string,
  key: string,
  /** With the keys: a key without a run is told apart from a key the vault does not have. */
  keys?: Pick<KeyVaultKeys, 'readKey' | 'listKeys'>,
): Promise<HttpResponseInit> {
  return answer(async () => {
    const { instanceId, info } = await rotationStatus(instances, config, vault, key);
    if (info === undefined && keys !== undefined)
      await readOperatorKey(keys, operatorTarget(config, vault, key));
    if (info === undefined)
      return { status: 404, jsonBody: { instanceId, error: 'no rotation has run for this key' } };
    const summary = summarizeRotation(instanceId, info);
    return {
      status: 200,
      jsonBody: {
        instanceId,
        runtimeStatus: info.runtimeStatus,
        createdTime: info.createdTime ?? null,
        lastUpdatedTime: info.lastUpdatedTime ?? null,
        progress: summary?.progress ?? null,
        result: summary?.result ?? null,
        output: info.output ?? null,
      },
    };
  });
}

/** `POST /api/rotations/{vault}/{key}` (`?dryRun=true`: the plan only, like `GET .../plan`). */
export function postRotation(
  instances: RotationInstances,
  deps: OperatorApiDeps,
  vault: string,
  key: string,
  caller: string,
  dryRun: boolean,
  body: string,
): Promise<HttpResponseInit> {
  return answer(async () => {
    if (dryRun) return { status: 200, jsonBody: await previewPlan(deps, vault, key, caller, deps.now()) };
    const note = parseOperatorNote(body);
    return {
      status: 202,
      jsonBody: await requestOperatorRotation(instances, deps, vault, key, caller, note),
    };
  });
}

/** `GET /api/rotations/{vault}/{key}/plan`. */
export function getPlan(
  deps: OperatorApiDeps,
  vault: string,
  key: string,
  caller: string,
): Promise<HttpResponseInit> {
  return answer(async () => ({
    status: 200,
    jsonBody: await previewPlan(deps, vault, key, caller, deps.now()),
  }));
}

/** `GET /api/rotations`: every key's current or last run. */
export function getRotations(instances: RotationInstances): Promise<HttpResponseInit> {
  return answer(async () => ({ status: 200, jsonBody: { rotations: await listRotations(instances) } }));
}

/** `POST /api/rotations/{vault}/{key}/servers/{server}/retry`. */
export function postRetry(
  instances: RotationInstances,
  deps: OperatorApiDeps,
  vault: string,
  key: string,
  server: string,
  caller: string,
  body = '',
): Promise<HttpResponseInit> {
  return answer(async () => {
    const note = parseOperatorNote(body);
    return {
      status: 202,
      jsonBody: await requestServerRetry(instances, deps, vault, key, server, caller, note),
    };
  });
}

/** `POST /api/sweep`: the reconcile sweep now, on the services' clock; answers what it did. */
export function postSweep(
  instances: RotationInstances,
  deps: OperatorApiDeps & PostureDeps,
  caller = 'function-key',
  body = '',
): Promise<HttpResponseInit> {
  return answer(async () => {
    // The body, like a rotation's, is an optional {"reason", "ticket"}: kept in the SweepCompleted record.
    const details = noteDetails(parseOperatorNote(body));
    const { sweep, posture } = await sweepWithPostureSnapshot(instances, deps, deps.now(), {
      caller,
      details,
    });
    return { status: 200, jsonBody: { ...sweep, posture } };
  });
}

/** `GET /api/status`: the status page, under a CSP that lets nothing but its own stylesheet in. */
export function getStatusPage(
  instances: RotationInstances,
  deps: OperatorApiDeps & PostureDeps,
): Promise<HttpResponseInit> {
  return answer(async () => {
    const now = deps.now();
    // The vault checks come from the fleet posture; a posture that cannot be read leaves the rest of
    // the page standing and says so.
    const posture = await readPosture(instances, deps, now).catch(() => undefined);
    // The health watch's last pass: what "no open incidents" rests on (undefined: it could not be read).
    const health = await instances.status(HEALTH_WATCH_INSTANCE_ID).then(healthWatchState, () => undefined);
    const model = await gatherStatus(
      deps,
      instances,
      now,
      posture === undefined ? undefined : failingVaultChecks(posture),
      { posture, health },
    );
    return {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': STATUS_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      },
      body: renderStatusPage(model),
    };
  });
}

/**
 * `POST /api/events/replay?source=<blob name>`: the body is one dead-letter blob (as downloaded from the
 * dead-letter container); its events go through the intake again. 200 with one verdict per event.
 */
export function postReplay(
  instances: RotationInstances,
  deps: OperatorApiDeps & { readonly events: KeyVaultEventReader },
  body: string,
  source: string,
  invocationId: string,
  request: {
    readonly caller: string;
    /** `x-operator-reason` and `x-operator-ticket`: the body is the dead-letter blob itself. */
    readonly reason?: string | null | undefined;
    readonly ticket?: string | null | undefined;
  } = { caller: 'function-key' },
): Promise<HttpResponseInit> {
  return answer(async () => {
    const note = parseOperatorNote(
      JSON.stringify({ reason: request.reason ?? undefined, ticket: request.ticket ?? undefined }),
    );
    const events = await replayDeadLetters(body, source.slice(0, 300), instances, { ...deps, invocationId });
    // The request itself, with who asked and their note (each event has its own records).
    await deps.audit.record([
      {
        step: 'EventReceived',
        correlationId: invocationId,
        trigger: `operator:${request.caller}`,
        outcome: 'info',
        reasonCode: 'Replay',
        reason: `replay of ${source.slice(0, 300)}: ${events.length} event(s)`,
        ...(Object.keys(noteDetails(note)).length > 0 ? { details: noteDetails(note) } : {}),
      },
    ]);
    return { status: 200, jsonBody: { source, events } };
  });
}
