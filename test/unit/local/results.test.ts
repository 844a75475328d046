import { readRunOutput } from '../../../local/results';

/** `npm start` reads the run's output JSON itself (local/results.ts), refusing one it cannot judge. */
const server = {
  serverId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/a',
  serverName: 'a',
  outcome: 'failed',
  reasonCode: 'KeyAccessDenied',
  slots: [{ slot: 'primary', from: 'v1', to: undefined }],
};
const output = {
  status: 'completedWithFailures',
  targetVersion: 'v2',
  counts: { updated: 1, verified: 0, failed: 1, skipped: 0 },
  servers: [server],
};

describe('readRunOutput', () => {
  it('reads an output with the fields the checks use', () => {
    expect(readRunOutput(output)).toEqual(output);
    expect(readRunOutput({ status: 'failed', servers: [] }).targetVersion).toBeUndefined();
  });

  it.each([
    ['not an object', null, /is not a JSON object/],
    ['no status', { ...output, status: undefined }, /has no status/],
    ['a numeric target version', { ...output, targetVersion: 2 }, /targetVersion that is not a string/],
    [
      'counts without failed',
      { ...output, counts: { updated: 1, verified: 0, skipped: 0 } },
      /counts without/,
    ],
    ['no servers list', { ...output, servers: undefined }, /has no servers list/],
    [
      'a server without a name',
      { ...output, servers: [{ ...server, serverName: undefined }] },
      /lists a server/,
    ],
    [
      'a slot without its name',
      { ...output, servers: [{ ...server, slots: [{ from: 'v1' }] }] },
      /lists a server/,
    ],
  ])('refuses an output with %s', (_what, raw, message) => {
    expect(() => readRunOutput(raw)).toThrow(message);
  });
});
