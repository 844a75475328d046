import { Cron } from 'croner';
import type { HostContext } from './context';
import { typed } from './invoke';

/** The TimerInfo the host hands a timer function (`ScheduleStatus` as the Functions host shapes it). */
export function timerInfo(last: Date, next: Date | null, isPastDue: boolean): Record<string, unknown> {
  return {
    Schedule: { AdjustForDST: true },
    ScheduleStatus: {
      Last: last.toISOString(),
      Next: next?.toISOString() ?? null,
      LastUpdated: new Date().toISOString(),
    },
    IsPastDue: isPastDue,
  };
}

/** The app setting that disables function `name`'s trigger. */
export function disabledSetting(name: string): string {
  return `AzureWebJobs.${name}.Disabled`;
}

/**
 * Whether the app setting `AzureWebJobs.<name>.Disabled` turns a function's trigger off. The runtime then
 * ignores the trigger; the admin API (master key) still runs the function. Source: Microsoft Learn, "How
 * to disable functions in Azure Functions" (the setting, set to true; the master key still runs it).
 */
export function isDisabled(settings: Readonly<Record<string, string | undefined>>, name: string): boolean {
  const value = settings[disabledSetting(name)]?.trim().toLowerCase();
  return value === 'true' || value === '1';
}

/**
 * Timers: NCRONTAB (six fields, seconds first) through croner, except those disabled by their app
 * setting. Returns the schedules (to stop them).
 */
export function startTimers(
  ctx: HostContext,
  settings: Readonly<Record<string, string | undefined>>,
  log: (line: string) => void,
): Cron[] {
  const { registry, run } = ctx;
  const crons: Cron[] = [];
  for (const fn of registry.functions.values()) {
    if (fn.trigger.type !== 'timerTrigger') continue;
    if (isDisabled(settings, fn.metadata.name)) {
      log(`timer '${fn.metadata.name}' is disabled (${disabledSetting(fn.metadata.name)}): not scheduled`);
      continue;
    }
    const schedule = String(fn.trigger['schedule']);
    let last: Date | undefined;
    const fire = (scheduled: Date, isPastDue: boolean) => {
      const cron = crons.find((c) => c.name === fn.metadata.name);
      const next = cron?.nextRun() ?? null;
      const input = timerInfo(last ?? scheduled, next, isPastDue);
      last = scheduled;
      void run(fn, typed(input)).catch(() => undefined);
    };
    const cron = new Cron(schedule, { name: fn.metadata.name, protect: true }, (self: Cron) => {
      const scheduled = self.currentRun() ?? new Date();
      fire(scheduled, Date.now() - scheduled.getTime() > 1000);
    });
    crons.push(cron);
    if (fn.trigger['runOnStartup'] === true) setImmediate(() => fire(new Date(), false));
  }
  return crons;
}
