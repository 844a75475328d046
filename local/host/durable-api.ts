import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, send, type HostContext } from './context';
import { schedulerId } from './durable/entities';
import { EVENT_NAMES, EventType, parseStored } from './durable/history';
import { invalidInstanceId } from './durable/instanceId';
import { RUNTIME_STATUSES, type InstanceState, type RuntimeStatus } from './durable/store';

/**
 * A `runtimeStatus` filter; an unknown or miscased value is refused with the accepted ones (a typo never
 * purges). Stricter than Azure on purpose: the extension's HttpApiHandler parses each value with a
 * case-sensitive Enum.TryParse and silently drops what it cannot read, so `runtimeStatus=Complete` (or
 * `completed`) there purges with no status filter at all (as reported in review; local/README "Where the
 * local host is stricter than Azure").
 */
function runtimeStatusFilter(url: URL): { statuses?: RuntimeStatus[]; error?: string } {
  const given = url.searchParams
    .getAll('runtimeStatus')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (given.length === 0) return {};
  const unknown = given.filter((v) => !RUNTIME_STATUSES.some((s) => s === v));
  if (unknown.length > 0)
    return {
      error: `runtimeStatus ${unknown.join(', ')} is not a runtime status (spelt exactly, case included: Azure drops what it cannot read); accepted: ${RUNTIME_STATUSES.join(', ')}.`,
    };
  return { statuses: RUNTIME_STATUSES.filter((s) => given.includes(s)) };
}

function statusBody(s: InstanceState, url: URL) {
  return {
    name: s.name,
    instanceId: s.instanceId,
    runtimeStatus: s.status,
    input: url.searchParams.get('showInput') === 'false' ? null : (parseStored(s.input) ?? null),
    customStatus: s.customStatus ?? null,
    output: s.output ?? null,
    createdTime: s.createdTime,
    lastUpdatedTime: s.lastUpdatedTime,
    ...(url.searchParams.get('showHistory') === 'true'
      ? {
          historyEvents: s.history
            .filter(
              (e) =>
                e.EventType !== EventType.OrchestratorStarted &&
                e.EventType !== EventType.OrchestratorCompleted,
            )
            .map((e) => {
              const { EventType: t, IsPlayed: _p, ...rest } = e;
              const out: Record<string, unknown> = { EventType: EVENT_NAMES[t] ?? t, ...rest };
              if (url.searchParams.get('showHistoryOutput') !== 'true') delete out['Result'];
              return out;
            }),
        }
      : {}),
  };
}

/** The Durable Functions HTTP API (`/runtime/webhooks/durabletask/` and the clients' loopback RPC path). */
export async function durableApi(
  ctx: HostContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  path: string,
): Promise<unknown> {
  const { registry, engine, managementUrls } = ctx;
  const m = req.method ?? 'GET';
  const body = (await readBody(req)).toString('utf8');
  const start = /^orchestrators\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (start?.[1] !== undefined && m === 'POST') {
    const name = decodeURIComponent(start[1]);
    if (registry.get(name)?.trigger.type !== 'orchestrationTrigger')
      return send(res, 400, {
        Message: `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      });
    const requested = start[2] !== undefined ? decodeURIComponent(start[2]) : undefined;
    const invalid = requested === undefined ? undefined : invalidInstanceId(requested);
    if (invalid !== undefined) return send(res, 400, { Message: invalid });
    const { instanceId, created } = await engine.start(name, requested, body === '' ? undefined : body);
    if (!created)
      return send(res, 409, {
        Message: `An Orchestration instance with the instance ID '${instanceId}' already exists.`,
      });
    const urls = managementUrls(instanceId);
    return send(res, 202, { ...urls, id: instanceId }, { location: urls.statusQueryGetUri });
  }
  if (path === 'instances' || path === 'instances/') {
    if (m === 'DELETE') {
      // Purge multiple instance histories (Learn, "HTTP API reference"; the extension's
      // HttpApiHandler.HandleDeleteHistoryWithFiltersRequestAsync): createdTimeFrom is required (400),
      // createdTimeTo defaults to now, runtimeStatus filters; 200 {instancesDeleted}, 404 when none matched.
      const fromText = url.searchParams.get('createdTimeFrom');
      const fromMs = fromText === null ? Number.NaN : Date.parse(fromText);
      if (Number.isNaN(fromMs))
        return send(res, 400, { Message: "Please provide value for 'createdTimeFrom' parameter." });
      const toText = url.searchParams.get('createdTimeTo');
      const toMs = toText === null ? Date.now() : Date.parse(toText);
      if (Number.isNaN(toMs)) return send(res, 400, { Message: 'createdTimeTo must be an ISO 8601 time.' });
      const filter = runtimeStatusFilter(url);
      if (filter.error !== undefined) return send(res, 400, { Message: filter.error });
      const deleted = await engine.purgeMany(fromMs, toMs, filter.statuses);
      return deleted === 0 ? send(res, 404) : send(res, 200, { instancesDeleted: deleted });
    }
    if (m === 'GET') {
      const filter = runtimeStatusFilter(url);
      if (filter.error !== undefined) return send(res, 400, { Message: filter.error });
      const statuses = filter.statuses;
      // The query of the Durable HTTP API ("Get all instances status", Microsoft Learn durable-functions-
      // http-api): createdTimeFrom/To, runtimeStatus, instanceIdPrefix, showInput, top; more pages are
      // announced in `x-ms-continuation-token` and asked for with the same request header.
      const from = url.searchParams.get('createdTimeFrom');
      const to = url.searchParams.get('createdTimeTo');
      const prefix = url.searchParams.get('instanceIdPrefix');
      const time = (v: string | null) => (v === null ? undefined : Date.parse(v));
      const [fromMs, toMs] = [time(from), time(to)];
      if (Number.isNaN(fromMs) || Number.isNaN(toMs))
        return send(res, 400, { Message: 'createdTimeFrom and createdTimeTo must be ISO 8601 times.' });
      const topParam = url.searchParams.get('top');
      const top = topParam === null ? undefined : Number(topParam);
      if (top !== undefined && (!Number.isInteger(top) || top < 1))
        return send(res, 400, { Message: 'top must be a positive integer.' });
      const token = req.headers['x-ms-continuation-token'];
      const offset =
        typeof token === 'string' && token !== '' ? Number(Buffer.from(token, 'base64url').toString()) : 0;
      if (!Number.isInteger(offset) || offset < 0)
        return send(res, 400, { Message: 'Bad continuation token.' });
      const matching = engine
        .list()
        .filter((s) => statuses === undefined || statuses.includes(s.status))
        .filter((s) => fromMs === undefined || Date.parse(s.createdTime) >= fromMs)
        .filter((s) => toMs === undefined || Date.parse(s.createdTime) <= toMs)
        .filter((s) => prefix === null || s.instanceId.startsWith(prefix))
        .sort(
          (a, b) => a.createdTime.localeCompare(b.createdTime) || a.instanceId.localeCompare(b.instanceId),
        );
      const page = matching.slice(offset, top === undefined ? undefined : offset + top);
      const next = offset + page.length;
      return send(
        res,
        200,
        page.map((s) => statusBody(s, url)),
        next < matching.length
          ? { 'x-ms-continuation-token': Buffer.from(String(next)).toString('base64url') }
          : {},
      );
    }
  }
  if (/^entities(\/|$)/.test(path)) return entityApi(ctx, req, res, url, path, body);
  const inst =
    /^instances\/([^/]+)(?:\/(raiseEvent|terminate|suspend|resume|rewind|restart)(?:\/([^/]+))?)?$/.exec(
      path,
    );
  if (inst?.[1] !== undefined) {
    const id = decodeURIComponent(inst[1]);
    if (inst[2] === 'raiseEvent' && m === 'POST' && inst[3] !== undefined) {
      const r = await engine.raiseEvent(id, decodeURIComponent(inst[3]), body);
      return send(res, r === 'ok' ? 202 : r === 'gone' ? 410 : 404);
    }
    if (inst[2] === 'terminate' && m === 'POST') {
      const r = await engine.terminate(id, url.searchParams.get('reason') ?? '');
      return send(res, r === 'ok' ? 202 : r === 'gone' ? 410 : 404);
    }
    // Suspend and resume as the extension's HttpApiHandler answers them: 404 unknown, 410 finished, 202.
    if ((inst[2] === 'suspend' || inst[2] === 'resume') && m === 'POST' && inst[3] === undefined) {
      const reason = url.searchParams.get('reason') ?? '';
      const r = inst[2] === 'suspend' ? await engine.suspend(id, reason) : await engine.resume(id, reason);
      return send(res, r === 'ok' ? 202 : r === 'gone' ? 410 : 404);
    }
    if (inst[2] === 'rewind' && m === 'POST' && inst[3] === undefined) {
      const s = engine.get(id);
      if (s === undefined) return send(res, 404);
      if (s.status === 'Completed' || s.status === 'Terminated') return send(res, 410);
      // Rewind is a preview feature of the extension that not every storage provider has; its answer
      // for a provider without it is 501, which durable-functions' client reports as "not supported by
      // the underlying storage provider". The local host is such a provider: restart or start again.
      return send(res, 501, {
        Message:
          'Rewind is not supported by the local host. Use restart (POST instances/<id>/restart) or start the orchestration again.',
      });
    }
    if (inst[2] === 'restart' && m === 'POST' && inst[3] === undefined) {
      // HttpApiHandler.HandleRestartInstanceRequestAsync: restartWithNewInstanceId (default true), read
      // with bool.TryParse (case-insensitive, surrounding blanks ignored: `True`, `FALSE` are accepted);
      // an unknown instance is 400; the answer is the new instance's check-status response. Restarting a
      // running instance under its own id is 409 here; Azure answers 500 (local/README).
      const raw = url.searchParams.get('restartWithNewInstanceId');
      const flag = raw?.trim().toLowerCase();
      if (flag !== undefined && flag !== 'true' && flag !== 'false')
        return send(res, 400, { Message: 'restartWithNewInstanceId must be true or false.' });
      const r = await engine.restart(id, flag !== 'false');
      if (r === 'notFound')
        return send(res, 400, { Message: 'InstanceId does not match a valid orchestration instance.' });
      if (!r.created)
        return send(res, 409, {
          Message: `An Orchestration instance with the instance ID '${r.instanceId}' already exists.`,
        });
      const urls = managementUrls(r.instanceId);
      return send(res, 202, { ...urls, id: r.instanceId }, { location: urls.statusQueryGetUri });
    }
    if (inst[2] === undefined && m === 'GET') {
      const s = engine.get(id);
      if (s === undefined) return send(res, 404);
      const running = s.status === 'Pending' || s.status === 'Running' || s.status === 'Suspended';
      return send(
        res,
        running ? 202 : 200,
        statusBody(s, url),
        running ? { location: managementUrls(id).statusQueryGetUri } : {},
      );
    }
    if (inst[2] === undefined && m === 'DELETE') {
      return (await engine.purge(id)) ? send(res, 200, { instancesDeleted: 1 }) : send(res, 404);
    }
  }
  return send(res, 404, { Message: `No Durable Functions API at ${m} ${path}` });
}

/**
 * The entity routes the durable client calls (durable-functions' DurableClient.signalEntity and
 * readEntityState with the RPC base URL; the extension's HttpApiHandler: HandlePostEntityOperation-
 * RequestAsync, HandleGetEntityRequestAsync). Listing entities (GET entities/{name}) is not served.
 */
async function entityApi(
  ctx: HostContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  path: string,
  body: string,
): Promise<true> {
  const m = req.method ?? 'GET';
  const route = /^entities\/([^/]+)\/([^/]+)$/.exec(path);
  if (route?.[1] === undefined || route[2] === undefined) {
    if (/^entities\/[^/]+\/?$/.test(path) && m === 'GET')
      return send(res, 501, { Message: 'Listing entities is not supported by the local host.' });
    return send(res, 404, { Message: `No Durable Functions API at ${m} ${path}` });
  }
  const target = schedulerId(decodeURIComponent(route[1]), decodeURIComponent(route[2]));
  const entities = ctx.engine.entities;
  if (m === 'GET') {
    // 200 with the state as its JSON, 404 when the entity does not exist (never run, or deleted).
    const record = entities.read(target);
    if (record?.exists !== true) return send(res, 404);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(record.state ?? 'null');
    return true;
  }
  if (m !== 'POST' && m !== 'DELETE') return send(res, 404);
  // DELETE signals "delete"; POST the `op` query parameter, which the extension defaults to "" and
  // SignalEntityAsync then refuses (400).
  const op = m === 'DELETE' ? 'delete' : (url.searchParams.get('op') ?? '');
  const refused = entities.refusal(target, op);
  if (refused !== undefined) return send(res, 400, { Message: refused });
  let input: string | undefined;
  if (body !== '') {
    if (/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      try {
        JSON.parse(body);
      } catch (e) {
        return send(res, 400, {
          Message: `Could not parse JSON content: ${e instanceof Error ? e.message : String(e)}`,
        });
      }
      input = body;
    } else input = JSON.stringify(body); // other content is the operation input as a string
  }
  // Accepted once queued durably, as the extension answers after the message is sent.
  await entities.signal(target, op, input);
  return send(res, 202);
}
