import type { Task } from 'durable-functions';
import { daysLeft, expirySeverity } from '../../domain/expiry';
import type { KeyInfo, KeyVersionInfo } from '../../domain/model';
import { callStep, log, recordAudit } from '../../workflows/activityCalls';
import type { PlanRolloutOutput } from '../activityIo';
import type { RotationInput } from '../contract';
import { rotateFailedIncident } from '../incidentText';
import { autoRotateDecision } from '../policy';
import { pageExpiry } from './expiryPages';
import { carriedOn, output, page, pageSource, record, type Ended, type Run } from './run';

// 3. The newest version itself expiring: rotate (opt-in, at most once) or page with the servers at risk.

export function* handleNewestVersionExpiry(
  run: Run,
  key: KeyInfo,
  latest: KeyVersionInfo,
  plan: PlanRolloutOutput,
): Generator<Task, Ended | { paged: boolean }, unknown> {
  const { input } = run;
  const { settings } = input;
  const days = daysLeft(latest.expiresOn, run.now);
  const severity = expirySeverity(days, settings.nearExpiry);
  if (severity === undefined) return { paged: false };
  if (autoRotateDecision(latest, input).rotate) {
    const rotated = yield* callStep(run.context, 'rotateKey', {
      vaultUrl: input.vaultUrl,
      keyName: input.keyName,
      fromVersion: latest.version,
    });
    if (rotated.ok) {
      const to = rotated.value.version.version;
      yield* recordAudit(run.context, [
        record(run, {
          step: 'KeyRotated',
          outcome: rotated.value.rotated ? 'success' : 'skipped',
          fromVersion: latest.version,
          toVersion: to,
          reason: rotated.value.rotated
            ? `version ${latest.version} expires in ${days ?? '?'} days; rotated per the key's rotation policy`
            : `a newer version ${to} already exists; not rotated again`,
        }),
      ]);
      log(run.context, `rotated ${input.keyName}: ${latest.version} -> ${to}`);
      const out = output(run, { status: 'completed', targetVersion: to, reasonCode: 'KeyRotated' });
      run.context.df.continueAsNew({
        ...carriedOn(run, out),
        autoRotatedFrom: latest.version,
        hintVersion: to,
      } satisfies RotationInput);
      return { ended: out };
    }
    yield* page(
      run,
      rotateFailedIncident(pageSource(run), rotated.error.code, severity),
      'rotation',
      record(run, {
        step: 'KeyRotated',
        outcome: 'failure',
        reasonCode: rotated.error.code,
        reason: rotated.error.message,
      }),
    );
  }
  const atRisk = plan.servers.filter((s) =>
    s.slots.some((slot) => slot.version === undefined || slot.version === latest.version.toLowerCase()),
  );
  yield* pageExpiry(run, key, latest, days, severity, atRisk, true);
  return { paged: true };
}
