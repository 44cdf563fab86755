/**
 * The runtime conformance suite: what a program sees of the runtime through the public API (run, the Run handle,
 * getRun, recoverFrom), asserted the same way on every backend and run mode. test/runtime.conformance.test.ts
 * runs it on the embedded backend (SQLite, local mode); test/cluster.conformance.test.ts on the cluster backend
 * (PostgreSQL and two `flyte worker` processes, hybrid and remote mode). The programs are in
 * test/fixtures/conformance.ts.
 *
 * Covered: deterministic action names (the same names on every backend: a golden list), cache (hits, ignored
 * inputs, cache version), retries with backoff (attempts, delays), retries set by task.override(), timeouts
 * (maxRuntime), recovery (recoverFrom reuses what succeeded), abort (the running child's ctx().signal fires, phases
 * end aborted), logs, reports and secrets — and which process executed each action.
 *
 * A backend that does not hold a semantic yet names it in `gaps`, with the reason: that case (or assertion) is
 * left out of its run rather than weakened for every backend.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { getRun, withRunContext, type ActionDetails, type RunContextOptions } from "flyte-ts";
import { ActionAbortedError, RuntimeUserError, TaskTimeoutError } from "flyte-ts/errors";
import {
  cacheCaller, callsFlaky, callsOverridden, callsOverruns, callsReporting, callsChatty, callsSecret, callsWaiter, naming, recoverable,
} from "../fixtures/conformance.ts";
import { waitFor } from "./runtime.ts";

/**
 * The names of the actions of `naming` (test/fixtures/conformance.ts), as "<parent>/<name> <task> [group]".
 * Deterministic names are how a retried parent or a recovered run finds its finished children, on any backend,
 * so they are fixed here: a change to how names are formed shows up on every backend at once.
 */
const GOLDEN_NAMES = [
  "-/a0 conf.naming",
  "a0/17ha8b2wz6vnbih2dusd8lr5b conf.leaf",
  "a0/4l6s9bqncdumxcxtoxew6o7gq conf.leaf",
  "a0/5ru2ejuk37ht4m9g56orahjen conf.leaf",
  "a0/bp4mziflw9bb863bbh1xstrjy conf.leaf grp",
  "a0/emot9ijspxgxgu7wcz5dmr43k conf.branch",
  "emot9ijspxgxgu7wcz5dmr43k/65is3xu8ae8nuqwhpvg77bn8g conf.leaf",
  "emot9ijspxgxgu7wcz5dmr43k/bq4oxfhh3475rog6711z272sg conf.leaf",
];

export interface ConformanceOptions {
  /** Prefix of run names (unique in the store the suite runs against). */
  prefix: string;
  mode: "local" | "hybrid" | "remote";
  /** The directory $FLYTE_CONF_DIR names, for this process and every process that executes the fixture's tasks. */
  dir(): string;
  /** Run context for a run named `name` (mode, and runBaseDir where the mode needs one). */
  context(name: string): RunContextOptions;
  /** Process ids allowed to execute the root action / child actions. */
  rootPids(): number[];
  childPids(): number[];
  /** The value of the secret the fixture's readsSecret declares (created in the backend's secret store by the caller). */
  secretValue: string;
  /** Per semantic (or assertion), the reason it is left out of this backend (a known gap, named in the test file). */
  gaps?: Partial<Record<Semantic, string>>;
}

export type Semantic = "names" | "cache" | "retries" | "overrides" | "timeouts" | "recovery" | "abort" | "logs" | "reports" | "secrets"
  /** Within "abort": the aborted child's attempt is recorded aborted (not left running). */
  | "abortedAttempts";

/** "<run> <what> <pid>" lines the fixture's tasks appended, for one run. */
function executions(dir: string, run: string): { what: string; pid: number }[] {
  const file = join(dir, "executions");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter((l) => l.startsWith(`${run} `)).map((l) => {
    const parts = l.split(" ");
    return { what: parts.slice(1, -1).join(" "), pid: Number(parts.at(-1)) };
  });
}

function flatten(a: ActionDetails, parent = "-"): { parent: string; action: ActionDetails }[] {
  return [{ parent, action: a }, ...a.children.flatMap((c) => flatten(c, a.name))];
}

const child = (root: ActionDetails, shortName: string): ActionDetails => {
  const found = root.children.find((c) => c.shortName === shortName);
  if (!found) throw new Error(`no child ${shortName} under ${root.name}: ${root.children.map((c) => c.shortName).join(", ")}`);
  return found;
};

export function runtimeConformance(o: ConformanceOptions): void {
  const start = (name: string) => withRunContext(o.context(`${o.prefix}-${name}`));
  const ran = (run: string, what: RegExp) => executions(o.dir(), run).filter((e) => what.test(e.what));
  const expectExecutedBy = (list: { pid: number }[], pids: number[]) => {
    expect(list.length).toBeGreaterThan(0);
    for (const e of list) expect(pids, `executed by process ${e.pid}`).toContain(e.pid);
  };
  const covered = (s: Semantic) => !o.gaps?.[s];

  describe(`runtime conformance (${o.mode})`, () => {
    if (covered("names")) {
      it("names actions deterministically: the same names on every backend", async () => {
        const r = await start("names").run(naming);
        expect(r.mode).toBe(o.mode);
        expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
        expect(await r.outputs()).toBe(160);
        const d = await r.details();
        const names = flatten(d.root).map(({ parent, action: a }) => `${parent}/${a.name} ${a.taskName}${a.group ? ` ${a.group}` : ""}`).sort();
        expect(names).toEqual(GOLDEN_NAMES);
        expectExecutedBy(ran(r.name, /^naming$/), o.rootPids());
      });
    }

    if (covered("cache")) {
      it("cache: a second call is a hit that does not execute; ignored inputs stay out of the key, the version is in it", async () => {
        const first = await start("cache-1").run(cacheCaller, { ns: o.prefix, xs: [1, 2], at: "morning", version: 1 });
        expect(await first.outputs()).toEqual(["1@morning", "4@morning"]);
        expect(ran(first.name, /^cachedSquare/).map((e) => e.what).sort()).toEqual(["cachedSquare 1", "cachedSquare 2"]);
        expectExecutedBy(ran(first.name, /^cachedSquare/), o.childPids());

        // `at` is ignored: x = 1 and 2 hit the entries written with at = "morning".
        const second = await start("cache-2").run(cacheCaller, { ns: o.prefix, xs: [1, 2, 3], at: "evening", version: 1 });
        expect(await second.outputs()).toEqual(["1@morning", "4@morning", "9@evening"]);
        expect(ran(second.name, /^cachedSquare/).map((e) => e.what)).toEqual(["cachedSquare 3"]);
        const children = (await second.details()).root.children;
        expect(children.map((c) => [c.cacheHit, c.phase])).toEqual([[true, "succeeded"], [true, "succeeded"], [false, "succeeded"]]);
        expect(children.map((c) => c.attempts.length)).toEqual([0, 0, 1]);

        // Cache version v2: a miss that executes, then a hit on its own entry.
        const v2 = await start("cache-3").run(cacheCaller, { ns: o.prefix, xs: [1], at: "noon", version: 2 });
        expect(await v2.outputs()).toEqual(["1@noon"]);
        expect(ran(v2.name, /^cachedSquare/).map((e) => e.what)).toEqual(["cachedSquare 1"]);
        const again = await start("cache-4").run(cacheCaller, { ns: o.prefix, xs: [1], at: "night", version: 2 });
        expect(await again.outputs()).toEqual(["1@noon"]);
        expect(ran(again.name, /^cachedSquare/)).toEqual([]);
        expect((await again.details()).root.children.map((c) => c.cacheHit)).toEqual([true]);
      });
    }

    if (covered("retries")) {
      it("retries a failing child with backoff: every attempt recorded, each delay at least the backoff's", async () => {
        const r = await start("retries").run(callsFlaky, { x: 1 });
        expect(await r.outputs()).toBe(3);
        const flaky = child((await r.details()).root, "flakyBackoff");
        expect(flaky.phase).toBe("succeeded");
        expect(flaky.attempts.map((a) => a.phase)).toEqual(["failed", "failed", "succeeded"]);
        expect(flaky.attempts.map((a) => a.error?.message ?? null)).toEqual(["flaky failure on attempt 0", "flaky failure on attempt 1", null]);
        // Backoff({ base: 0.2, factor: 2, cap: 1 }): 200 ms after the first failure, 400 ms after the second
        // (2 ms of slack: the times are wall-clock milliseconds, the delay a timer's).
        const gaps = [1, 2].map((i) => flaky.attempts[i]!.startedAt!.getTime() - flaky.attempts[i - 1]!.endedAt!.getTime());
        expect(gaps[0]).toBeGreaterThanOrEqual(198);
        expect(gaps[1]).toBeGreaterThanOrEqual(398);
        const attempts = ran(r.name, /^flakyBackoff attempt/);
        expect(attempts.map((e) => e.what)).toEqual(["flakyBackoff attempt 0", "flakyBackoff attempt 1", "flakyBackoff attempt 2"]);
        expectExecutedBy(attempts, o.childPids());
      });
    }

    if (covered("overrides")) {
      it("retries set by task.override() at the call site apply to the child", async () => {
        const r = await start("override").run(callsOverridden, { x: 5 });
        expect(await r.outputs()).toBe(10);
        const c = child((await r.details()).root, "failsTwice");
        expect(c.attempts.map((a) => a.phase)).toEqual(["failed", "failed", "succeeded"]);
        expectExecutedBy(ran(r.name, /^failsTwice attempt/), o.childPids());
      });
    }

    if (covered("timeouts")) {
      it("timeouts: an attempt that overruns maxRuntime ends timed_out with TaskTimeoutError, and is retried", async () => {
        const r = await start("timeouts").run(callsOverruns, { ms: 5_000 });
        // The root rethrows the child's TaskTimeoutError, so the run ends timed_out too.
        expect(await r.wait({ timeout: "30s" })).toBe("timed_out");
        const e = await r.outputs().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(TaskTimeoutError);
        expect((e as TaskTimeoutError).bound).toBe("maxRuntime");
        expect((e as Error).message).toBe('Task "conf.overruns" attempt #1 ran longer than its maxRuntime of 0.3s and was aborted. Raise timeout.maxRuntime or make the task honour ctx().signal.');
        const d = await r.details();
        expect(d.error?.code).toBe("TaskTimeoutError");
        expect(d.root.phase).toBe("timed_out");
        const over = child(d.root, "overruns");
        expect(over.phase).toBe("timed_out");
        expect(over.attempts.map((a) => [a.phase, a.error?.code])).toEqual([["timed_out", "TaskTimeoutError"], ["timed_out", "TaskTimeoutError"]]);
        for (const a of over.attempts) {
          const ms = a.endedAt!.getTime() - a.startedAt!.getTime();
          expect(ms).toBeGreaterThanOrEqual(290);
          expect(ms).toBeLessThan(2_500); // cut off, not run to the body's end (5 s)
        }
        expectExecutedBy(ran(r.name, /^overruns attempt/), o.childPids());
      });
    }

    if (covered("recovery")) {
      it("recovery: recoverFrom a failed run reuses its succeeded actions and executes the rest", async () => {
        const flag = `${o.prefix}-gate`;
        mkdirSync(join(o.dir(), "flags"), { recursive: true });
        writeFileSync(join(o.dir(), "flags", flag), "");
        const first = await start("recover-1").run(recoverable, { flag });
        expect(await first.wait({ timeout: "60s" })).toBe("failed");
        const e = await first.outputs().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(RuntimeUserError);
        expect((e as Error).message).toBe(`flag ${flag} is set`);

        rmSync(join(o.dir(), "flags", flag));
        const again = await withRunContext({ ...o.context(`${o.prefix}-recover-2`), recoverFrom: first.name }).run(recoverable);
        expect(await again.outputs()).toBe(105);
        const d = await (await getRun(again.name)).details();
        expect(d.recoverFrom).toBe(first.name);
        expect(d.inputs).toEqual({ flag });
        expect(d.root.children.map((c) => [c.shortName, c.recovered, c.phase])).toEqual([
          ["step", true, "succeeded"], ["step", true, "succeeded"], ["gated", false, "succeeded"],
        ]);
        // The steps executed once over both runs; what failed (gated, and the root) executed again.
        const both = [...executions(o.dir(), first.name), ...executions(o.dir(), again.name)].map((x) => x.what).sort();
        expect(both).toEqual(["gated", "gated", "recoverable", "recoverable", "step 1", "step 2"]);
        expectExecutedBy(executions(o.dir(), again.name).filter((x) => x.what === "gated"), o.childPids());
        expectExecutedBy(executions(o.dir(), again.name).filter((x) => x.what === "recoverable"), o.rootPids());
      });
    }

    if (covered("abort")) {
      it("abort: the running child's ctx().signal fires and the run, root and child end aborted", async () => {
        const r = await start("abort").run(callsWaiter, { ms: 60_000 });
        await waitFor(() => ran(r.name, /^waitsForAbort started$/).length > 0, 30_000, "the child to start");
        // Its attempt is recorded as running (the row is written as the body starts).
        for (let i = 0; i < 100 && child((await r.details()).root, "waitsForAbort").phase !== "running"; i++) {
          await new Promise((res) => setTimeout(res, 50));
        }
        const t0 = Date.now();
        // The run's owner records its end itself: none of its writes are refused as if it had lost the run.
        const warn = vi.spyOn(process, "emitWarning");
        try {
          await r.abort("conformance abort");
          expect(await r.wait({ timeout: "30s" })).toBe("aborted");
          await waitFor(() => ran(r.name, /^waitsForAbort signalled$/).length > 0, 15_000, "the child's signal to fire");
          await new Promise((res) => setTimeout(res, 100)); // the owner's last commit
          expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes(r.name))).toEqual([]);
        } finally {
          warn.mockRestore();
        }
        expect(Date.now() - t0).toBeLessThan(15_000);
        const e = await r.outputs().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(ActionAbortedError);
        expect((e as Error).message).toContain("conformance abort");
        const d = await r.details();
        expect(d.phase).toBe("aborted");
        expect(d.root.phase).toBe("aborted");
        expect(d.root.attempts.map((a) => a.phase)).toEqual(["aborted"]);
        const w = child(d.root, "waitsForAbort");
        expect(w.phase).toBe("aborted");
        if (covered("abortedAttempts")) expect(w.attempts.map((a) => a.phase)).toEqual(["aborted"]);
        expectExecutedBy(ran(r.name, /^waitsForAbort/), o.childPids());
      });
    }

    if (covered("logs")) {
      it("logs: a child's console lines, per attempt and stream, through Run.logs()", async () => {
        const r = await start("logs").run(callsChatty, { n: 3 });
        expect(await r.outputs()).toBe(3);
        const chatty = child((await r.details()).root, "chatty");
        const lines: string[] = [];
        for await (const l of r.logs({ action: chatty.name })) lines.push(`${l.action === chatty.name}:${l.attempt}:${l.stream}:${l.message}`);
        expect(lines).toEqual([
          "true:0:stdout:attempt 0 line 0", "true:0:stdout:attempt 0 line 1", "true:0:stdout:attempt 0 line 2", "true:0:stderr:attempt 0 on stderr",
          "true:1:stdout:attempt 1 line 0", "true:1:stdout:attempt 1 line 1", "true:1:stdout:attempt 1 line 2", "true:1:stderr:attempt 1 on stderr",
        ]);
        const second: string[] = [];
        for await (const l of (await getRun(r.name)).logs({ action: chatty.name, attempt: 1 })) second.push(l.message);
        expect(second).toEqual(["attempt 1 line 0", "attempt 1 line 1", "attempt 1 line 2", "attempt 1 on stderr"]);
        expectExecutedBy(ran(r.name, /^chatty attempt/), o.childPids());
      });
    }

    if (covered("reports")) {
      it("reports: a report: true child's report.html, linked from details()", async () => {
        const r = await start("reports").run(callsReporting, { title: "Conformance report" });
        expect(await r.outputs()).toBe(18);
        const rep = child((await r.details()).root, "reporting");
        expect(rep.reportUri).toMatch(/^file:\/\/.*report\.html$/);
        const html = readFileSync(new URL(rep.reportUri!), "utf8");
        expect(html).toContain("<h1>Conformance report</h1>");
        expect(html).toContain("<p>another tab</p>");
        expectExecutedBy(ran(r.name, /^reporting$/), o.childPids());
      });
    }

    if (covered("secrets")) {
      it("secrets: a secret the task declares is readable inside it (getSecret and its env var)", async () => {
        const r = await start("secrets").run(callsSecret);
        expect(await r.outputs()).toEqual({
          sha256: createHash("sha256").update(o.secretValue).digest("hex"), length: o.secretValue.length, envVarMatches: true,
        });
        expectExecutedBy(ran(r.name, /^readsSecret$/), o.childPids());
      });
    }
  });
}
