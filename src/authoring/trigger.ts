/**
 * Schedules that start runs of a task: cron expressions or fixed intervals, registered by `flyte deploy`
 * and fired by `flyte serve`.
 *
 * @example
 * ```ts
 * env.task({ triggers: Trigger.hourly("at") }, async function report({ at }: { at: Date }) { ... });
 * new Trigger({ name: "nightly", automation: new Cron({ expression: "0 2 * * *", timezone: "Europe/Paris" }), inputs: { full: true } });
 * ```
 * @module
 */
import { Cron as Croner } from "croner";
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, isPlainObject, show, truncateDescription, validateStringRecord } from "../internal/validate.ts";

/** Bound to a trigger input, it is replaced by the scheduled fire time (a `Date`). */
export const TriggerTime: unique symbol = Symbol.for("flyte-ts.TriggerTime");
export type TriggerTime = typeof TriggerTime;

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/** name, min, max, and the names accepted in place of numbers. */
const FIELDS: readonly (readonly [string, number, number, readonly string[], number])[] = [
  ["minute", 0, 59, [], 0],
  ["hour", 0, 23, [], 0],
  ["day of month", 1, 31, [], 0],
  ["month", 1, 12, MONTHS, 1],
  ["day of week", 0, 7, DAYS, 0], // 7 is Sunday too, as in Vixie cron
];

/** Why one cron field is invalid, or undefined when it is valid. */
function cronFieldError(text: string, [name, min, max, names, nameBase]: (typeof FIELDS)[number]): string | undefined {
  const num = (s: string): number | undefined => {
    const i = names.indexOf(s.toUpperCase());
    if (i >= 0) return i + nameBase;
    return /^\d+$/.test(s) ? Number(s) : undefined;
  };
  for (const item of text.split(",")) {
    const m = /^(\*|([^-/]+)(?:-([^-/]+))?)(?:\/(\d+))?$/.exec(item);
    if (!m) return `${name} field ${show(text)} has an unsupported form ${show(item)}`;
    const [, , lo, hi, step] = m;
    if (step !== undefined && Number(step) < 1) return `${name} step in ${show(item)} must be >= 1`;
    if (lo === undefined) continue;
    // "5/10" is ambiguous across cron dialects; the portable spelling is "5-59/10".
    if (step !== undefined && hi === undefined) return `${name} step ${show(item)} needs a range or *, e.g. "*/${step}"`;
    for (const part of hi === undefined ? [lo] : [lo, hi]) {
      const n = num(part);
      if (n === undefined || n < min || n > max) return `${name} value ${show(part)} is outside ${min}-${max}`;
    }
    if (hi !== undefined && num(lo)! > num(hi)!) return `${name} range ${show(item)} runs backwards`;
  }
  return undefined;
}

function validTimezone(tz: string): boolean {
  return tz === "UTC" || Intl.supportedValuesOf("timeZone").includes(tz);
}

class CronImpl {
  /** The five fields, single-space separated. */
  readonly expression: string;
  readonly timezone: string;
  /** `"CRON_TZ=<timezone> <expression>"`. */
  readonly timezoneExpression: string;

  constructor(o: string | { expression: string; timezone?: string }) {
    const opts = typeof o === "string" ? { expression: o } : o;
    checkKeys(opts, ["expression", "timezone"], "Cron");
    const raw = opts?.expression;
    if (typeof raw !== "string") {
      throw new ValidationError(`Cron: expression must be a string, got ${show(raw)}. Use e.g. new Cron("0 * * * *").`, { field: "expression" });
    }
    const fields = raw.trim().split(/\s+/);
    const hint = 'Use 5 fields "minute hour day-of-month month day-of-week" with *, numbers, a-b, */n and lists, e.g. "0 2 * * 1-5".';
    if (fields.length !== 5) {
      throw new ValidationError(`Cron: expression ${show(raw)} has ${raw.trim() ? fields.length : 0} fields, expected 5. ${hint}`, { field: "expression" });
    }
    for (let i = 0; i < 5; i++) {
      const why = cronFieldError(fields[i]!, FIELDS[i]!);
      if (why) throw new ValidationError(`Cron: expression ${show(raw)} is invalid: ${why}. ${hint}`, { field: "expression" });
    }
    const expression = fields.join(" ");
    // The scheduler fires with croner; refuse anything it would not accept rather than failing at deploy.
    try {
      new Croner(expression, { paused: true });
    } catch {
      throw new ValidationError(`Cron: expression ${show(raw)} is not supported by the scheduler. ${hint}`, { field: "expression" });
    }
    const timezone = opts.timezone ?? "UTC";
    if (typeof timezone !== "string" || !validTimezone(timezone)) {
      throw new ValidationError(`Cron: timezone ${show(timezone)} is not a known IANA time zone. Use "UTC" or a name like "Europe/Paris".`, {
        field: "timezone",
      });
    }
    this.expression = expression;
    this.timezone = timezone;
    this.timezoneExpression = `CRON_TZ=${timezone} ${expression}`;
    Object.freeze(this);
  }
}

/** A cron schedule (5 fields) in a time zone (default UTC). */
export const Cron = callable(CronImpl);
export type Cron = CronImpl;

class FixedRateImpl {
  readonly intervalMinutes: number;
  readonly startTime?: Date;

  constructor(o: { intervalMinutes: number; startTime?: Date }) {
    checkKeys(o, ["intervalMinutes", "startTime"], "FixedRate");
    const n = o?.intervalMinutes;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
      throw new ValidationError(`FixedRate: intervalMinutes must be an integer >= 1, got ${show(n)}. Use e.g. intervalMinutes: 60.`, {
        field: "intervalMinutes",
      });
    }
    this.intervalMinutes = n;
    if (o.startTime !== undefined) {
      if (!(o.startTime instanceof Date) || Number.isNaN(o.startTime.getTime())) {
        throw new ValidationError(`FixedRate: startTime must be a valid Date, got ${show(o.startTime)}. Use e.g. startTime: new Date("2025-01-01T00:00:00Z").`, {
          field: "startTime",
        });
      }
      // Copied so the caller mutating their Date cannot move the schedule.
      this.startTime = new Date(o.startTime.getTime());
    }
    Object.freeze(this);
  }
}

/** Fires every `intervalMinutes`, from `startTime` or else one interval after activation. */
export const FixedRate = callable(FixedRateImpl);
export type FixedRate = FixedRateImpl;

export interface TriggerOptions {
  /** Names the trigger; runs it starts are named `<name>-<yyyyMMddHHmm>`. */
  name: string;
  automation: Cron | FixedRate;
  /** Truncated to 255 characters. @default "" */
  description?: string;
  /** Active as soon as it is deployed. @default true */
  autoActivate?: boolean;
  /** Input values for the runs; a value may be `TriggerTime`. @default {} */
  inputs?: Record<string, unknown>;
  /** @default undefined */
  envVars?: Record<string, string>;
  /** Overrides the task's `interruptible`. @default undefined */
  interruptible?: boolean;
  /** @default false */
  overwriteCache?: boolean;
  /** @default undefined */
  queue?: string;
  /** Most concurrently running actions the trigger's runs may have; 0 = unlimited. @default undefined */
  maxActionConcurrency?: number;
  /** @default undefined */
  labels?: Record<string, string>;
  /** @default undefined */
  annotations?: Record<string, string>;
  /** @default undefined */
  customContext?: Record<string, string>;
}

const TRIGGER_KEYS = [
  "name", "automation", "description", "autoActivate", "inputs", "envVars", "interruptible", "overwriteCache",
  "queue", "maxActionConcurrency", "labels", "annotations", "customContext",
] as const;

function optionalBoolean(v: unknown, option: string): boolean | undefined {
  if (v !== undefined && typeof v !== "boolean") {
    throw new ValidationError(`Trigger: ${option} must be true or false, got ${show(v)}.`, { field: option });
  }
  return v;
}

type HelperOptions = Partial<Omit<TriggerOptions, "automation">>;

class TriggerImpl {
  readonly name: string;
  readonly automation: Cron | FixedRate;
  readonly description: string;
  readonly autoActivate: boolean;
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly envVars?: Readonly<Record<string, string>>;
  readonly interruptible?: boolean;
  readonly overwriteCache: boolean;
  readonly queue?: string;
  readonly maxActionConcurrency?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly customContext?: Readonly<Record<string, string>>;

  constructor(o: TriggerOptions) {
    checkKeys(o, TRIGGER_KEYS, "Trigger");
    if (typeof o?.name !== "string" || o.name.trim() === "") {
      throw new ValidationError(`Trigger: name must be a non-empty string, got ${show(o?.name)}. Use e.g. name: "nightly".`, { field: "name" });
    }
    this.name = o.name;
    if (!(o.automation instanceof Cron) && !(o.automation instanceof FixedRate)) {
      throw new ValidationError(
        `Trigger: automation must be a Cron or a FixedRate, got ${show(o.automation)}. Use e.g. automation: new Cron("0 * * * *") or new FixedRate({ intervalMinutes: 60 }).`,
        { field: "automation" },
      );
    }
    this.automation = o.automation;
    this.description = truncateDescription(o.description, "Trigger") ?? "";
    this.autoActivate = optionalBoolean(o.autoActivate, "autoActivate") ?? true;
    if (o.inputs !== undefined && !isPlainObject(o.inputs)) {
      throw new ValidationError(`Trigger: inputs must be an object of input values, got ${show(o.inputs)}. Use e.g. inputs: { at: TriggerTime }.`, {
        field: "inputs",
      });
    }
    this.inputs = Object.freeze({ ...o.inputs });
    const envVars = validateStringRecord(o.envVars, "Trigger", "envVars");
    if (envVars) this.envVars = envVars;
    const interruptible = optionalBoolean(o.interruptible, "interruptible");
    if (interruptible !== undefined) this.interruptible = interruptible;
    this.overwriteCache = optionalBoolean(o.overwriteCache, "overwriteCache") ?? false;
    if (o.queue !== undefined) {
      if (typeof o.queue !== "string" || o.queue === "") {
        throw new ValidationError(`Trigger: queue must be a non-empty string, got ${show(o.queue)}.`, { field: "queue" });
      }
      this.queue = o.queue;
    }
    if (o.maxActionConcurrency !== undefined) {
      const n = o.maxActionConcurrency;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
        throw new ValidationError(`Trigger: maxActionConcurrency must be an integer >= 0 (0 = unlimited), got ${show(n)}. Use e.g. maxActionConcurrency: 10.`, {
          field: "maxActionConcurrency",
        });
      }
      // With one slot, the run's root action occupies it and its children can never start.
      if (n === 1) {
        throw new ValidationError("Trigger: maxActionConcurrency 1 deadlocks (the parent action holds the only slot its children need). Use 0 (unlimited) or >= 2.", {
          field: "maxActionConcurrency",
        });
      }
      this.maxActionConcurrency = n;
    }
    for (const k of ["labels", "annotations", "customContext"] as const) {
      const v = validateStringRecord(o[k], "Trigger", k);
      if (v) this[k] = v;
    }
    Object.freeze(this);
  }

  /** Every hour on the hour ("0 * * * *"), named "hourly". */
  static hourly(triggerTimeInputKey?: string, o?: HelperOptions): Trigger {
    return helper("hourly", "0 * * * *", "A trigger that runs every hour", triggerTimeInputKey, o);
  }
  /** Every day at midnight UTC ("0 0 * * *"), named "daily". */
  static daily(triggerTimeInputKey?: string, o?: HelperOptions): Trigger {
    return helper("daily", "0 0 * * *", "A trigger that runs daily at midnight", triggerTimeInputKey, o);
  }
  /** Every Sunday at midnight UTC ("0 0 * * 0"), named "weekly". */
  static weekly(triggerTimeInputKey?: string, o?: HelperOptions): Trigger {
    return helper("weekly", "0 0 * * 0", "A trigger that runs weekly on Sundays at midnight", triggerTimeInputKey, o);
  }
  /** The 1st of every month at midnight UTC ("0 0 1 * *"), named "monthly". */
  static monthly(triggerTimeInputKey?: string, o?: HelperOptions): Trigger {
    return helper("monthly", "0 0 1 * *", "A trigger that runs monthly on the 1st at midnight", triggerTimeInputKey, o);
  }
  /** Every minute ("* * * * *"), named "minutely". */
  static minutely(triggerTimeInputKey?: string, o?: HelperOptions): Trigger {
    return helper("minutely", "* * * * *", "A trigger that runs every minute", triggerTimeInputKey, o);
  }
}

function helper(name: string, expression: string, description: string, key: string | undefined, o: HelperOptions = {}): Trigger {
  const owner = `Trigger.${name}`;
  checkKeys(o, TRIGGER_KEYS.filter((k) => k !== "automation"), owner);
  if (key !== undefined && (typeof key !== "string" || key === "")) {
    throw new ValidationError(`${owner}: triggerTimeInputKey must be an input name, got ${show(key)}. Use e.g. ${owner}("at").`, {
      field: "triggerTimeInputKey",
    });
  }
  const inputs = { ...(key !== undefined ? { [key]: TriggerTime } : {}), ...o.inputs };
  return new Trigger({ name, description, ...o, automation: new Cron(expression), inputs });
}

/** Starts runs of the task(s) it is attached to on a schedule. */
export const Trigger = callable(TriggerImpl);
export type Trigger = TriggerImpl;

/**
 * Checks a trigger against the task it is attached to: every `inputs` key must be a task input, and every
 * required input must have a value, since nobody is there to supply one when the schedule fires.
 */
export function validateTriggerInputs(trigger: Trigger, inputNames: readonly string[], requiredNames: readonly string[], taskName: string): void {
  const owner = `Trigger "${trigger.name}" on task "${taskName}"`;
  for (const key of Object.keys(trigger.inputs)) {
    if (!inputNames.includes(key)) {
      throw new ValidationError(
        `${owner}: input ${show(key)} is not an input of the task. Task inputs: ${inputNames.length ? inputNames.join(", ") : "(none)"}.`,
        { field: "inputs" },
      );
    }
  }
  const missing = requiredNames.filter((n) => !(n in trigger.inputs));
  if (missing.length) {
    throw new ValidationError(
      `${owner}: required input${missing.length > 1 ? "s" : ""} ${missing.map((n) => show(n)).join(", ")} ha${missing.length > 1 ? "ve" : "s"} no value. Bind ${missing.length > 1 ? "them" : "it"} in the trigger's inputs, e.g. inputs: { ${missing[0]}: ... }, or give the task input a default.`,
      { field: "inputs" },
    );
  }
}
