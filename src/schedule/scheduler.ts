/**
 * The trigger scheduler that `flyte serve` runs (API.md §9, §16): it fires the active triggers registered by
 * `flyte deploy`, each fire time once, whatever number of schedulers share the store.
 *
 * A fire goes in two steps. First it is recorded in the store (`recordFire`, state `pending`, under the run name it
 * will get): the store's key on (task, trigger, fire time) lets exactly one of several schedulers record it. Then
 * the run is created (`launch`) and the fire marked `created` (or `failed`, with why). A scheduler that dies between
 * the two leaves a pending fire whose claim expires; the next scheduler to look (another one, or this one
 * restarted) takes it over and creates the run, unless a run of that name already exists (the scheduler died after
 * creating it), in which case it only marks the fire. So a crash neither loses nor duplicates a fire.
 *
 * Fire times are not back-filled. Of the fire times a pass finds passed since the last one it handled, only the
 * latest fires, and only if it is at most `graceMs` old; the others were missed (no scheduler ran then, or this one
 * was stopped: a laptop asleep), and one log line per trigger says how many.
 *
 * Time comes from a `Clock`, so tests run a day of fires in milliseconds: `tick()` does one pass at the clock's
 * now; `start()` loops, sleeping until the next fire time (or `pollMs`, to see triggers deployed or toggled).
 * @module
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { FireRow, RunStore, TriggerRow } from "../store/store.ts";
import { automationOf, fireSchedule, type FireSchedule } from "./fire-times.ts";

/** Where the scheduler reads the time and waits. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    }),
};

/** Creates the run of a recorded fire, named `fire.runName`, of `trigger`'s task at `fire.version`. */
export type Launch = (fire: FireRow, trigger: TriggerRow) => Promise<void>;

export interface SchedulerOptions {
  store: RunStore;
  scope: { project: string; domain: string };
  launch: Launch;
  /** @default the system clock */
  clock?: Clock;
  /** Where the scheduler says what it does (fires, skipped fires, failures). @default nothing */
  log?: (line: string) => void;
  /** Names this scheduler in fire claims. @default `<host>:<pid>:<random>` */
  owner?: string;
  /** A fire noticed later than this after its time is skipped, not fired. @default 60_000 */
  graceMs?: number;
  /** How long a recorded fire stays this scheduler's before another may take it over. @default 60_000 */
  claimTtlMs?: number;
  /** The longest the loop sleeps: how soon it sees triggers deployed or toggled meanwhile. @default 5_000 */
  pollMs?: number;
}

/** What one pass did. */
export interface TickResult {
  /** Fires this scheduler recorded and launched (or took over), in fire-time order. */
  fired: FireRow[];
  /** Fires skipped (not back-filled), per `<task>/<trigger>`. */
  missed: Record<string, number>;
}

interface Cursor {
  /** What the schedule was built from: a redeploy that changes it, or a re-activation, starts over. */
  basis: string;
  schedule: FireSchedule;
  /** Fire times up to here have been handled. */
  at: number;
}

const RUN_NAME_MAX = 63;
/** Counting skipped fires stops here (a minutely trigger after a year off). */
const MISSED_CAP = 100_000;

/** `hourly-202601011300`: the trigger's name as a run name, then the fire time in UTC to the minute. */
export function fireRunName(trigger: string, fireTime: number): string {
  const d = new Date(fireTime);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const stamp = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
  // Room for "-<stamp>" and a collision suffix "-99"; run names are lowercase letters, digits and "-".
  const base = trigger.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "").slice(0, RUN_NAME_MAX - stamp.length - 4).replace(/-$/, "");
  return `${base || "trigger"}-${stamp}`;
}

/** The run names a fire may take: `<name>`, then `<name>-2` ... when a run or another fire has it. */
function runNameCandidates(trigger: string, fireTime: number): string[] {
  const base = fireRunName(trigger, fireTime);
  return [base, ...Array.from({ length: 98 }, (_, i) => `${base}-${i + 2}`)];
}

const iso = (t: number) => new Date(t).toISOString();
const keyOf = (t: { taskName: string; name: string }) => `${t.taskName}/${t.name}`;

export class Scheduler {
  readonly owner: string;
  readonly #o: Required<Omit<SchedulerOptions, "owner" | "log">> & { log: (line: string) => void };
  readonly #cursors = new Map<string, Cursor>();
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #ticking: Promise<TickResult> | undefined;

  constructor(o: SchedulerOptions) {
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
    this.#o = {
      store: o.store, scope: o.scope, launch: o.launch, clock: o.clock ?? systemClock, log: o.log ?? (() => undefined),
      graceMs: o.graceMs ?? 60_000, claimTtlMs: o.claimTtlMs ?? 60_000, pollMs: o.pollMs ?? 5_000,
    };
  }

  /** One pass at the clock's now: takes over stale fires, then records and launches the fires that are due. */
  tick(): Promise<TickResult> {
    // Passes never overlap (the loop and a test calling tick() at once).
    const next = (this.#ticking ?? Promise.resolve()).catch(() => undefined).then(() => this.#tick());
    this.#ticking = next;
    return next;
  }

  async #tick(): Promise<TickResult> {
    const { store, scope, clock, graceMs, claimTtlMs } = this.#o;
    const now = clock.now();
    const result: TickResult = { fired: [], missed: {} };
    const triggers = await store.listTriggers(scope);
    const byKey = new Map(triggers.map((t) => [keyOf(t), t]));

    // Fires whose scheduler died between recording them and creating their run.
    for (const f of await store.claimStaleFires(scope, this.owner, now, now + claimTtlMs)) {
      const t = byKey.get(`${f.taskName}/${f.triggerName}`);
      this.#o.log(`Taking over fire ${iso(f.fireTime)} of trigger "${f.triggerName}" on ${f.taskName} (run ${f.runName}): its scheduler stopped before finishing it.`);
      if (await this.#complete(f, t)) result.fired.push(f);
    }

    const active = triggers.filter((t) => t.active);
    for (const k of [...this.#cursors.keys()]) if (!active.some((t) => keyOf(t) === k)) this.#cursors.delete(k);
    const fresh = active.filter((t) => this.#cursors.get(keyOf(t))?.basis !== basisOf(t));
    const last = fresh.length > 0 ? new Map((await store.listFires(scope, { latest: true })).map((f) => [`${f.taskName}/${f.triggerName}`, f.fireTime])) : new Map<string, number>();

    const due: { t: TriggerRow; at: number }[] = [];
    for (const t of active) {
      const key = keyOf(t);
      let c = this.#cursors.get(key);
      if (!c || c.basis !== basisOf(t)) {
        const a = automationOf(t.spec);
        if (!a) {
          if (!c) this.#o.log(`Trigger "${t.name}" on ${t.taskName} has no schedule this version of flyte-ts knows (${JSON.stringify(t.spec.automation)}): not scheduled.`);
          continue;
        }
        const activatedAt = t.activatedAt ?? t.createdAt;
        // From the last fire any scheduler recorded, or from activation: what lies between that and now was missed.
        // (A trigger this scheduler already followed, redeployed with another schedule, goes on from where it was.)
        c = { basis: basisOf(t), schedule: fireSchedule(a, activatedAt), at: Math.max(c?.at ?? -Infinity, last.get(key) ?? -Infinity, activatedAt) };
        this.#cursors.set(key, c);
      }
      // Of the fire times passed since the cursor, the latest fires if it is recent (within graceMs); every other
      // one is skipped: a scheduler that was away (or asleep) does not catch up.
      let missed = 0;
      let firstMissed: number | undefined;
      let lastMissed: number | undefined;
      let latest: number | undefined;
      const skip = (at: number) => {
        missed++;
        firstMissed ??= at;
        lastMissed = at;
      };
      for (let at = c.schedule.next(c.at); at !== undefined && at <= now; at = c.schedule.next(at)) {
        if (latest !== undefined) skip(latest);
        latest = at;
        // Too many to count one by one (a minutely trigger after a year off): skip ahead.
        if (missed >= MISSED_CAP && now - at > graceMs) at = now - graceMs - 1;
      }
      if (latest !== undefined) {
        if (now - latest <= graceMs) due.push({ t, at: latest });
        else skip(latest);
      }
      c.at = now;
      if (missed > 0) {
        result.missed[key] = missed;
        const span = missed === 1 ? iso(firstMissed!) : `${iso(firstMissed!)} to ${iso(lastMissed!)}`;
        this.#o.log(
          `Trigger "${t.name}" on ${t.taskName}: ${missed >= MISSED_CAP ? `more than ${MISSED_CAP}` : missed} fire${missed > 1 ? "s" : ""} missed while no scheduler ran (${span}), not back-filled.`,
        );
      }
    }

    due.sort((a, b) => a.at - b.at || keyOf(a.t).localeCompare(keyOf(b.t)));
    for (const { t, at } of due) {
      const rec = {
        ...scope, taskName: t.taskName, triggerName: t.name, fireTime: at, version: t.version,
        claimedBy: this.owner, claimExpiresAt: now + claimTtlMs, recordedAt: clock.now(),
      };
      const runName = await store.recordFire(rec, runNameCandidates(t.name, at));
      // Another scheduler recorded this fire time first: it is theirs to launch.
      if (runName === undefined) continue;
      const f: FireRow = { ...rec, runName, state: "pending", error: null };
      if (await this.#complete(f, t)) result.fired.push(f);
    }
    return result;
  }

  /** Creates the run of a fire this scheduler holds, then marks the fire; true when its run exists now. */
  async #complete(f: FireRow, t: TriggerRow | undefined): Promise<boolean> {
    const { store, scope } = this.#o;
    const key = { project: f.project, domain: f.domain, taskName: f.taskName, triggerName: f.triggerName, fireTime: f.fireTime };
    if (!t) {
      await store.finishFire(key, this.owner, "failed", `Trigger "${f.triggerName}" on ${f.taskName} was removed before its run was created.`);
      return false;
    }
    // A run of that name exists: the scheduler that recorded the fire created it before it stopped.
    if (await store.getRun({ ...scope, name: f.runName })) {
      await store.finishFire(key, this.owner, "created", null);
      return true;
    }
    try {
      await this.#o.launch(f, t);
    } catch (e) {
      const why = (e as Error)?.message ?? String(e);
      this.#o.log(`Trigger "${t.name}" on ${t.taskName}: the run ${f.runName} for ${iso(f.fireTime)} could not be created: ${why}`);
      await store.finishFire(key, this.owner, "failed", why);
      return false;
    }
    await store.finishFire(key, this.owner, "created", null);
    this.#o.log(`Trigger "${t.name}" on ${t.taskName} fired for ${iso(f.fireTime)}: run ${f.runName}`);
    return true;
  }

  /** When the next fire of the triggers seen so far is due (epoch ms); undefined when none is. */
  nextFireTime(): number | undefined {
    let next: number | undefined;
    for (const c of this.#cursors.values()) {
      const at = c.schedule.next(c.at);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** Loops until `stop()`: a pass, then sleep until the next fire time or `pollMs`, whichever is sooner. */
  start(): void {
    if (this.#loop) return;
    const stop = (this.#stop = new AbortController());
    const { clock, pollMs } = this.#o;
    this.#loop = (async () => {
      while (!stop.signal.aborted) {
        try {
          await this.tick();
        } catch (e) {
          this.#o.log(`The scheduler's pass failed: ${(e as Error)?.message ?? String(e)}. Trying again in ${pollMs / 1000} s.`);
        }
        const next = this.nextFireTime();
        const wait = Math.min(pollMs, next === undefined ? pollMs : next - clock.now());
        await clock.sleep(Math.max(0, wait), stop.signal);
      }
    })();
  }

  /** Stops the loop; resolves once the pass under way has finished. */
  async stop(): Promise<void> {
    this.#stop?.abort();
    await this.#loop;
    await this.#ticking?.catch(() => undefined);
    this.#loop = undefined;
  }
}

function basisOf(t: TriggerRow): string {
  return JSON.stringify([t.spec.automation, t.activatedAt]);
}
