import type { ServerSnapshot } from '../../../shared/domain/model';
import { ringOf, type Ring } from '../../../shared/domain/plan';
import { rolloutPlaceOf } from '../../../shared/domain/postureServers';

/** One ring vocabulary: the rollout, the plan preview and the posture name a server's ring alike. */

const server = (tags: Record<string, string>): ServerSnapshot => ({
  id: '/subscriptions/9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a',
  name: 'pg-a',
  subscriptionId: '9f3a8c52-1e4b-4c2d-8f6a-2b7c9d0e1f23',
  resourceGroup: 'rg',
  location: 'westeurope',
  state: 'Ready',
  tags,
  identity: undefined,
  dataEncryption: undefined,
});

const CANARY = 'cmk-rotation-ring';
const OPT_OUT = 'cmk-rotation-optout';

describe('ringOf: the rollout ring by the canary tag', () => {
  it.each<[string, Record<string, string>, Ring]>([
    ['canary tag 0', { [CANARY]: '0' }, 'canary'],
    ['tag name in another case, value padded', { 'CMK-Rotation-Ring': ' 0 ' }, 'canary'],
    ['canary tag 1', { [CANARY]: '1' }, 'main'],
    ['no canary tag', {}, 'main'],
    ['another tag only', { env: 'prod' }, 'main'],
  ])('%s', (_what, tags, ring) => {
    expect(ringOf(server(tags), CANARY)).toBe(ring);
  });
});

describe('rolloutPlaceOf: the posture says the same ring, or opted out', () => {
  it.each<[string, Record<string, string>, string]>([
    ['a canary', { [CANARY]: '0' }, 'canary'],
    ['the main ring', {}, 'main'],
    ['opted out, even with the canary tag', { [CANARY]: '0', [OPT_OUT]: 'true' }, 'optedOut'],
    ['an opt-out tag that says no', { [OPT_OUT]: 'false' }, 'main'],
  ])('%s', (_what, tags, place) => {
    expect(rolloutPlaceOf(server(tags), CANARY, OPT_OUT)).toBe(place);
  });

  it('is the rollout ring for every server not opted out', () => {
    for (const tags of [{ [CANARY]: '0' }, { [CANARY]: '2' }, {}] as Record<string, string>[])
      expect(rolloutPlaceOf(server(tags), CANARY, OPT_OUT)).toBe(ringOf(server(tags), CANARY));
  });
});
