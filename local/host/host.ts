import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { Cron } from 'croner';
import { FunctionRegistry, installCore, type RegisteredFunction, type TypedData } from './core';
import { EVENT_NAMES, EventType, DurableEngine } from './durable/engine';
import { InstanceStore, type InstanceState } from './durable/store';
import { invokeFunction, typed, untyped, type InputData } from './invoke';
import { invalidInstanceId } from './durable/instanceId';

export interface HostOptions {
  /** Folder with package.json (its `main` names the app entry point) and host.json. */
  readonly appRoot: string;
  /** Durable state and keys live here; keep it to resume after a crash. */
  readonly dataDir: string;
  readonly port?: number;
  readonly log?: (line: string) => void;
  /**
   * The orchestrations' clock (`currentUtcDateTime`, timers). In Azure the host and the services share
   * one clock; locally, pass the stand-ins' clock so moving it (near expiry, expiry) moves both.
   */
  readonly now?: () => Date;
}

export interface HostKeys {
  readonly master: string;
  readonly functionKey: string;
  readonly eventGridSystemKey: string;
  readonly durableTaskSystemKey: string;
}

export interface LocalHost {
  readonly url: string;
  readonly keys: HostKeys;
  readonly registry: FunctionRegistry;
  readonly engine: DurableEngine;
  readonly hubName: string;
  /** Event Grid trigger URL of a function, system key included (what an Event Grid subscription targets). */
  eventGridUrl(functionName: string): string;
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

interface HostJson {
  extensions?: {
    http?: { routePrefix?: string };
    durableTask?: {
      hubName?: string;
      maxConcurrentActivityFunctions?: number;
      maxConcurrentOrchestratorFunctions?: number;
    };
  };
}

function key(): string {
  return randomBytes(30).toString('base64url');
}

/** Keys persist in the data folder, as the Functions host keeps its keys in storage. */
function loadKeys(dataDir: string): HostKeys {
  const path = join(dataDir, 'keys.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as HostKeys;
  const keys: HostKeys = {
    master: key(),
    functionKey: key(),
    eventGridSystemKey: key(),
    durableTaskSystemKey: key(),
  };
  writeFileSync(path, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

/** `main` as Azure resolves it: a file, or a glob with `*` in its last segment. */
function entryPoints(appRoot: string): string[] {
  const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as { main?: string };
  if (pkg.main === undefined) throw new Error(`${appRoot}/package.json has no "main"`);
  const main = resolve(appRoot, pkg.main);
  if (!main.includes('*')) return [main];
  const dir = dirname(main);
  const pattern = new RegExp(
    `^${main
      .slice(dir.length + 1)
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')}$`,
  );
  return readdirSync(dir)
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => join(dir, f));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Writes the whole answer; returns true so handlers can `return send(...)`. */
function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): true {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return true;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type':
        typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      ...headers,
    })
    .end(text);
  return true;
}

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

/**
 * Starts the local Functions host: loads the app through the worker contract, serves HTTP triggers,
 * the Event Grid extension webhook, the Durable Functions HTTP API and runs timers and orchestrations.
 */
export async function startLocalHost(options: HostOptions): Promise<LocalHost> {
  const log = options.log ?? ((line: string) => console.log(`[host] ${line}`));
  mkdirSync(options.dataDir, { recursive: true });
  const hostJson = JSON.parse(readFileSync(join(options.appRoot, 'host.json'), 'utf8')) as HostJson;
  const durable = hostJson.extensions?.durableTask ?? {};
  const hubName = durable.hubName ?? 'TestHubName';
  const routePrefix = hostJson.extensions?.http?.routePrefix ?? 'api';
  const keys = loadKeys(options.dataDir);

  const registry = new FunctionRegistry();
  registry.log = (level, category, message) => log(`${category}/${level}: ${message}`);
  installCore(registry);
  for (const entry of entryPoints(options.appRoot)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entry);
  }
  log(
    `loaded ${registry.functions.size} functions: ${[...registry.functions.values()].map((f) => `${f.metadata.name} (${f.trigger.type})`).join(', ')}`,
  );

  const engine = new DurableEngine({
    registry,
    store: new InstanceStore(options.dataDir),
    maxConcurrentActivities: durable.maxConcurrentActivityFunctions ?? 10,
    maxConcurrentOrchestrations: durable.maxConcurrentOrchestratorFunctions ?? 10,
    log,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });

  let baseUrl = '';
  const clientBinding = () => ({
    taskHubName: hubName,
    creationUrls: {
      createNewInstancePostUri: `${baseUrl}/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?code=${keys.durableTaskSystemKey}`,
      createAndWaitOnNewInstancePostUri: `${baseUrl}/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${keys.durableTaskSystemKey}`,
    },
    managementUrls: managementUrls('INSTANCEID'),
    baseUrl: `${baseUrl}/runtime/webhooks/durabletask`,
    requiredQueryStringParameters: `code=${keys.durableTaskSystemKey}`,
    // Like the real extension: the client talks to a loopback RPC endpoint that needs no key.
    rpcBaseUrl: `${baseUrl}/durabletask/`,
  });
  const managementUrls = (id: string) => {
    const base = `${baseUrl}/runtime/webhooks/durabletask/instances/${id}`;
    const q = `taskHub=${hubName}&connection=Storage&code=${keys.durableTaskSystemKey}`;
    return {
      id,
      statusQueryGetUri: `${base}?${q}`,
      sendEventPostUri: `${base}/raiseEvent/{eventName}?${q}`,
      terminatePostUri: `${base}/terminate?reason={text}&${q}`,
      rewindPostUri: `${base}/rewind?reason={text}&${q}`,
      purgeHistoryDeleteUri: `${base}?${q}`,
      restartPostUri: `${base}/restart?${q}`,
      suspendPostUri: `${base}/suspend?reason={text}&${q}`,
      resumePostUri: `${base}/resume?reason={text}&${q}`,
    };
  };

  /** Extra inputs the host supplies: the durable client binding. */
  const extraInputs = (fn: RegisteredFunction): InputData[] =>
    Object.entries(fn.metadata.bindings)
      .filter(([, b]) => b.direction === 'in' && b.type === 'durableClient')
      .map(([name]) => ({ name, data: typed(JSON.stringify(clientBinding())) }));

  const run = async (
    fn: RegisteredFunction,
    trigger: TypedData,
    triggerMetadata: Record<string, TypedData> = {},
  ) => {
    const started = Date.now();
    const id = randomUUID();
    log(`Executing 'Functions.${fn.metadata.name}' (Id=${id})`);
    try {
      const result = await invokeFunction(
        registry,
        fn,
        { inputData: [{ name: fn.triggerName, data: trigger }, ...extraInputs(fn)], triggerMetadata },
        (level, message) =>
          log(`[${fn.metadata.name}] ${level === 'information' ? '' : `${level}: `}${message}`),
      );
      log(
        `Executed 'Functions.${fn.metadata.name}' (Succeeded, Id=${id}, Duration=${Date.now() - started}ms)`,
      );
      return result;
    } catch (e) {
      log(
        `Executed 'Functions.${fn.metadata.name}' (Failed, Id=${id}, Duration=${Date.now() - started}ms): ${e instanceof Error ? e.message : String(e)}`,
      );
      throw e;
    }
  };

  const hasKey = (req: IncomingMessage, url: URL, allowed: string[]) => {
    const given = url.searchParams.get('code') ?? (req.headers['x-functions-key'] as string | undefined);
    return given !== undefined && allowed.includes(given);
  };

  const statusBody = (s: InstanceState, url: URL) => ({
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
  });

  const durableApi = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: string,
  ): Promise<unknown> => {
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
  };

  const eventGrid = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<unknown> => {
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
    const events = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
    if (events.length === 0 || events.some((e) => typeof e !== 'object' || e === null))
      return send(res, 400, { error: 'expected an event or an array of events' });
    if (req.headers['aeg-event-type'] === 'SubscriptionValidation') {
      const code = (events[0] as { data?: { validationCode?: unknown } }).data?.validationCode;
      if (typeof code !== 'string') return send(res, 400, { error: 'no validationCode' });
      log(`Event Grid subscription validated for ${fn.metadata.name}`);
      return send(res, 200, { validationResponse: code });
    }
    for (const e of events) {
      try {
        await run(fn, typed(e));
      } catch {
        // The sender retries the delivery (Event Grid does on 5xx).
        return send(res, 500, { error: `function ${fn.metadata.name} failed` });
      }
    }
    return send(res, 200);
  };

  const httpTriggers = [...registry.functions.values()]
    .filter((f) => f.trigger.type === 'httpTrigger')
    .map((f) => ({
      fn: f,
      ...routeRegex(typeof f.trigger['route'] === 'string' ? f.trigger['route'] : f.metadata.name),
    }));

  const httpTrigger = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    path: string,
  ): Promise<unknown> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const candidates = httpTriggers.filter((t) => t.regex.test(path));
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
      result = await run(match.fn, trigger);
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

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const path = url.pathname;
    void (async () => {
      try {
        if (path === '/runtime/webhooks/eventgrid') return await eventGrid(req, res, url);
        if (path.startsWith('/runtime/webhooks/durabletask/')) {
          if (!hasKey(req, url, [keys.durableTaskSystemKey, keys.master])) return send(res, 401);
          return await durableApi(req, res, url, path.slice('/runtime/webhooks/durabletask/'.length));
        }
        if (path.startsWith('/durabletask/')) {
          // The extension's RPC endpoint for durable clients: loopback only.
          if (req.socket.remoteAddress !== '127.0.0.1' && req.socket.remoteAddress !== '::ffff:127.0.0.1')
            return send(res, 403);
          return await durableApi(req, res, url, path.slice('/durabletask/'.length));
        }
        if (path === `/${routePrefix}` || path.startsWith(`/${routePrefix}/`))
          return await httpTrigger(req, res, url, path.slice(routePrefix.length + 2));
        if (path === '/admin/host/status')
          return send(res, hasKey(req, url, [keys.master]) ? 200 : 401, {
            state: 'Running',
            functions: registry.functions.size,
          });
        return send(res, 404);
      } catch (e) {
        log(
          `internal error on ${req.method ?? ''} ${path}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        );
        return res.headersSent || send(res, 500);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(options.port ?? 0, '127.0.0.1', () => r()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Timers: NCRONTAB (six fields, seconds first) through croner.
  const crons: Cron[] = [];
  for (const fn of registry.functions.values()) {
    if (fn.trigger.type !== 'timerTrigger') continue;
    const schedule = String(fn.trigger['schedule']);
    let last: Date | undefined;
    const fire = (scheduled: Date, isPastDue: boolean) => {
      const cron = crons.find((c) => c.name === fn.metadata.name);
      const next = cron?.nextRun() ?? null;
      const input = {
        Schedule: { AdjustForDST: true },
        ScheduleStatus: {
          Last: (last ?? scheduled).toISOString(),
          Next: next?.toISOString() ?? null,
          LastUpdated: new Date().toISOString(),
        },
        IsPastDue: isPastDue,
      };
      last = scheduled;
      void run(fn, typed(input)).catch(() => undefined);
    };
    const cron = new Cron(schedule, { name: fn.metadata.name, protect: true }, (self: Cron) => {
      const scheduled = self.currentRun() ?? new Date();
      fire(scheduled, Date.now() - scheduled.getTime() > 1000);
    });
    crons.push(cron);
    if (fn.trigger['runOnStartup'] === true) setImmediate(() => fire(new Date(), false));
  }

  engine.recover();
  log(`host listening on ${baseUrl}`);

  return {
    url: baseUrl,
    keys,
    registry,
    engine,
    hubName,
    eventGridUrl: (name) =>
      `${baseUrl}/runtime/webhooks/eventgrid?functionName=${encodeURIComponent(name)}&code=${keys.eventGridSystemKey}`,
    describe: () => ({
      hostUrl: baseUrl,
      masterKey: keys.master,
      functionKey: keys.functionKey,
      eventGridSystemKey: keys.eventGridSystemKey,
      durableTaskSystemKey: keys.durableTaskSystemKey,
      durableApi: `${baseUrl}/runtime/webhooks/durabletask`,
      taskHub: hubName,
      functions: [...registry.functions.values()].map((f) => ({
        name: f.metadata.name,
        trigger: f.trigger.type,
      })),
    }),
    close: async () => {
      for (const c of crons) c.stop();
      engine.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
