import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypedData } from './core';
import { readBody, send, type HostContext } from './context';
import { untyped } from './invoke';

function routeRegex(route: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const pattern = route
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((seg) => {
      const m = /^\{(\w+)(?::[^}?]*)?(\?)?\}$/.exec(seg);
      if (m?.[1] === undefined) return seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1]);
      return m[2] === '?' ? '?([^/]*)' : '([^/]+)';
    })
    .join('/');
  return { regex: new RegExp(`^${pattern}/?$`, 'i'), names };
}

/** HTTP triggers at `/<routePrefix>/<route>`: routes, methods and auth levels as the host applies them. */
export function httpTriggers(
  ctx: HostContext,
): (req: IncomingMessage, res: ServerResponse, url: URL, path: string) => Promise<unknown> {
  const { registry, keys, run, hasKey } = ctx;
  const triggers = [...registry.functions.values()]
    .filter((f) => f.trigger.type === 'httpTrigger')
    .map((f) => ({
      fn: f,
      ...routeRegex(typeof f.trigger['route'] === 'string' ? f.trigger['route'] : f.metadata.name),
    }));

  return async (req: IncomingMessage, res: ServerResponse, url: URL, path: string): Promise<unknown> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const candidates = triggers.filter((t) => t.regex.test(path));
    if (candidates.length === 0) return send(res, 404);
    const match = candidates.find(
      (t) =>
        (t.fn.trigger['methods'] as string[] | undefined)?.map((x) => x.toUpperCase()).includes(method) ??
        true,
    );
    if (match === undefined) return send(res, 405);
    const level = (
      typeof match.fn.trigger['authLevel'] === 'string' ? match.fn.trigger['authLevel'] : 'function'
    ).toLowerCase();
    if (level === 'function' && !hasKey(req, url, [keys.functionKey, keys.master])) return send(res, 401);
    if (level === 'admin' && !hasKey(req, url, [keys.master])) return send(res, 401);
    const values = match.regex.exec(path) ?? [];
    const params = Object.fromEntries(
      match.names.map((n, i) => [n, decodeURIComponent(values[i + 1] ?? '')]),
    );
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const body = await readBody(req);
    const trigger = {
      http: {
        method,
        url: url.href,
        headers,
        query: Object.fromEntries(url.searchParams),
        params,
        body: body.length > 0 ? { bytes: body } : undefined,
        identities: [],
        cookies: [],
      },
    };
    let result;
    try {
      // Reads (GET, HEAD) are polled by the status page and the CLI: not logged as executions each time.
      result = await run(match.fn, trigger, {}, method === 'GET' || method === 'HEAD');
    } catch {
      return send(res, 500);
    }
    const http = untyped(result.returnValue) as
      { statusCode?: string; headers?: Record<string, string>; body?: TypedData } | undefined;
    const payload = http?.body === undefined ? undefined : untyped(http.body);
    res.writeHead(Number(http?.statusCode ?? 200), http?.headers ?? {});
    res.end(
      payload === undefined || Buffer.isBuffer(payload) || typeof payload === 'string'
        ? payload
        : JSON.stringify(payload),
    );
    return true;
  };
}
