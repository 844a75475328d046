import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, send, type HostContext } from './context';
import { typed } from './invoke';

/**
 * The Functions host reads an Event Grid body with a .NET JSON reader, and both Json.NET (13.0.1 on)
 * and System.Text.Json stop at depth 64 by default, so deeper JSON never reaches a function there:
 * refused like any unreadable body. (Here, re-encoding it for the worker would overflow the stack.)
 */
const MAX_JSON_DEPTH = 64;

function jsonDepthExceeds(value: unknown, max: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { v, depth } = item;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? (v as unknown[]) : Object.values(v))
      stack.push({ v: child, depth: depth + 1 });
  }
  return false;
}

/** The Event Grid extension's webhook: validation handshakes and one invocation per event. */
export async function eventGridWebhook(
  ctx: HostContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<unknown> {
  const { registry, keys, log, run, hasKey } = ctx;
  if (!hasKey(req, url, [keys.eventGridSystemKey, keys.master])) return send(res, 401);
  if (req.method === 'OPTIONS') {
    // CloudEvents abuse protection handshake.
    const origin = req.headers['webhook-request-origin'];
    return send(
      res,
      200,
      undefined,
      typeof origin === 'string' ? { 'webhook-allowed-origin': origin, 'webhook-allowed-rate': '*' } : {},
    );
  }
  if (req.method !== 'POST') return send(res, 405);
  const name = url.searchParams.get('functionName') ?? '';
  const fn = registry.get(name);
  if (fn === undefined || fn.trigger.type !== 'eventGridTrigger')
    return send(res, 404, { error: `no Event Grid trigger function named '${name}'` });
  let parsed: unknown;
  try {
    parsed = JSON.parse((await readBody(req)).toString('utf8'));
  } catch {
    return send(res, 400, { error: 'the body is not valid JSON' });
  }
  if (jsonDepthExceeds(parsed, MAX_JSON_DEPTH))
    return send(res, 400, { error: `the body is nested deeper than ${MAX_JSON_DEPTH} levels` });
  const events = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
  if (events.length === 0 || events.some((e) => typeof e !== 'object' || e === null))
    return send(res, 400, { error: 'expected an event or an array of events' });
  if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
    const code = (events[0] as { data?: { validationCode?: unknown } }).data?.validationCode;
    if (typeof code !== 'string') return send(res, 400, { error: 'no validationCode' });
    log(`Event Grid subscription validated for ${fn.metadata.name}`);
    return send(res, 200, { validationResponse: code });
  }
  // The extension invokes the function once per event, all of a delivery's events at once, and answers
  // 500 when any invocation failed (the sender then redelivers the whole delivery): Azure's
  // Microsoft.Azure.WebJobs.Extensions.EventGrid, HttpRequestProcessor (single dispatch, Task.WhenAll).
  const results = await Promise.allSettled(events.map((e) => run(fn, typed(e))));
  if (results.some((r) => r.status === 'rejected'))
    return send(res, 500, { error: `function ${fn.metadata.name} failed` });
  return send(res, 200);
}
