import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, send, type HostContext } from './context';
import { EVENT_NAMES, EventType } from './durable/engine';
import { invalidInstanceId } from './durable/instanceId';
import type { InstanceState } from './durable/store';

function statusBody(s: InstanceState, url: URL) {
  return {
    name: s.name,
    instanceId: s.instanceId,
    runtimeStatus: s.status,
    input:
      url.searchParams.get('showInput') === 'false' || s.input === undefined
        ? null
        : (JSON.parse(s.input) as unknown),
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
    if (m === 'GET') {
      const statuses = url.searchParams
        .get('runtimeStatus')
        ?.split(',')
        .filter((s) => s !== '');
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
  const inst = /^instances\/([^/]+)(?:\/(raiseEvent|terminate)(?:\/([^/]+))?)?$/.exec(path);
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
    if (inst[2] === undefined && m === 'GET') {
      const s = engine.get(id);
      if (s === undefined) return send(res, 404);
      const running = s.status === 'Pending' || s.status === 'Running';
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
