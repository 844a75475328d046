import type { Task } from 'durable-functions';
import type { KeyVersionInfo } from '../../domain/model';
import { preflightKeyVersion } from '../../domain/preflight';
import { recordAudit } from '../../workflows/activityCalls';
import { preflightIncident } from '../incidentText';
import { page, pageSource, record, type Ended, type Run } from './run';
import { stop } from './stop';

// 4. Preflight: never PATCH a server to a version that fails it.

export function* preflightTarget(
  run: Run,
  latest: KeyVersionInfo,
  expiryPaged: boolean,
): Generator<Task, Ended | { passed: true }, unknown> {
  const { input } = run;
  const preflight = preflightKeyVersion(latest, {
    now: run.now,
    minLifetimeDays: input.settings.minKeyLifetimeDays,
  });
  if (preflight.passed) return { passed: true };
  const failedChecks = preflight.checks.filter((c) => !c.passed).map((c) => c.name);
  const audit = record(run, {
    step: 'PreflightFailed',
    outcome: 'failure',
    toVersion: latest.version,
    reasonCode: failedChecks.join(','),
    reason: preflight.summary,
  });
  if (expiryPaged && failedChecks.every((c) => c === 'expiry')) yield* recordAudit(run.context, [audit]);
  else
    yield* page(
      run,
      preflightIncident(
        pageSource(run),
        latest,
        preflight.summary,
        audit.reasonCode ?? '',
        input.settings.minKeyLifetimeDays,
      ),
      'preflight',
      audit,
      { version: latest.version },
    );
  return yield* stop(run, 'PreflightFailed', preflight.summary, latest.version);
}
