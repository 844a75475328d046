import { rolloutLaneEntity } from '../../../../shared/rotation/entities/rolloutLane';
import type { LaneState } from '../../../../shared/rotation/lane';
import { runEntityBatch, type EntityOperation } from '../../../support/entity';

const KEY = '6f1c2b9e-3d4a-4e8b-9a1f-0c2d3e4f5a6b:0d1c2b3a-4e5f-5a6b-8c7d-9e0f1a2b3c4d';
const batch = (state: LaneState | undefined, operations: EntityOperation[]) =>
  runEntityBatch<LaneState>(rolloutLaneEntity, { name: 'rolloutlane', key: KEY }, state, operations);
const acquireOf = (holder: string, inFlight: number, want: number) => ({
  name: 'acquire',
  input: { holder, inFlight, want, limit: 10 },
});

describe('rolloutLane entity: the in-flight budget a subscription’s batches share in one phase', () => {
  it('answers each acquire in order from the state the one before left', async () => {
    const out = await batch(undefined, [acquireOf('batch-a', 0, 8), acquireOf('batch-b', 0, 8)]);
    expect(out.results.map((r) => r.value)).toEqual([8, 2]);
    expect(out.state).toEqual({ held: { 'batch-a': 8, 'batch-b': 2 }, closed: [] });
  });

  it('takes a report and a close as signals: the permits go to the next acquire', async () => {
    const out = await batch({ held: { 'batch-a': 8, 'batch-b': 2 }, closed: [] }, [
      { name: 'report', input: { holder: 'batch-a', inFlight: 3 }, signal: true },
      { name: 'close', input: { holder: 'batch-b' }, signal: true },
      acquireOf('batch-c', 0, 10),
    ]);
    expect(out.results[2]?.value).toBe(7);
    expect(out.state).toEqual({ held: { 'batch-a': 3, 'batch-c': 7 }, closed: ['batch-b'] });
  });

  it('keeps its closed batches while the phase runs, and is gone at its end', async () => {
    const out = await batch({ held: { 'batch-a': 4 }, closed: [] }, [
      { name: 'close', input: { holder: 'batch-a' }, signal: true },
      // A message of the closed batch that came after its close (sent before it, by the batch).
      { name: 'report', input: { holder: 'batch-a', inFlight: 4 }, signal: true },
      acquireOf('batch-b', 0, 10),
    ]);
    expect(out.results[2]?.value).toBe(10);
    expect(out.exists).toBe(true);
    const ended = await batch(out.state, [{ name: 'end', signal: true }]);
    expect(ended.exists).toBe(false);
    // A batch's close or report that comes after the rotation's end does not make the lane again.
    const late = await batch(undefined, [
      { name: 'close', input: { holder: 'batch-b' }, signal: true },
      { name: 'report', input: { holder: 'batch-b', inFlight: 3 }, signal: true },
    ]);
    expect(late.exists).toBe(false);
  });

  it('answers read with its state, for operators', async () => {
    const out = await batch({ held: { 'batch-a': 4 }, closed: [] }, [{ name: 'read' }]);
    expect(out.results[0]).toEqual({ isError: false, value: { held: { 'batch-a': 4 }, closed: [] } });
  });

  it.each<[string, EntityOperation]>([
    ['an unknown operation (a typo)', { name: 'aquire', input: acquireOf('batch-a', 0, 1).input }],
    ['an acquire without input', { name: 'acquire' }],
    [
      'an acquire of a fraction',
      { name: 'acquire', input: { holder: 'batch-a', inFlight: 0, want: 0.5, limit: 10 } },
    ],
  ])('refuses %s with an error to its caller and keeps serving the others', async (_, bad) => {
    const out = await batch(undefined, [bad, acquireOf('batch-a', 0, 1)]);
    expect(out.results[0]).toMatchObject({ isError: true, value: { code: 'LaneInputInvalid' } });
    expect(out.results[1]).toEqual({ isError: false, value: 1 });
  });
});
