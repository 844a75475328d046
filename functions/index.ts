import {
  app,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
  type Timer,
} from '@azure/functions';
import * as df from 'durable-functions';
import { createRotationActivities, registerableSteps } from '../shared/activities/rotationActivities';
import { DurableRotationInstances } from '../shared/adapters/durableRotations';
import { createServices } from '../shared/composition';
import { loadConfig } from '../shared/config';
import { FUNCTION_NAMES } from '../shared/domain/names';
import { STEP_NAMES, type OrchestrationContract } from '../shared/domain/steps';
import { handleKeyVaultEvent } from '../shared/triggers/keyVaultEvents';
import { auditStartup, healthReport } from '../shared/triggers/health';
import {
  OperatorDependencyError,
  OperatorKeyNotFoundError,
  OperatorRequestError,
  operatorCaller,
  parseOperatorNote,
  requestOperatorRotation,
  rotationStatus,
} from '../shared/triggers/operator';
import { readPosture, recordPostureSnapshot } from '../shared/triggers/posture';
import { runSweep } from '../shared/triggers/sweep';
import { keyRotationOrchestrator } from '../shared/workflows/keyRotation';
import { serverRolloverOrchestrator } from '../shared/workflows/serverRollover';

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
  [FUNCTION_NAMES.serverRollover]: serverRolloverOrchestrator,
};
df.app.orchestration(FUNCTION_NAMES.keyRotation, orchestrators.keyRotation);
df.app.orchestration(FUNCTION_NAMES.serverRollover, orchestrators.serverRollover);

// Every activity of the durable contract (shared/domain/steps.ts), each answering with a StepResult.
const steps = registerableSteps(activities);
for (const name of STEP_NAMES) df.app.activity(name, { handler: steps[name] });

async function keyVaultEvents(event: unknown, context: InvocationContext): Promise<void> {
  const outcome = await handleKeyVaultEvent(event, instancesOf(context), {
    config,
    audit: services.audit,
    events: services.events,
    invocationId: context.invocationId,
  });
  context.log(`key event: ${outcome.kind}`);
}
app.eventGrid(FUNCTION_NAMES.keyVaultEvents, { extraInputs: [client], handler: keyVaultEvents });

async function reconcileSweep(_timer: Timer, context: InvocationContext): Promise<void> {
  const now = new Date();
  const instances = instancesOf(context);
  const result = await runSweep(instances, { ...services, config }, now);
  context.log(`sweep: ${result.keysChecked} key(s), ${result.requested.length} rotation(s) requested`);
  // The posture snapshot (one PostureSnapshot per server) that the workbook charts; after the sweep's
  // own work, so a posture read failing never holds a rotation back.
  try {
    const posture = await recordPostureSnapshot(instances, { ...services, config }, now);
    context.log(`posture: ${posture.summary.servers} server(s), ${posture.summary.byRisk.critical} critical`);
  } catch (e) {
    context.error(`posture snapshot not recorded: ${e instanceof Error ? e.message : 'error'}`);
  }
}
app.timer(FUNCTION_NAMES.reconcileSweep, {
  schedule: config.sweepSchedule,
  extraInputs: [client],
  handler: reconcileSweep,
});

async function rotateKeyNow(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { vault = '', key = '' } = request.params;
  try {
    if (request.method === 'GET') {
      const { instanceId, info } = await rotationStatus(instancesOf(context), config, vault, key);
      return info === undefined
        ? { status: 404, jsonBody: { instanceId, error: 'no rotation has run for this key' } }
        : { status: 200, jsonBody: { instanceId, runtimeStatus: info.runtimeStatus, output: info.output } };
    }
    const note = parseOperatorNote(await request.text());
    const caller = operatorCaller(config, request.headers.get('x-ms-client-principal-name'));
    const outcome = await requestOperatorRotation(
      instancesOf(context),
      { config, audit: services.audit, keys: services.keys },
      vault,
      key,
      caller,
      note,
    );
    return { status: 202, jsonBody: outcome };
  } catch (e) {
    if (e instanceof OperatorRequestError) return { status: 400, jsonBody: { error: e.message } };
    if (e instanceof OperatorKeyNotFoundError) return { status: 404, jsonBody: { error: e.message } };
    if (e instanceof OperatorDependencyError)
      return { status: 503, headers: { 'retry-after': '30' }, jsonBody: { error: e.message } };
    throw e;
  }
}
app.http(FUNCTION_NAMES.rotateKeyNow, {
  route: 'rotations/{vault}/{key}',
  methods: ['GET', 'POST'],
  authLevel: 'function',
  extraInputs: [client],
  handler: rotateKeyNow,
});

function health(): HttpResponseInit {
  return { status: 200, jsonBody: healthReport(config) };
}
app.http(FUNCTION_NAMES.health, {
  route: 'health',
  methods: ['GET'],
  authLevel: 'function',
  handler: health,
});

async function fleetPosture(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await readPosture(instancesOf(context), { ...services, config }, new Date());
  return { status: 200, jsonBody: report };
}
app.http(FUNCTION_NAMES.fleetPosture, {
  route: 'posture',
  methods: ['GET'],
  authLevel: 'function',
  extraInputs: [client],
  handler: fleetPosture,
});
