import { firstPatchAt, lastVerificationAt, type ArmLogEntry } from '../../../bench/armTimeline';

const SUB = '/subscriptions/6f1c2b9e-0000-4000-8000-000000000001/resourceGroups/rg-pg-1';
const A = `${SUB}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-a`;
const B = `${SUB}/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg-b`;
const OP =
  '/subscriptions/6f1c2b9e-0000-4000-8000-000000000001/providers/Microsoft.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/op-1';
const Q = '?api-version=2025-08-01';
const T0 = Date.parse('2026-12-04T21:00:00.000Z');

/** A log entry `ms` after T0. */
const at = (ms: number, method: string, path: string, status = 200, service = 'arm'): ArmLogEntry => ({
  at: new Date(T0 + ms).toISOString(),
  service,
  method,
  path,
  status,
});

describe('what ARM saw, read from the stand-ins request log', () => {
  it('takes the first PATCH ARM received at or after the event', () => {
    const log = [at(-50, 'PATCH', A + Q), at(900, 'PATCH', B + Q, 202), at(300, 'PATCH', A + Q, 202)];
    expect(firstPatchAt(log, T0)).toBe(T0 + 300);
    expect(firstPatchAt([at(10, 'GET', A + Q)], T0)).toBeUndefined();
  });

  it.each<[string, ArmLogEntry[], number | undefined, string | undefined]>([
    [
      'the latest over the fleet of each server’s last GET',
      [
        at(100, 'GET', A + Q),
        at(200, 'PATCH', A + Q, 202),
        at(2500, 'GET', A + Q),
        at(3100, 'GET', B + Q),
        at(150, 'GET', B + Q),
      ],
      3100,
      B,
    ],
    [
      'a throttled or failed GET is not a verification',
      [
        at(100, 'GET', A + Q),
        at(2000, 'GET', A + Q),
        at(2600, 'GET', B + Q),
        at(4000, 'GET', B + Q, 429),
        at(4100, 'GET', A + Q, 500),
      ],
      2600,
      B,
    ],
    [
      'operation-status reads and other services do not count',
      [
        at(1000, 'GET', A + Q),
        at(1200, 'GET', B + Q),
        at(5000, 'GET', OP + Q),
        at(6000, 'GET', A + Q, 200, 'resourcegraph'),
      ],
      1200,
      B,
    ],
    [
      'ids compare case-insensitively, without the query or a trailing slash',
      [at(700, 'GET', `${A.toLowerCase()}/${Q}`), at(800, 'GET', `${B.toUpperCase()}${Q}`)],
      800,
      B,
    ],
    [
      'a request path with a malformed escape is compared as sent',
      [at(300, 'GET', `${A}%zz${Q}`), at(500, 'GET', A + Q), at(600, 'GET', B + Q)],
      600,
      B,
    ],
    [
      'reads before the event are ignored',
      [at(-100, 'GET', A + Q), at(400, 'GET', B + Q)],
      undefined,
      undefined,
    ],
  ])('%s', (_, log, expectedMs, expectedServer) => {
    const seen = lastVerificationAt(log, [A, B], T0);
    expect(seen.at).toBe(expectedMs === undefined ? undefined : T0 + expectedMs);
    expect(seen.serverId).toBe(expectedServer);
  });

  it('leaves the fleet unverified, naming the server, when one was never read', () => {
    const seen = lastVerificationAt([at(100, 'GET', A + Q)], [A, B], T0);
    expect(seen).toEqual({ at: undefined, serverId: undefined, unread: [B] });
  });
});
