import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { routeArm, type ArmContext } from './arm';
import { Captures } from './capture';
import { Scheduler } from './clock';
import { EventGrid, EventGridError, type SubscriptionSpec } from './eventgrid';
import { Faults, TokenBuckets, type FaultRule, type Service } from './faults';
import type { FleetFile } from './fleet';
import { HttpError, isObject, jsonBody, readRequest, send, type Reply, type Request } from './http';
import { currentVersion, vaultArmId } from './keyvault-model';
import { routeKeyVault } from './keyvault';
import { queryResources, ResourceGraphQuota } from './resourcegraph';
import { ensureTlsMaterial } from './tls';
import { World } from './world';
import { dataEncryptionOf } from './world-records';
import type { Behaviour } from './world-state';
import { changeAccess, extendExpiry } from './admin-keys';

export interface LocalAzureOptions {
  readonly fleet: FleetFile;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Where the generated CA lives; default `<repo>/.local/tls`. */
  readonly tlsDir?: string;
  readonly behaviour?: Partial<Behaviour>;
  /** Principal id the app's local credential uses (ARM throttling is per principal). */
  readonly appPrincipalId?: string;
}

export interface RequestLogEntry {
  readonly at: string;
  readonly service: Service | 'admin' | 'unknown';
  readonly operation: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly status: number;
}

export interface LocalAzure {
  readonly port: number;
  /** Loopback base URL: admin API, Application Insights ingestion, PagerDuty, webhooks. */
  readonly url: string;
  readonly caCertPath: string;
  readonly caCertPem: string;
  readonly tenantId: string;
  readonly world: World;
  readonly faults: Faults;
  readonly captures: Captures;
  readonly eventGrid: EventGrid;
  readonly requests: RequestLogEntry[];
  /** Everything a client needs to reach the stand-ins (the `READY` line). */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

/** The admin routes, served as an index at `GET /admin` (and documented in local/README.md). */
export const ADMIN_ROUTES: readonly (readonly [method: string, path: string, what: string])[] = [
  ['GET', '/admin', 'this index'],
  ['GET', '/admin/state', 'vaults, keys, versions and a summary of every server'],
  ['GET', '/admin/servers', 'servers as ARM JSON'],
  ['GET', '/admin/clock', 'the stand-in clock (real time plus an offset)'],
  ['POST', '/admin/clock/advance', 'move the clock: {"ms"|"seconds"|"days": n}'],
  ['GET', '/admin/faults', 'fault rules'],
  [
    'POST',
    '/admin/faults',
    'add a fault rule {service, operation?, pathContains?, status?, code?, retryAfterSeconds?, latencyMs?, rate?, count?}',
  ],
  ['DELETE', '/admin/faults', 'remove every fault rule'],
  ['GET', '/admin/eventgrid/subscriptions', 'Event Grid subscriptions'],
  [
    'POST',
    '/admin/eventgrid/subscriptions',
    'subscribe {name, endpoint, eventTypes?, vaults?, maxDeliveryAttempts?, eventTimeToLiveMinutes?, deadLetter?}',
  ],
  ['GET', '/admin/deliveries', 'every Event Grid delivery with its attempts and final state'],
  ['POST', '/admin/vaults/<vault>/access', 'grant key permissions {identity or principalId, permissions}'],
  [
    'DELETE',
    '/admin/vaults/<vault>/access',
    'revoke key permissions {identity (resource id or name) or principalId, permissions}; 404 if it names nobody',
  ],
  [
    'POST',
    '/admin/vaults/<vault>/keys/<key>/expiry',
    "extend a version's expiry {version? (default current), expires: ISO | days: n}",
  ],
  ['GET', '/admin/telemetry', 'what the Application Insights ingestion received'],
  ['GET', '/admin/pages', 'PagerDuty events and incident state'],
  ['GET', '/admin/webhooks', 'what the webhooks (Teams, generic) received'],
  ['GET', '/admin/requests', 'a log of every request (service, operation, status)'],
];

const REPO_ROOT = join(__dirname, '..', '..', ...(__dirname.includes(join('dist', 'local')) ? ['..'] : []));

export async function startLocalAzure(options: LocalAzureOptions): Promise<LocalAzure> {
  const tls = ensureTlsMaterial(options.tlsDir ?? join(REPO_ROOT, '.local', 'tls'));
  const world = await World.load(options.fleet, options.behaviour);
  const scheduler = new Scheduler(world.clock);
  scheduler.everyTick(() => void world.evaluate());
  const faults = new Faults();
  const buckets = new TokenBuckets();
  const captures = new Captures(() => world.clock.nowIso(), {
    disableLocalAuth: options.fleet.applicationInsights?.disableLocalAuth ?? true,
    publishers: options.fleet.applicationInsights?.publishers,
  });
  const eventGrid = new EventGrid(world, scheduler, tls.caCertPem);
  const requests: RequestLogEntry[] = [];
  const arm: ArmContext = { world, scheduler, buckets };
  const graphQuota = new ResourceGraphQuota(world);
  let baseUrl = '';

  const dispatch = async (
    req: Request,
  ): Promise<{ service: RequestLogEntry['service']; operation: string; reply: Reply }> => {
    const vaultMatch = /^([a-z0-9-]+)\.(vault\.azure\.net|managedhsm\.azure\.net)$/.exec(req.host);
    let service: Service | 'admin';
    let operation: string;
    let handle: () => Promise<Reply> | Reply;
    if (vaultMatch?.[1] !== undefined) {
      const route = routeKeyVault(world, req.host, req);
      [service, operation, handle] = ['keyvault', route.operation, route.handle];
    } else if (
      req.host === 'management.azure.com' &&
      /^\/providers\/microsoft\.resourcegraph\/resources$/i.test(req.path) &&
      req.method === 'POST'
    ) {
      [service, operation, handle] = [
        'resourcegraph',
        'resources.query',
        () => queryResources(world, graphQuota, req),
      ];
    } else if (req.host === 'management.azure.com') {
      const route = routeArm(arm, req);
      [service, operation, handle] = ['arm', route.operation, route.handle];
    } else if (/^\/v2(\.1)?\/track$/.test(req.path) && req.method === 'POST') {
      [service, operation, handle] = ['ingestion', 'track', () => captures.track(req)];
    } else if (req.path === '/v2/enqueue' && req.method === 'POST') {
      [service, operation, handle] = ['pagerduty', 'enqueue', () => captures.enqueue(req)];
    } else if (req.path.startsWith('/hooks/') && req.method === 'POST') {
      [service, operation, handle] = [
        'webhook',
        req.path.slice(7),
        () => captures.hook(req.path.slice(7), req),
      ];
    } else if (req.path === '/admin' || req.path.startsWith('/admin/')) {
      [service, operation, handle] = ['admin', req.path, () => admin(req)];
    } else {
      return {
        service: 'unknown',
        operation: 'unknown',
        reply: {
          status: 404,
          body: { error: { code: 'NotFound', message: `No stand-in serves ${req.host}${req.path}.` } },
        },
      };
    }
    if (service !== 'admin') {
      const fault = faults.decide(service, operation, req.path);
      if (fault.latencyMs > 0) await new Promise((r) => setTimeout(r, fault.latencyMs));
      if (fault.reply?.status === 206 && service === 'ingestion')
        return { service, operation, reply: captures.track(req, { refuseLast: true }) };
      if (fault.reply !== undefined && fault.afterApply)
        // Served (a PATCH applied, a version created), then the answer is lost: the client sees only
        // the fault. A request the service refused (an auth challenge, a 409) gets its refusal.
        try {
          await handle();
        } catch (e) {
          if (e instanceof HttpError) return { service, operation, reply: e.reply };
          throw e;
        }
      if (fault.reply !== undefined) return { service, operation, reply: fault.reply };
    }
    try {
      return { service, operation, reply: await handle() };
    } catch (e) {
      if (e instanceof HttpError) return { service, operation, reply: e.reply };
      throw e;
    }
  };

  const admin = async (req: Request): Promise<Reply> => {
    const path = req.path.replace(/\/$/, '');
    const m = req.method;
    const ok = (body: unknown): Reply => ({ status: 200, body });
    if (path === '/admin' && m === 'GET')
      return ok({
        about: 'Admin API of the local Azure stand-ins (loopback only); local/README.md describes it.',
        routes: ADMIN_ROUTES.map(([method, route, what]) => ({ method, path: route, what })),
      });
    if (path === '/admin/clock' && m === 'GET') return ok({ now: world.clock.nowIso() });
    if (path === '/admin/clock/advance' && m === 'POST') {
      const body = jsonBody(req);
      const ms = isObject(body)
        ? Number(body['ms'] ?? 0) +
          Number(body['seconds'] ?? 0) * 1000 +
          Number(body['days'] ?? 0) * 86_400_000
        : NaN;
      if (!Number.isFinite(ms) || ms < 0)
        return { status: 400, body: { error: 'give ms, seconds or days (>= 0)' } };
      world.clock.advance(ms);
      await scheduler.tick();
      world.evaluateServers();
      return ok({ now: world.clock.nowIso() });
    }
    if (path === '/admin/state' && m === 'GET') return ok(snapshot());
    if (path === '/admin/servers' && m === 'GET') return ok([...world.servers.values()].map((r) => r.json));
    if (path === '/admin/telemetry' && m === 'GET') return ok(captures.telemetry);
    if (path === '/admin/pages' && m === 'GET')
      return ok({ events: captures.pages, incidents: Object.fromEntries(captures.incidents) });
    if (path === '/admin/webhooks' && m === 'GET') return ok(captures.webhooks);
    if (path === '/admin/deliveries' && m === 'GET') return ok(eventGrid.deliveries);
    if (path === '/admin/requests' && m === 'GET') return ok(requests);
    if (path === '/admin/faults' && m === 'GET') return ok(faults.list());
    if (path === '/admin/faults' && m === 'DELETE') return (faults.clear(), ok({ cleared: true }));
    if (path === '/admin/faults' && m === 'POST') {
      try {
        return ok({ id: faults.add(jsonBody(req) as FaultRule) });
      } catch (e) {
        return { status: 400, body: { error: (e as Error).message } };
      }
    }
    if (path === '/admin/eventgrid/deadletters' && m === 'GET') return ok(eventGrid.deadLetterBlobs());
    if (path === '/admin/eventgrid/subscriptions' && m === 'GET')
      return ok([...eventGrid.subscriptions.values()]);
    if (path === '/admin/eventgrid/subscriptions' && m === 'POST') {
      try {
        await eventGrid.subscribe(jsonBody(req) as SubscriptionSpec);
        return ok({ created: true });
      } catch (e) {
        if (e instanceof EventGridError || e instanceof TypeError)
          return { status: 400, body: { error: e.message } };
        throw e;
      }
    }
    const access = /^\/admin\/vaults\/([^/]+)\/access$/.exec(path);
    if (access?.[1] !== undefined && (m === 'POST' || m === 'DELETE'))
      return changeAccess(world, decodeURIComponent(access[1]), m, jsonBody(req));
    const expiry = /^\/admin\/vaults\/([^/]+)\/keys\/([^/]+)\/expiry$/.exec(path);
    if (expiry?.[1] !== undefined && expiry[2] !== undefined && m === 'POST')
      return extendExpiry(world, decodeURIComponent(expiry[1]), decodeURIComponent(expiry[2]), jsonBody(req));
    return { status: 404, body: { error: `no admin endpoint ${m} ${path}` } };
  };

  const snapshot = () => ({
    now: world.clock.nowIso(),
    vaults: [...world.vaults.values()].map((v) => ({
      name: v.name,
      id: vaultArmId(v),
      keys: [...v.keys.values()].map((k) => ({
        name: k.name,
        deleted: k.deleted !== undefined,
        current: currentVersion(k)?.version,
        versions: k.versions.map((x) => ({
          version: x.version,
          enabled: x.enabled,
          created: new Date(x.created).toISOString(),
          ...(x.exp !== undefined ? { exp: new Date(x.exp).toISOString() } : {}),
        })),
      })),
    })),
    servers: [...world.servers.values()].map((r) => {
      const de = dataEncryptionOf(r.json);
      const props = r.json['properties'] as Record<string, unknown>;
      return {
        id: r.json['id'],
        state: props['state'],
        primaryKeyURI: de?.['primaryKeyURI'],
        primaryEncryptionKeyStatus: de?.['primaryEncryptionKeyStatus'],
        geoBackupKeyURI: de?.['geoBackupKeyURI'],
        geoBackupEncryptionKeyStatus: de?.['geoBackupEncryptionKeyStatus'],
        busy: r.operation?.status === 'InProgress',
        /** Writes ARM accepted for this server (an operation each), whatever answer the client got. */
        acceptedOperations: [...world.operations.values()].filter(
          (o) => o.serverId.toLowerCase() === String(r.json['id']).toLowerCase(),
        ).length,
      };
    }),
  });

  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (incoming, res) => {
    void (async () => {
      let entry: Omit<RequestLogEntry, 'status'> = {
        at: world.clock.nowIso(),
        service: 'unknown',
        operation: 'unknown',
        method: incoming.method ?? '',
        host: '',
        path: incoming.url ?? '',
      };
      let reply: Reply;
      try {
        const req = await readRequest(incoming);
        entry = { ...entry, host: req.host, path: req.path, method: req.method };
        try {
          const result = await dispatch(req);
          entry = { ...entry, service: result.service, operation: result.operation };
          reply = result.reply;
        } catch (e) {
          if (e instanceof HttpError) reply = e.reply;
          else throw e;
        }
      } catch (e) {
        console.error('[local-azure] internal error', e);
        reply = {
          status: 500,
          body: { error: { code: 'InternalServerError', message: 'The stand-in failed; see its log.' } },
        };
      }
      if (entry.service !== 'admin') requests.push({ ...entry, status: reply.status });
      send(res, reply);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `https://127.0.0.1:${port}`;

  return {
    port,
    url: baseUrl,
    caCertPath: tls.caCertPath,
    caCertPem: tls.caCertPem,
    tenantId: world.tenantId,
    world,
    faults,
    captures,
    eventGrid,
    requests,
    describe: () => ({
      port,
      caCertPath: tls.caCertPath,
      tenantId: world.tenantId,
      admin: `${baseUrl}/admin`,
      loopback: baseUrl,
      arm: 'https://management.azure.com',
      resourceGraph: 'https://management.azure.com/providers/Microsoft.ResourceGraph/resources',
      keyVaults: [...world.vaults.values()].map((v) => world.vaultUrl(v)),
      applicationInsightsConnectionString: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=${baseUrl}/;LiveEndpoint=${baseUrl}/`,
      pagerDutyEventsUrl: `${baseUrl}/v2/enqueue`,
      webhookBase: `${baseUrl}/hooks/`,
      note: 'Azure hosts resolve to the loopback port through the seam (local/azure/seam.ts); the loopback URL serves admin, ingestion, PagerDuty and webhooks.',
    }),
    close: async () => {
      scheduler.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
