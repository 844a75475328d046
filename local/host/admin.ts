import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, send, type HostContext } from './context';
import { typed } from './invoke';
import { timerInfo } from './timers';

/**
 * `POST /admin/functions/{name}` with the master key and `{"input": "..."}`: runs a non-HTTP-triggered
 * function now and answers 202 Accepted without waiting for it, as the Functions host does (Microsoft
 * Learn, "Manually run a non HTTP-triggered function"). The local host runs timer triggers this way
 * (the input is ignored: a timer receives its TimerInfo); other trigger types are refused with 400.
 */
export async function runFunctionNow(
  ctx: HostContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  name: string,
): Promise<unknown> {
  if (!ctx.hasKey(req, url, [ctx.keys.master])) return send(res, 401);
  const fn = [...ctx.registry.functions.values()].find(
    (f) => f.metadata.name.toLowerCase() === name.toLowerCase(),
  );
  if (fn === undefined) return send(res, 404);
  let body: unknown;
  try {
    const text = (await readBody(req)).toString('utf8');
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    return send(res, 400, { Message: 'The body must be JSON: {"input": "<input>"}.' });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return send(res, 400, { Message: 'The body must be JSON: {"input": "<input>"}.' });
  if (fn.trigger.type !== 'timerTrigger')
    return send(res, 400, {
      Message: `The local host runs only timer triggers through the admin API; ${fn.metadata.name} is a ${fn.trigger.type}.`,
    });
  const now = new Date();
  void ctx.run(fn, typed(timerInfo(now, null, false))).catch(() => undefined);
  return send(res, 202);
}
