/**
 * When a registered trigger fires (API.md §9), from the automation its spec records (deploy/task-spec.ts
 * `triggerSpec`): a cron expression in a time zone, evaluated by croner (time zones, daylight saving time and
 * `CRON_TZ` are the library's, not ours), or a fixed rate counted from `startTime`, else from when the trigger was
 * activated (the first fire is one interval after activation).
 * @module
 */
import { Cron as Croner } from "croner";

/** A trigger's automation as its spec records it. */
export type AutomationSpec = { cron: string; timezone?: string } | { intervalMinutes: number; startTime?: string };

/** Fire times of one trigger: `next(after)` is the first fire time strictly after `after` (epoch ms), if any. */
export interface FireSchedule {
  next(after: number): number | undefined;
  /** For messages: `cron "0 * * * *" (Europe/Berlin)` / `every 5 min`. */
  readonly text: string;
  readonly timezone: string;
}

/**
 * How long a FixedRate minute lasts, in ms. Only tests change it (`FLYTE_TEST_MINUTE_MS`), to see a
 * `FixedRate({ intervalMinutes: 1 })` fire several times in seconds with the real clock.
 */
export function fixedRateMinuteMs(): number {
  const v = Number(process.env.FLYTE_TEST_MINUTE_MS);
  return Number.isFinite(v) && v >= 100 ? v : 60_000;
}

/** Reads the automation of a trigger spec; undefined when the spec does not hold one this scheduler knows. */
export function automationOf(spec: Record<string, unknown>): AutomationSpec | undefined {
  const a = spec.automation as Record<string, unknown> | undefined;
  if (!a || typeof a !== "object") return undefined;
  if (typeof a.cron === "string") return { cron: a.cron, ...(typeof a.timezone === "string" ? { timezone: a.timezone } : {}) };
  if (typeof a.intervalMinutes === "number" && a.intervalMinutes >= 1) {
    return { intervalMinutes: a.intervalMinutes, ...(typeof a.startTime === "string" ? { startTime: a.startTime } : {}) };
  }
  return undefined;
}

/** The fire times of `a`; `activatedAt` anchors a FixedRate without startTime. */
export function fireSchedule(a: AutomationSpec, activatedAt: number): FireSchedule {
  if ("cron" in a) {
    const timezone = a.timezone ?? "UTC";
    const cron = new Croner(a.cron, { timezone, paused: true });
    return {
      text: `cron "${a.cron}"`,
      timezone,
      next: (after) => cron.nextRun(new Date(after))?.getTime(),
    };
  }
  const every = a.intervalMinutes * fixedRateMinuteMs();
  const start = a.startTime !== undefined ? Date.parse(a.startTime) : undefined;
  // With a startTime the first fire is at startTime; without one, one interval after activation.
  const anchor = start ?? activatedAt;
  const first = start !== undefined ? 0 : 1;
  return {
    text: `every ${a.intervalMinutes} min${start !== undefined ? ` from ${new Date(start).toISOString()}` : ""}`,
    timezone: "UTC",
    next: (after) => {
      const k = Math.max(first, Math.floor((after - anchor) / every) + 1);
      return anchor + k * every;
    },
  };
}
