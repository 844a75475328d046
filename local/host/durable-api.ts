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
      const from = url.searchParams.get('createdTimeFrom');
      const list = engine
        .list()
        .filter((s) => statuses === undefined || statuses.includes(s.status))
        .filter((s) => from === null || s.createdTime >= from)
        .map((s) => statusBody(s, url));
      return send(res, 200, list);
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
