import type { OrchestrationContext, Task } from 'durable-functions';
import { inputOf, log } from '../../workflows/activityCalls';
import {
  isOpenIncident,
  ROTATION_OUTPUT_VERSION,
  ROTATION_SCHEMA_VERSION,
  type RotationOutput,
} from '../contract';
import { unexpectedErrorIncident } from '../incidentText';
import { noOutcomes } from '../outcomes';
import { pageServersLeftOnExpiringVersions } from './expiryPages';
import { finish } from './finish';
import { handleNewestVersionExpiry } from './nearExpiry';
import { discoverAndPlan, onlyTheServersAskedFor } from './plan';
import { preflightTarget } from './preflight';
import { readTheKey } from './readKey';
import { rollOut } from './rollout';
import {
  continueWith,
  ended,
  output,
  page,
  pageSource,
  pageUndeliveredAudit,
  progress,
  record,
  type Run,
} from './run';
import { pendingSignal } from './signals';

/**
 * The rotation of one key, as a story: each phase is a file of its own next to this one (readKey,
 * plan, nearExpiry, preflight, rollout with batches, expiryPages, finish), sharing the run's state and
 * helpers (run.ts), signals (signals.ts) and the way a run stops early (stop.ts).
 */

/**
 * The rotation of one key (instance id `rotationInstanceId(vault, key)`), in the steps of the README:
 * read the key (events are hints, Key Vault is the truth), discover and plan per server, handle the
 * newest version's expiry, preflight it, roll out (canary ring first, bounded parallelism, one
 * sub-orchestration per server, each isolated), page what is left on an expiring version, and before
 * finishing re-read the key and take in every signal that arrived meanwhile: a newer version or an
 * operator request continues as new instead of racing a second instance. Nothing in here throws for
 * an expected failure: every step that still fails after its retries ends the run cleanly, paged.
 */
export function* keyRotationOrchestrator(
  context: OrchestrationContext,
): Generator<Task, RotationOutput, unknown> {
  const input = inputOf(context, 'keyRotation');
  if (input.schemaVersion !== ROTATION_SCHEMA_VERSION) {
    // Started by another deployment: its history does not match these steps. End at once (no
    // activity, so nothing to mismatch); the next event, sweep or operator request starts it again.
    return {
      status: 'stopped',
      vaultName: input.vaultName,
      keyName: input.keyName,
      targetVersion: undefined,
      reasonCode: 'SchemaVersionChanged',
      outputVersion: ROTATION_OUTPUT_VERSION,
      counts: noOutcomes(),
      servers: [],
      // An older input is not schema-checked (shared/durable/activityBoundary.ts): keep what the
      // contract accepts, for the next run to carry.
      openIncidents: Array.isArray(input.openIncidents) ? input.openIncidents.filter(isOpenIncident) : [],
      resolvedIncidents: [],
    };
  }
  const run: Run = {
    context,
    input,
    now: context.df.currentUtcDateTime.toISOString(),
    opened: [],
    planned: 0,
    targetVersion: undefined,
    sofar: noOutcomes(),
    serverAuditUndelivered: 0,
    operationSeconds: undefined,
  };
  log(context, `rotation of ${input.vaultName}/${input.keyName} (${input.reason}, ${input.trigger})`);
  try {
    return yield* rotate(run);
  } catch (e) {
    // A bug or a malformed answer must not leave the instance Failed with nobody told: page it, end.
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    yield* page(
      run,
      unexpectedErrorIncident(pageSource(run)),
      'rotation',
      record(run, {
        step: 'RotationCompleted',
        outcome: 'failure',
        reasonCode: 'UnexpectedError',
        reason: message.slice(0, 500),
      }),
    );
    yield* pageUndeliveredAudit(run);
    // Signals still get their run (a deterministic bug pages again under the same dedup key).
    progress(run, run.phase ?? 'reading', { closing: true });
    const next = yield* pendingSignal(run, undefined, undefined);
    const out = output(run, { status: 'stopped', targetVersion: undefined, reasonCode: 'UnexpectedError' });
    if (next !== undefined) continueWith(run, next, out);
    return out;
  }
}

/** The phases, in order; a phase that ends the run returns `{ ended }`. */
function* rotate(run: Run): Generator<Task, RotationOutput, unknown> {
  progress(run, 'reading');
  const read = yield* readTheKey(run);
  if (ended(read)) return read.ended;
  const { key, latest } = read;
  run.targetVersion = latest.version;

  progress(run, 'planning');
  const discovered = yield* discoverAndPlan(run, key, latest);
  if (ended(discovered)) return discovered.ended;
  const plan = onlyTheServersAskedFor(run, discovered);
  run.planned = plan.servers.length + plan.unplannable.length;

  const expiry = yield* handleNewestVersionExpiry(run, key, latest, plan);
  if (ended(expiry)) return expiry.ended;

  const preflight = yield* preflightTarget(run, latest, expiry.paged);
  if (ended(preflight)) return preflight.ended;

  const rolled = yield* rollOut(run, key, latest, plan);
  yield* pageServersLeftOnExpiringVersions(run, key, latest, plan, rolled);
  return yield* finish(run, latest, rolled);
}
