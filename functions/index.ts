import {
  app,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
  type Timer,
} from '@azure/functions';
import * as df from 'durable-functions';
import { createHealthActivities } from '../shared/activities/healthActivities';
import { createRotationActivities } from '../shared/rotation/activities/rotationActivities';
import { DurableHealthWatch } from '../shared/adapters/durableHealthWatch';
import { DurableRotationInstances } from '../shared/adapters/durableRotations';
import { createServices } from '../shared/composition';
import {
  durableActivity,
  durableOrchestrator,
  checkedHealthActivity,
  checkedHealthWatch,
} from '../shared/durable/activityBoundary';
import { loadConfig } from '../shared/config';
import { HEALTH_WATCH_NAMES } from '../shared/domain/healthWatch';
import { FUNCTION_NAMES } from '../shared/domain/names';
import { STEP_NAMES, type OrchestrationContract } from '../shared/rotation/contract';
import { handleKeyVaultEvent } from '../shared/triggers/keyVaultEvents';
import { auditStartup, healthReport } from '../shared/triggers/health';
import { healthWatchTick } from '../shared/triggers/healthWatch';
import { operatorCaller } from '../shared/triggers/operator';
import { DuplicateRecords } from '../shared/triggers/duplicateRecords';
import { RejectionSummarizer } from '../shared/triggers/rejectionSummary';
import { querySpecOf, type ParsedQuery } from '../shared/triggers/operatorQuery';
import {
  getPlan,
  getRotation,
  getRotations,
  getStatusPage,
  guardOperatorCall,
  postReplay,
  postRetry,
  postRotation,
  postSweep,
} from '../shared/triggers/operatorApi';
import { getRuns, getVaults } from '../shared/triggers/operatorRead';
import { readPosture, sweepWithPostureSnapshot } from '../shared/triggers/posture';
import { healthWatchOrchestrator } from '../shared/workflows/healthWatch';
import { keyRotationOrchestrator } from '../shared/rotation/orchestrators/keyRotation';
import { armQuotaGovernor } from '../shared/rotation/entities/armQuotaGovernor';
import { rolloutLaneEntity } from '../shared/rotation/entities/rolloutLane';
import { rolloutBatchOrchestrator } from '../shared/rotation/orchestrators/rolloutBatch';
import { serverRolloverOrchestrator } from '../shared/rotation/orchestrators/serverRollover';

/**
 * Entry point of the Functions app (`main` in package.json). Registration and wiring only: every
 * handler's logic lives in shared/. Settings are read once here; a bad one stops the app at startup
 * with one message naming it.
 */
app.setup({ enableHttpStream: false });

const config = loadConfig(process.env);
for (const warning of config.warnings) console.warn(`[pg-cmk-rotator] ${warning}`);
const services = createServices(config);
void auditStartup(config, services.audit, new Date().toISOString(), (m) =>
  console.warn(`[pg-cmk-rotator] ${m}`),
);
const activities = createRotationActivities(services);
const client = df.input.durableClient();
const instancesOf = (context: InvocationContext) => new DurableRotationInstances(df.getClient(context));

// The orchestrations of the durable contract, each typed by its output (a mismatch is a compile error).
const orchestrators: {
  readonly [K in keyof OrchestrationContract]: (
    context: df.OrchestrationContext,
  ) => Generator<df.Task, OrchestrationContract[K]['output'], unknown>;
} = {
  [FUNCTION_NAMES.keyRotation]: keyRotationOrchestrator,
  [FUNCTION_NAMES.rolloutBatch]: rolloutBatchOrchestrator,
  [FUNCTION_NAMES.serverRollover]: serverRolloverOrchestrator,
};
// Each behind the durable boundary (shared/durable/activityBoundary.ts): input and output checked
// against the contract's schemas at run time.
df.app.orchestration(
  FUNCTION_NAMES.keyRotation,
  durableOrchestrator('keyRotation', orchestrators.keyRotation),
);
df.app.orchestration(
  FUNCTION_NAMES.rolloutBatch,
  durableOrchestrator('rolloutBatch', orchestrators.rolloutBatch),
);
df.app.orchestration(
  FUNCTION_NAMES.serverRollover,
  durableOrchestrator('serverRollover', orchestrators.serverRollover),
);

// One ARM quota governor per subscription, shared by every rotation of the app (a durable entity).
df.app.entity(FUNCTION_NAMES.armQuotaGovernor, armQuotaGovernor());
// One in-flight budget per subscription and rollout phase of a rotation, shared by its batches.
df.app.entity(FUNCTION_NAMES.rolloutLane, rolloutLaneEntity);

// Every activity of the durable contract (shared/rotation/contract.ts), each answering with a StepResult:
// input and output checked, a thrown error logged with its class, code and stack, and only its code,
// retryability and message kept in the durable history.
for (const name of STEP_NAMES) df.app.activity(name, { handler: durableActivity(name, activities[name]) });

// One per app: the rejections of a delivery's events (invoked all at once) become one audit record.
const rejections = new RejectionSummarizer(services.audit);
// And identical duplicate records written at the same time (a burst of redeliveries) share one write.
const duplicates = new DuplicateRecords(services.audit);
async function keyVaultEvents(event: unknown, context: InvocationContext): Promise<void> {
  const outcome = await handleKeyVaultEvent(event, instancesOf(context), {
    config,
    audit: services.audit,
    events: services.events,
    keys: services.keys,
    invocationId: context.invocationId,
    rejections,
    duplicates,
  });
  context.log(`key event: ${outcome.kind}`);
}
app.eventGrid(FUNCTION_NAMES.keyVaultEvents, { extraInputs: [client], handler: keyVaultEvents });

async function reconcileSweep(_timer: Timer, context: InvocationContext): Promise<void> {
  // The services' clock: the wall clock in Azure, the stand-ins' clock locally.
  const { sweep, posture } = await sweepWithPostureSnapshot(
    instancesOf(context),
    { ...services, config },
    services.now(),
  );
  context.log(`sweep: ${sweep.keysChecked} key(s), ${sweep.requested.length} rotation(s) requested`);
  if ('error' in posture) context.error(`posture snapshot not recorded: ${posture.error}`);
  else context.log(`posture: ${posture.servers} server(s), ${posture.byRisk.critical} critical`);
}
app.timer(FUNCTION_NAMES.reconcileSweep, {
  schedule: config.sweepSchedule,
  extraInputs: [client],
  handler: reconcileSweep,
});

// The health watch (shared/triggers/healthWatch.ts, shared/workflows/healthWatch.ts): a frequent timer
// starts one pass at a time under one instance id; the pass queries the fleet once and pages.
const healthActivities = createHealthActivities({ ...services, config });
df.app.orchestration(HEALTH_WATCH_NAMES.orchestrator, checkedHealthWatch(healthWatchOrchestrator));
df.app.activity(HEALTH_WATCH_NAMES.activity, {
  handler: checkedHealthActivity((input) => healthActivities.checkFleetHealth(input)),
});
async function healthWatch(_timer: Timer, context: InvocationContext): Promise<void> {
  const outcome = await healthWatchTick(new DurableHealthWatch(df.getClient(context)), services.now());
  if (outcome.kind === 'started')
    context.log(`health watch: pass started (${outcome.open} open incident(s))`);
  if (outcome.kind === 'started' && outcome.dropped !== undefined)
    context.warn(
      `health watch: dropped ${outcome.dropped.length} carried incident(s) the contract refuses: ${outcome.dropped.join(', ')}`,
    );
}
app.timer(HEALTH_WATCH_NAMES.timer, {
  schedule: config.healthWatchSchedule,
  extraInputs: [client],
  handler: healthWatch,
});

// The operator API (function key; or App Service Authentication in front). Handlers in shared/triggers/operatorApi.ts.
const api = { ...services, config };
const param = (request: HttpRequest, name: string): string => request.params[name] ?? '';
// Trusted only under App Service Authentication (operatorCaller); otherwise `function-key`.
const callerOf = (request: HttpRequest): string =>
  operatorCaller(config, request.headers.get('x-ms-client-principal-name'));
// Every operator endpoint: its query parsed strictly (shared/triggers/operatorQuery.ts) before the
// handler runs, every refusal audited (guardOperatorCall).
const guarded =
  (
    name: string,
    handler: (
      request: HttpRequest,
      context: InvocationContext,
      query: ParsedQuery,
    ) => Promise<HttpResponseInit> | HttpResponseInit,
  ) =>
  (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> =>
    guardOperatorCall(
      services.audit,
      {
        route: name,
        method: request.method,
        caller: callerOf(request),
        invocationId: context.invocationId,
        vault: request.params['vault'],
        key: request.params['key'],
      },
      querySpecOf(name, request.method),
      request.url,
      async (query) => handler(request, context, query),
    );
const operator = (
  name: string,
  route: string,
  methods: ('GET' | 'POST')[],
  handler: (
    request: HttpRequest,
    context: InvocationContext,
    query: ParsedQuery,
  ) => Promise<HttpResponseInit> | HttpResponseInit,
) =>
  app.http(name, {
    route,
    methods,
    authLevel: 'function',
    extraInputs: [client],
    handler: guarded(name, handler),
  });

operator(
  FUNCTION_NAMES.keyRotationApi,
  'rotations/{vault}/{key}',
  ['GET', 'POST'],
  async (request, context, query) =>
    request.method === 'GET'
      ? getRotation(
          instancesOf(context),
          config,
          param(request, 'vault'),
          param(request, 'key'),
          services.keys,
        )
      : postRotation(
          instancesOf(context),
          api,
          param(request, 'vault'),
          param(request, 'key'),
          callerOf(request),
          query.booleans['dryRun'] === true,
          await request.text(),
        ),
);
operator(FUNCTION_NAMES.rotationPlan, 'rotations/{vault}/{key}/plan', ['GET'], (request) =>
  getPlan(api, param(request, 'vault'), param(request, 'key'), callerOf(request)),
);
operator(FUNCTION_NAMES.listRotations, 'rotations', ['GET'], (_request, context) =>
  getRotations(instancesOf(context)),
);
operator(
  FUNCTION_NAMES.retryServer,
  'rotations/{vault}/{key}/servers/{server}/retry',
  ['POST'],
  async (request, context) =>
    postRetry(
      instancesOf(context),
      api,
      param(request, 'vault'),
      param(request, 'key'),
      param(request, 'server'),
      callerOf(request),
      await request.text(),
    ),
);
operator(FUNCTION_NAMES.sweepNow, 'sweep', ['POST'], async (request, context) =>
  postSweep(instancesOf(context), api, callerOf(request), await request.text()),
);
operator(FUNCTION_NAMES.statusPage, 'status', ['GET'], (_request, context) =>
  getStatusPage(instancesOf(context), api),
);
operator(FUNCTION_NAMES.replayEvents, 'events/replay', ['POST'], async (request, context, query) =>
  postReplay(
    instancesOf(context),
    api,
    await request.text(),
    query.texts['source'] ?? `operator:${callerOf(request)}`,
    context.invocationId,
    {
      caller: callerOf(request),
      reason: request.headers.get('x-operator-reason'),
      ticket: request.headers.get('x-operator-ticket'),
    },
  ),
);
// Read-only, for the CLI (`runs`, `status`, and its vault and key name checks): shared/triggers/operatorRead.ts.
operator(FUNCTION_NAMES.listRuns, 'runs', ['GET'], (_request, context) => getRuns(instancesOf(context)));
operator(FUNCTION_NAMES.listVaults, 'vaults', ['GET'], () => getVaults(api));

function health(): HttpResponseInit {
  return { status: 200, jsonBody: healthReport(config) };
}
app.http(FUNCTION_NAMES.health, {
  route: 'health',
  methods: ['GET'],
  authLevel: 'function',
  handler: guarded(FUNCTION_NAMES.health, health),
});

async function fleetPosture(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await readPosture(instancesOf(context), { ...services, config }, services.now());
  return { status: 200, jsonBody: report };
}
app.http(FUNCTION_NAMES.fleetPosture, {
  route: 'posture',
  methods: ['GET'],
  authLevel: 'function',
  extraInputs: [client],
  handler: guarded(FUNCTION_NAMES.fleetPosture, fleetPosture),
});
