import type { StepError } from '../../../../shared/rotation/activityIo';
import { STEP_NAMES, type StepName } from '../../../../shared/rotation/contract';
import {
  readOptions,
  retriedRecord,
  type Rollover,
} from '../../../../shared/rotation/orchestrators/rolloverRun';

/**
 * A retry record names the activity it retried (`details.step`), and only an activity of the
 * contract: a label that is not one (`prepareServer`, `beginServerUpdate`, activities that no longer
 * exist) does not compile. The checks below are for the compiler (`tsc` runs over test/).
 */
export function labelsTheCompilerRefuses(r: Rollover, e: StepError): void {
  // @ts-expect-error not an activity of the contract
  readOptions(r, 'prepareServer');
  // @ts-expect-error not an activity of the contract
  retriedRecord(r, 'beginServerUpdate', e, 1, 5, 'writeRefused');
}

describe('retry labels', () => {
  it('are the rollover activities, each an activity of the contract', () => {
    const labels: StepName[] = ['updateServer', 'pollServerUpdate', 'verifyServer'];
    for (const l of labels) expect(STEP_NAMES).toContain(l);
    expect(STEP_NAMES).not.toContain('prepareServer');
    expect(STEP_NAMES).not.toContain('beginServerUpdate');
  });
});
