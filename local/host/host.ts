import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runFunctionNow } from './admin';
import { assertSupportedBindings } from './bindings';
import { consoleLine } from './consoleLines';
import { createHostContext, send, type HostKeys } from './context';
import { loadApp } from './appLoader';
import { FunctionRegistry } from './core';
import { durableApi } from './durable-api';
import { DurableEngine } from './durable/engine';
import { EntityStore } from './durable/entities-store';
import { observeAppExecutors } from './durable/executor';
import { InstanceStore } from './durable/store';
import { eventGridWebhook } from './event-grid';
import { httpTriggers } from './http-triggers';
import { startTimers } from './timers';
import { WorkerPool } from './worker/pool';

export type { HostKeys } from './context';

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
  /** The app settings (the environment, as in Azure); read for `AzureWebJobs.<name>.Disabled`. */
  readonly settings?: Readonly<Record<string, string | undefined>>;
  /**
   * Activities and orchestrator replays run in `count` worker processes (worker/pool.ts) instead of this
   * one; activities at host.json's `maxConcurrentActivityFunctions` per worker (a per-instance limit in
   * Azure). `args`: the local Azure options the host was given, for the workers to point their copy of
   * the app at the same stand-ins.
   */
  readonly workers?: { readonly count: number; readonly args: readonly string[] };
}

export interface LocalHost {
  readonly url: string;
  readonly keys: HostKeys;
  readonly registry: FunctionRegistry;
  readonly engine: DurableEngine;
  readonly hubName: string;
  /** The worker processes' ids (none: the app's code runs in the host's process). */
  readonly workerPids: readonly number[];
  /** host.json `extensions.http.routePrefix` (default `api`). */
  readonly routePrefix: string;
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
      maxEntityOperationBatchSize?: unknown;
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

/**
 * Starts the local Functions host: loads the app through the worker contract, serves HTTP triggers,
 * the Event Grid extension webhook, the Durable Functions HTTP API and runs timers and orchestrations.
 */
export async function startLocalHost(options: HostOptions): Promise<LocalHost> {
  // Timestamped as the Functions host's console lines are (wall clock, UTC).
  const log = options.log ?? ((line: string) => consoleLine(`[${new Date().toISOString()}] [host] ${line}`));
  mkdirSync(options.dataDir, { recursive: true });
  const hostJson = JSON.parse(readFileSync(join(options.appRoot, 'host.json'), 'utf8')) as HostJson;
  const durable = hostJson.extensions?.durableTask ?? {};
  const hubName = durable.hubName ?? 'TestHubName';
  const routePrefix = hostJson.extensions?.http?.routePrefix ?? 'api';
  const keys = loadKeys(options.dataDir);

  const registry = new FunctionRegistry();
  registry.log = (level, category, message) => log(`${category}/${level}: ${message}`);
  loadApp(registry, options.appRoot);
  // Refuse what the host cannot serve before anything runs; then observe the app's own durable-functions.
  assertSupportedBindings(registry);
  const durableCopies = observeAppExecutors(options.appRoot);
  log(
    `loaded ${registry.functions.size} functions: ${[...registry.functions.values()].map((f) => `${f.metadata.name} (${f.trigger.type})`).join(', ')}`,
  );

  if (durableCopies.length > 0) log(`durable-functions ${durableCopies.join(', ')}`);
  // host.json reaches the extension through .NET configuration, where "10" binds as 10; a fraction,
  // a word or a value below 1 stops the host (DurableTaskOptions wants a positive integer).
  const rawBatchSize = durable.maxEntityOperationBatchSize;
  const batchSize =
    typeof rawBatchSize === 'string' && /^\d+$/.test(rawBatchSize.trim())
      ? Number(rawBatchSize)
      : rawBatchSize;
  if (
    batchSize !== undefined &&
    (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1)
  )
    throw new Error(
      `host.json extensions.durableTask.maxEntityOperationBatchSize must be a positive integer (got ${JSON.stringify(rawBatchSize)})`,
    );
  const workers =
    options.workers !== undefined && options.workers.count > 0
      ? await WorkerPool.start({
          count: options.workers.count,
          args: ['--app', options.appRoot, ...options.workers.args],
          functions: [...registry.functions.values()].map((f) => f.metadata.name),
          log,
        })
      : undefined;
  const activitiesPerWorker = durable.maxConcurrentActivityFunctions ?? 10;
  const engine = new DurableEngine({
    registry,
    store: new InstanceStore(options.dataDir),
    entityStore: new EntityStore(options.dataDir),
    ...(batchSize !== undefined ? { maxEntityOperationBatchSize: batchSize } : {}),
    maxConcurrentActivities: activitiesPerWorker * Math.max(1, options.workers?.count ?? 1),
    ...(workers !== undefined ? { activityInvoker: workers.invoke, replayer: workers.replay } : {}),
    maxConcurrentOrchestrations: durable.maxConcurrentOrchestratorFunctions ?? 10,
    log,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });

  const ctx = createHostContext({ registry, engine, keys, hubName, log });
  const { hasKey } = ctx;
  const httpTrigger = httpTriggers(ctx);
  let baseUrl = '';

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const path = url.pathname;
    void (async () => {
      try {
        if (path === '/runtime/webhooks/eventgrid') return await eventGridWebhook(ctx, req, res, url);
        if (path.startsWith('/runtime/webhooks/durabletask/')) {
          if (!hasKey(req, url, [keys.durableTaskSystemKey, keys.master])) return send(res, 401);
          return await durableApi(ctx, req, res, url, path.slice('/runtime/webhooks/durabletask/'.length));
        }
        if (path.startsWith('/durabletask/')) {
          // The extension's RPC endpoint for durable clients: loopback only.
          if (req.socket.remoteAddress !== '127.0.0.1' && req.socket.remoteAddress !== '::ffff:127.0.0.1')
            return send(res, 403);
          return await durableApi(ctx, req, res, url, path.slice('/durabletask/'.length));
        }
        if (path === `/${routePrefix}` || path.startsWith(`/${routePrefix}/`))
          return await httpTrigger(req, res, url, path.slice(routePrefix.length + 2));
        const admin = /^\/admin\/functions\/([^/]+)$/.exec(path);
        if (admin?.[1] !== undefined && req.method === 'POST')
          return await runFunctionNow(ctx, req, res, url, decodeURIComponent(admin[1]));
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
  ctx.setBaseUrl(baseUrl);

  const crons = startTimers(ctx, options.settings ?? process.env, log);

  engine.recover();
  log(`host listening on ${baseUrl}`);

  return {
    url: baseUrl,
    keys,
    registry,
    engine,
    hubName,
    workerPids: workers?.pids() ?? [],
    routePrefix,
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
      workers: workers?.pids() ?? [],
      functions: [...registry.functions.values()].map((f) => ({
        name: f.metadata.name,
        trigger: f.trigger.type,
      })),
    }),
    close: async () => {
      for (const c of crons) c.stop();
      engine.stop();
      server.closeAllConnections();
      await Promise.all([new Promise<void>((r) => server.close(() => r())), workers?.close()]);
    },
  };
}
