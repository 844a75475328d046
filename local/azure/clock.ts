/**
 * The stand-ins' notion of "now": real time plus an offset that tests move forward to reach
 * near-expiry and expiry without waiting. Everything time-based in local/azure reads this clock.
 */
export class Clock {
  private offsetMs = 0;

  constructor(start?: number) {
    if (start !== undefined) this.offsetMs = start - Date.now();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('the clock only moves forward');
    this.offsetMs += ms;
  }
}

interface Task {
  readonly dueAt: number;
  readonly run: () => void | Promise<void>;
  readonly label: string;
}

/**
 * Runs tasks when the clock reaches them: checked on a short real-time tick and right after the clock
 * is advanced, so both waiting and jumping ahead work.
 */
export class Scheduler {
  private tasks: Task[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly periodic: (() => void)[] = [];
  private running = false;

  constructor(
    private readonly clock: Clock,
    tickMs = 25,
  ) {
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
  }

  at(dueAt: number, label: string, run: () => void | Promise<void>): void {
    this.tasks.push({ dueAt, run, label });
  }

  after(ms: number, label: string, run: () => void | Promise<void>): void {
    this.at(this.clock.now() + ms, label, run);
  }

  /** Called on every tick before due tasks run (time-driven state: expiry, inaccessibility). */
  everyTick(fn: () => void): void {
    this.periodic.push(fn);
  }

  pending(): number {
    return this.tasks.length;
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const fn of this.periodic) fn();
      const now = this.clock.now();
      const due = this.tasks.filter((t) => t.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt);
      this.tasks = this.tasks.filter((t) => t.dueAt > now);
      for (const t of due) {
        try {
          await t.run();
        } catch (e) {
          console.error(`[local-azure] scheduled task ${t.label} failed:`, e);
        }
      }
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

const DURATION =
  /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** ISO-8601 duration (as Key Vault rotation policies use: P30D, P2Y, PT1H) to milliseconds. */
export function parseIsoDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (m === null || text.trim() === 'P' || text.trim().endsWith('T'))
    throw new Error(`invalid ISO-8601 duration "${text}"`);
  const n = (i: number) => Number(m[i] ?? 0);
  const days = n(1) * 365 + n(2) * 30 + n(3) * 7 + n(4);
  return ((days * 24 + n(5)) * 60 + n(6)) * 60_000 + n(7) * 1000;
}

/** Absolute time from an ISO date or a relative `now-200d` / `now+1y` / `now` against the clock. */
export function parseFleetTime(text: string, now: number): number {
  const rel = /^now(?:([+-])(\d+(?:\.\d+)?)([smhdwy]))?$/i.exec(text.trim());
  if (rel !== null) {
    if (rel[1] === undefined) return now;
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 }[
      (rel[3] ?? 's').toLowerCase() as 's'
    ];
    return now + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * unit;
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`invalid time "${text}" (ISO-8601 or now±N[smhdwy])`);
  return t;
}
