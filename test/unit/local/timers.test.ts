import { isDisabled } from '../../../local/host/timers';

/**
 * `AzureWebJobs.<name>.Disabled` as the Functions host reads it (Microsoft Learn, "How to disable
 * functions in Azure Functions"): set to true turns the trigger off; anything else leaves it on.
 */
describe('a timer disabled by its app setting', () => {
  const named = (value: string): Record<string, string> => ({
    'AzureWebJobs.reconcileSweep.Disabled': value,
  });
  it.each<[string, boolean, Record<string, string | undefined>]>([
    ['true', true, named('true')],
    ['True, padded', true, named(' True ')],
    ['1', true, named('1')],
    ['false', false, named('false')],
    ['0', false, named('0')],
    ['empty', false, named('')],
    ['yes (not a boolean)', false, named('yes')],
    ['absent', false, {}],
    ['set for another function', false, { 'AzureWebJobs.healthWatch.Disabled': 'true' }],
  ])('%s: disabled %s', (_, disabled, settings) => {
    expect(isDisabled(settings, 'reconcileSweep')).toBe(disabled);
  });
});
