import type { Task } from 'durable-functions';
import { diagnose, isVaultUnreachable } from '../../domain/diagnosis';
import type { KeyInfo, KeyVersionInfo } from '../../domain/model';
import { callStep } from '../../workflows/activityCalls';
import { keyUnreadableIncident, vaultUnreachableIncident } from '../incidentText';
import { page, pageSource, record, type Ended, type Run } from './run';
import { stop } from './stop';

// 1. The key, from Key Vault (retried on durable timers through a short outage, then paged). A key
// that cannot be read (refused, unreachable, no versions) is audited as `KeyUnreadable`: no version
// was checked, so it is not a `PreflightFailed`.

export function* readTheKey(
  run: Run,
): Generator<Task, Ended | { key: KeyInfo; latest: KeyVersionInfo }, unknown> {
  const { input } = run;
  const read = yield* callStep(run.context, 'readKey', { vaultUrl: input.vaultUrl, keyName: input.keyName });
  if (read.ok && read.value.latest !== undefined) return { key: read.value.key, latest: read.value.latest };
  const code = read.ok ? 'KeyHasNoVersions' : read.error.code;
  const message = read.ok
    ? 'the key lists no versions'
    : `${read.error.message}${read.error.attempts !== undefined && read.error.attempts > 1 ? ` (after ${read.error.attempts} attempts)` : ''}`;
  const transient = !read.ok && read.error.retryable;
  if (!read.ok && isVaultUnreachable(code)) {
    // Key Vault's firewall refused the app: not a missing permission, not transient (never retried:
    // the activity's error is permanent). One page with the reason and the network fix.
    const d = diagnose(code, { vaultName: input.vaultName, keyName: input.keyName });
    yield* page(
      run,
      vaultUnreachableIncident(pageSource(run), code, d.nextStep),
      'rotation',
      record(run, { step: 'KeyUnreadable', outcome: 'failure', reasonCode: code, reason: d.what }),
    );
    return yield* stop(run, code, d.what, undefined);
  }
  yield* page(
    run,
    keyUnreadableIncident(pageSource(run), code, transient),
    'rotation',
    record(run, { step: 'KeyUnreadable', outcome: 'failure', reasonCode: code, reason: message }),
  );
  return yield* stop(run, code, message, undefined);
}
