import { Faults, TokenBuckets } from '../../../local/azure/faults';

describe('fault injection', () => {
  it('affects the given share of matching requests, evenly and repeatably', () => {
    const faults = new Faults();
    faults.add({ service: 'arm', operation: 'servers.update', status: 500, rate: 0.5 });
    const statuses = Array.from(
      { length: 6 },
      () => faults.decide('arm', 'servers.update', '/x').reply?.status,
    );
    expect(statuses).toEqual([undefined, 500, undefined, 500, undefined, 500]);
    expect(faults.decide('arm', 'servers.get', '/x').reply).toBeUndefined();
    expect(faults.decide('keyvault', 'servers.update', '/x').reply).toBeUndefined();
  });

  it('stops after count, matches on path, and adds latency', () => {
    const faults = new Faults();
    faults.add({ service: '*', pathContains: 'pg-a', status: 429, retryAfterSeconds: 3, count: 1 });
    faults.add({ service: 'keyvault', latencyMs: 20 });
    expect(faults.decide('arm', 'servers.get', '/servers/pg-b').reply).toBeUndefined();
    const first = faults.decide('arm', 'servers.get', '/servers/PG-A');
    expect(first.reply).toMatchObject({
      status: 429,
      headers: { 'retry-after': '3' },
      body: { error: { code: 'TooManyRequests' } },
    });
    expect(faults.decide('arm', 'servers.get', '/servers/pg-a').reply).toBeUndefined();
    expect(faults.decide('keyvault', 'keys.get', '/keys/k').latencyMs).toBe(20);
  });

  it('refuses a rule that would do nothing', () => {
    expect(() => new Faults().add({ service: 'arm' })).toThrow('needs a status or a latencyMs');
    expect(() => new Faults().add({ service: 'arm', latencyMs: 5, afterApply: true })).toThrow(
      'an afterApply fault needs a status',
    );
  });

  it('marks an apply-then-fail rule so the request is served before its answer is replaced', () => {
    const faults = new Faults();
    faults.add({ service: 'arm', operation: 'servers.update', status: 500, afterApply: true, count: 1 });
    expect(faults.decide('arm', 'servers.update', '/x')).toMatchObject({
      afterApply: true,
      reply: { status: 500 },
    });
    expect(faults.decide('arm', 'servers.update', '/x')).toMatchObject({
      afterApply: false,
      reply: undefined,
    });
  });
});

describe("ARM's token bucket", () => {
  it('allows the burst, then refuses with the seconds until the next token, then refills', () => {
    let now = 0;
    const buckets = new TokenBuckets(() => now);
    expect([1, 2, 3].map(() => buckets.take('s:p:writes', 3, 1).ok)).toEqual([true, true, true]);
    expect(buckets.take('s:p:writes', 3, 1)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(buckets.take('other:p:writes', 3, 1).ok).toBe(true); // per subscription and principal
    now += 1000;
    expect(buckets.take('s:p:writes', 3, 1).ok).toBe(true);
  });
});
