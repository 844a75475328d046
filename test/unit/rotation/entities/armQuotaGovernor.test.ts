import { armQuotaGovernor } from '../../../../shared/rotation/entities/armQuotaGovernor';
import { NEW_GOVERNOR, type GovernorState, type Reservation } from '../../../../shared/rotation/governor';
import { runEntityBatch } from '../../../support/entity';

const T0 = Date.parse('2026-12-05T10:00:00Z');
const SUB = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b';

/** One batch of operations through the entity, as the host hands it: state in, state and results out. */
async function batch(
  state: GovernorState | undefined,
  operations: { name: string; input?: unknown; signal?: boolean }[],
  now = T0,
) {
  const out = await runEntityBatch<GovernorState>(
    armQuotaGovernor(() => now),
    { name: 'armquotagovernor', key: SUB },
    state,
    operations,
  );
  return { state: out.state, results: out.results };
}

const reserveOf = (servers: number) => ({
  name: 'reserve',
  input: { servers, readsPerServer: 3, writesPerServer: 1, requester: 'cmk-batch:x' },
});

describe('armQuotaGovernor entity: one per subscription, shared by every rotation', () => {
  it('answers each reserve of a batch in order, the second after the first, and keeps the state', async () => {
    const out = await batch(undefined, [reserveOf(75), reserveOf(2)]);
    const [first, second] = out.results.map((r) => (r.value as Reservation).slots);
    expect(first?.every((t) => t === T0)).toBe(true);
    // 75 × 3 = 225 read tokens (all but the headroom) are gone: the next servers come with the refill.
    expect(second).toEqual([T0 + 120, T0 + 240]);
    expect(out.state?.reserved).toBe(77);
    // The next batch of operations starts from that state.
    const next = await batch(out.state, [reserveOf(1)]);
    expect((next.results[0]?.value as Reservation).slots).toEqual([T0 + 360]);
  });

  it('takes a 429 signalled by a server and holds the starts handed out after it', async () => {
    const out = await batch(NEW_GOVERNOR, [
      { name: 'observe', input: { at: T0, retryAfterSeconds: 20 }, signal: true },
      reserveOf(1),
    ]);
    expect((out.results[1]?.value as Reservation).slots).toEqual([T0 + 20_000]);
    expect(out.state?.throttled).toBe(1);
  });

  it("takes a burst's arrival signalled by its first server and starts the next servers later by the wait", async () => {
    const out = await batch(NEW_GOVERNOR, [
      reserveOf(60),
      { name: 'observe', input: { at: T0 + 2_000, slot: T0 }, signal: true },
      reserveOf(1),
    ]);
    const first = out.results[0]?.value as Reservation;
    expect(first.reportArrival).toEqual([0]);
    // 60 × 3 reads of the 225 at once leave 45; unreported, the next would start at T0. ARM's read
    // bucket lost 2 s of refill (50 tokens): 5 short, and 3 more for it, 8 / 25 s later.
    expect((out.results[2]?.value as Reservation).slots).toEqual([T0 + 320]);
    expect(out.state?.arrivalLagMs).toBe(2_000);
  });

  it('answers read with its state, for operators', async () => {
    const out = await batch(NEW_GOVERNOR, [{ name: 'read' }]);
    expect(out.results[0]).toEqual({ isError: false, value: NEW_GOVERNOR });
  });

  it.each<[string, { name: string; input?: unknown }]>([
    ['an unknown operation (a typo)', { name: 'reserv', input: reserveOf(1).input }],
    ['a reserve without input', { name: 'reserve' }],
    ['a reserve of no servers', { name: 'reserve', input: { ...reserveOf(1).input, servers: 0 } }],
    ['an observe without a time', { name: 'observe', input: { reads: 3 } }],
  ])('refuses %s with an error to its caller and keeps serving the others', async (_, bad) => {
    const out = await batch(NEW_GOVERNOR, [bad, reserveOf(1)]);
    expect(out.results[0]?.isError).toBe(true);
    expect(out.results[1]).toEqual({ isError: false, value: { slots: [T0], reportArrival: [0] } });
    expect(out.state?.reserved).toBe(1);
  });
});
