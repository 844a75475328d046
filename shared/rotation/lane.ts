/**
 * The in-flight budget of one subscription's lane in one rollout phase: `CMK_MAX_PARALLEL_UPDATES`
 * shared by the lane's batches (a durable entity, shared/rotation/entities/rolloutLane.ts). Pure: the
 * entity feeds it its state and the request.
 *
 * Why: split evenly, a third of the setting per batch, the budget sat idle where it was not needed.
 * The governor hands a subscription's start times out batch by batch, so one batch at a time has its
 * starts due and it alone may use only its third; and a batch finishing its last servers (its tail)
 * or waiting for the rotation to replace it holds a third nobody uses. Measured with operations of
 * 20 ± 5 s and a 5 s poll, 600 servers of one subscription had 99 in flight at best and fell to 2–20
 * for 10–20 s at each turn of its batches (README, Scale).
 *
 * Each batch reports how many servers it has in flight itself (a count, not a difference), so a
 * message that was answered late or not at all cannot leak permits: the batch's next message sets
 * its count again. A batch that ended is closed for good: a message of it that arrives after its
 * close (a failed batch is closed by its rotation, and messages from two senders may arrive in either
 * order) changes nothing. Permits are only handed out here, so the lane's batches together never have
 * more than the limit in flight, except where a batch gave up on its lane (rolloutBatch.ts,
 * `LANE_ATTEMPTS`) or a failed batch's servers still run after its close.
 */

/** The lane's whole state: what each batch holds (entity state stays small: a few batches at once). */
export interface LaneState {
  /** Batch instance id → servers it has in flight, with what it was granted since it last said. */
  readonly held: Readonly<Record<string, number>>;
  /** Batches that ended: their later messages are ignored. */
  readonly closed: readonly string[];
}

export const NEW_LANE: LaneState = { held: {}, closed: [] };

/** `acquire`: a batch's count of servers in flight and how many more it would start now. */
export interface AcquireRequest {
  /** The batch's instance id. */
  readonly holder: string;
  readonly inFlight: number;
  readonly want: number;
  /** Most servers of the lane in flight together (`CMK_MAX_PARALLEL_UPDATES`). */
  readonly limit: number;
}

/** `report` (a batch's count, when it has nothing to start) and `close` (the batch ended). */
export interface HolderReport {
  readonly holder: string;
  readonly inFlight: number;
}

/** Why a lane operation's input was refused (the entity answers its caller with it). */
export class LaneInputError extends Error {
  readonly code = 'LaneInputInvalid';
  constructor(message: string) {
    super(message);
    this.name = 'LaneInputError';
  }
}

/** Largest limit and count a lane accepts: `CMK_MAX_PARALLEL_UPDATES` is at most 500. */
export const MAX_LANE_COUNT = 1000;

const total = (held: Readonly<Record<string, number>>): number =>
  Object.values(held).reduce((n, v) => n + v, 0);

/** Sets the holder's count, then grants what the limit leaves free, up to what it wants. */
export function acquire(state: LaneState, request: AcquireRequest): { state: LaneState; granted: number } {
  checkHolder(request.holder);
  checkCount('inFlight', request.inFlight);
  checkCount('want', request.want);
  checkCount('limit', request.limit);
  if (state.closed.includes(request.holder)) return { state, granted: 0 };
  const held = { ...state.held, [request.holder]: request.inFlight };
  const granted = Math.max(0, Math.min(request.want, request.limit - total(held)));
  held[request.holder] = request.inFlight + granted;
  return { state: { ...state, held }, granted };
}

/** Sets the holder's count (servers finished since it last said go back to the lane). */
export function report(state: LaneState, r: HolderReport): LaneState {
  checkHolder(r.holder);
  checkCount('inFlight', r.inFlight);
  if (state.closed.includes(r.holder)) return state;
  return { ...state, held: { ...state.held, [r.holder]: r.inFlight } };
}

/** The batch ended: whatever it held goes back. */
export function close(state: LaneState, holder: string): LaneState {
  checkHolder(holder);
  const { [holder]: _gone, ...held } = state.held;
  return { held, closed: state.closed.includes(holder) ? state.closed : [...state.closed, holder] };
}

/** The state an entity holds, read defensively: a missing or foreign state starts afresh. */
export function laneStateOf(raw: unknown): LaneState {
  if (typeof raw !== 'object' || raw === null) return NEW_LANE;
  const held = (raw as { held?: unknown }).held;
  if (typeof held !== 'object' || held === null || Array.isArray(held)) return NEW_LANE;
  const kept: Record<string, number> = {};
  for (const [k, v] of Object.entries(held))
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_LANE_COUNT) kept[k] = v;
  const closed = (raw as { closed?: unknown }).closed;
  return {
    held: kept,
    closed: Array.isArray(closed) ? closed.filter((c): c is string => typeof c === 'string') : [],
  };
}

function checkHolder(holder: unknown): void {
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 200)
    throw new LaneInputError('holder must be a batch instance id (1–200 characters)');
}

function checkCount(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LANE_COUNT)
    throw new LaneInputError(`${name} must be an integer from 0 to ${MAX_LANE_COUNT}`);
}
