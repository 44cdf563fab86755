import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  Cache, TaskEnvironment, ctx, getRun, group, map, report, run, trace, withRunContext, getCustomContext, customContext,
} from "flyte-ts";
import {
  ActionAbortedError, NonRecoverableError, RunAlreadyExistsError, RunNotFoundError, RuntimeDataValidationError, RuntimeUserError,
  TaskTimeoutError, TraceDoesNotAllowNestedTasksError, TypeTransformerFailedError, ValidationError, LogsNotYetAvailableError,
} from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

let root: string;
beforeAll(async () => {
  root = await freshRuntime();
});

const env = new TaskEnvironment({ name: "rt-run" });
const double = env.task(async function double({ x }: { x: number }) {
  return x * 2;
});
const parent = env.task(async function parent({ n }: { n: number }) {
  const parts = await Promise.all(Array.from({ length: n }, (_, x) => double({ x })));
  return parts.reduce((a, b) => a + b, 0);
});

describe("run() and the Run handle", () => {
  it("records every task call as a child action with its output", async () => {
    const r = await run(parent, { n: 4 });
    expect(await r.wait()).toBe("succeeded");
    expect(await r.outputs()).toBe(12);
    const d = await r.details();
    expect(d.root.name).toBe("a0");
    expect(d.root.taskName).toBe("rt-run.parent");
    expect(d.root.children).toHaveLength(4);
    expect(d.root.children.every((c) => c.phase === "succeeded" && c.attempts.length === 1)).toBe(true);
    expect(d.inputs).toEqual({ n: 4 });
    expect(d.outputs).toBe(12);
  });

  it("names children deterministically from parent, task, inputs and call sequence", async () => {
    const a = await withRunContext({ name: "det-a" }).run(parent, { n: 3 });
    await a.wait();
    const b = await withRunContext({ name: "det-b" }).run(parent, { n: 3 });
    await b.wait();
    const names = async (r: typeof a) => (await r.details()).root.children.map((c) => c.name).sort();
    expect(await names(a)).toEqual(await names(b));
    expect(new Set(await names(a)).size).toBe(3);
  });

  it("generates run names of the documented shape and rejects bad or duplicate names", async () => {
    const r = await run(double, { x: 1 });
    expect(r.name).toMatch(/^r[0-9a-z]{19}$/);
    await r.wait();
    await expect(withRunContext({ name: "Bad_Name" }).run(double, { x: 1 })).rejects.toThrow(/Run name "Bad_Name" is invalid/);
    await expect(withRunContext({ name: r.name }).run(double, { x: 1 })).rejects.toThrow(RunAlreadyExistsError);
  });

  it("validates run options", async () => {
    await expect(withRunContext({ maxActionConcurrency: 1 }).run(double, { x: 1 })).rejects.toThrow(/maxActionConcurrency must be 0 \(no limit\) or an integer >= 2, got 1/);
    await expect(withRunContext({ mode: "hybrid" }).run(double, { x: 1 })).rejects.toThrow(/mode "hybrid" requires both name and runBaseDir/);
    await expect(withRunContext({ copyStyle: "none" }).run(double, { x: 1 })).rejects.toThrow(/copyStyle "none" requires an explicit version/);
    await expect(run((() => 1) as never, {})).rejects.toThrow(ValidationError);
    // @ts-expect-error unknown option
    expect(() => withRunContext({ nmae: "x" })).not.toThrow();
    // @ts-expect-error unknown option
    await expect(withRunContext({ nmae: "x" }).run(double, { x: 1 })).rejects.toThrow(/Unknown option "nmae" for withRunContext. Did you mean "name"\?/);
  });

  it("getRun finds recorded runs and names unknown ones", async () => {
    const r = await withRunContext({ name: "find-me" }).run(double, { x: 2 });
    await r.wait();
    expect(await (await getRun("find-me")).outputs()).toBe(4);
    await expect(getRun("no-such-run")).rejects.toThrow(RunNotFoundError);
    await expect(getRun("no-such-run")).rejects.toThrow(/Run "no-such-run" was not found/);
  });

  it("wait({ timeout }) throws TaskTimeoutError with bound 'wait'", async () => {
    // The task runs until the test lets it end, so it is certainly still running when the wait gives up.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = env.task(async function slowWait() {
      await gate;
      return 1;
    });
    const r = await run(slow);
    const e = await r.wait({ timeout: 0.1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TaskTimeoutError);
    expect((e as TaskTimeoutError).bound).toBe("wait");
    expect(await r.phase()).toBe("running");
    release();
    expect(await r.wait()).toBe("succeeded");
  });
});

describe("errors across action boundaries", () => {
  const thrower = env.task(async function thrower({ kind }: { kind: string }) {
    if (kind === "type") throw new TypeError("bad type here");
    throw new NonRecoverableError("stop now");
  });
  const catcher = env.task(async function catcher({ kind }: { kind: string }) {
    try {
      await thrower({ kind });
      return "no error";
    } catch (e) {
      const err = e as RuntimeUserError;
      return `${err.name}:${err.code}:${err.message}:${e instanceof RuntimeUserError}`;
    }
  });

  it("a plain Error arrives as RuntimeUserError with the original name as code", async () => {
    const r = await run(catcher, { kind: "type" });
    expect(await r.outputs()).toBe("RuntimeUserError:TypeError:bad type here:true");
  });

  it("a flyte-ts error arrives as the same class", async () => {
    const r = await run(catcher, { kind: "nonrecoverable" });
    expect(await r.outputs()).toBe("NonRecoverableError:NonRecoverableError:stop now:true");
  });

  it("outputs() throws the root error and details() keeps the stack", async () => {
    const r = await run(thrower, { kind: "type" });
    expect(await r.wait()).toBe("failed");
    const e = await r.outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RuntimeUserError);
    expect((e as RuntimeUserError).code).toBe("TypeError");
    const d = await r.details();
    expect(d.error?.message).toBe("bad type here");
    expect(d.root.error?.stack).toMatch(/TypeError: bad type here/);
  });

  it("invalid inputs fail the run with a RuntimeDataValidationError naming the field", async () => {
    const typed = env.task({ inputs: z.object({ x: z.number() }) }, async function typedIn({ x }) {
      return x + 1;
    });
    const r = await run(typed, { x: "nope" as unknown as number });
    expect(await r.wait()).toBe("failed");
    const e = (await r.outputs().catch((x: unknown) => x)) as RuntimeDataValidationError;
    expect(e).toBeInstanceOf(RuntimeDataValidationError);
    expect(e.message).toMatch(/Task "rt-run.typedIn": input "x" is invalid/);
    expect(e.field).toBe("x");
  });

  it("a non-serializable output fails the action with TypeTransformerFailedError", async () => {
    const bad = env.task(async function badOut() {
      return { f: () => 1 };
    });
    const r = await run(bad);
    expect(await r.wait()).toBe("failed");
    const e = await r.outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TypeTransformerFailedError);
    expect((e as Error).message).toMatch(/rt-run.badOut/);
  });
});

describe("retries and timeouts", () => {
  it("retries user errors up to count and records every attempt", async () => {
    let calls = 0;
    const flaky = env.task({ retries: 2 }, async function flaky() {
      calls++;
      if (calls < 3) throw new Error(`boom ${calls}`);
      return calls;
    });
    const r = await run(flaky);
    expect(await r.outputs()).toBe(3);
    const d = await r.details();
    expect(d.root.attempts.map((a) => a.phase)).toEqual(["failed", "failed", "succeeded"]);
    expect(d.root.attempts[0]!.error?.message).toBe("boom 1");
  });

  it("gives the caller the last attempt's error when retries run out", async () => {
    let calls = 0;
    const always = env.task({ retries: 1 }, async function alwaysFails() {
      calls++;
      throw new Error(`failure ${calls}`);
    });
    const r = await run(always);
    const e = await r.outputs().catch((x: unknown) => x);
    expect((e as Error).message).toBe("failure 2");
    expect((await r.details()).root.attempts).toHaveLength(2);
  });

  it("never retries NonRecoverableError", async () => {
    let calls = 0;
    const nr = env.task({ retries: 3 }, async function nonRecoverable() {
      calls++;
      throw new NonRecoverableError("no point retrying");
    });
    const r = await run(nr);
    expect(await r.wait()).toBe("failed");
    expect(calls).toBe(1);
  });

  // Backoff delays, maxRuntime, maxQueuedTime and the deadline are timed on fake timers, to the millisecond,
  // in src/controller/attempt-loop.test.ts.
});

describe("abort", () => {
  it("aborts running attempts and marks the run aborted", async () => {
    let started!: (signal: AbortSignal) => void;
    const running = new Promise<AbortSignal>((r) => (started = r));
    const long = env.task(async function longRunning() {
      started(ctx()!.signal);
      // Ignores the signal: the abort must end the action without the body's help.
      await new Promise((r) => setTimeout(r, 5000).unref());
      return 1;
    });
    const r = await run(long);
    const signal = await running;
    await r.abort("test abort");
    expect(await r.phase()).toBe("aborted");
    expect(signal.aborted).toBe(true);
    const e = await r.outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ActionAbortedError);
    expect((e as Error).message).toMatch(/test abort/);
  });
});

describe("abort listeners that throw", () => {
  it("cannot crash the process: the exception goes to the attempt's stderr log and the other listeners still run", async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let politeRan = false;
    const careless = env.task(async function careless() {
      const { signal } = ctx()!;
      signal.addEventListener("abort", () => {
        throw new Error("listener boom");
      });
      signal.onabort = () => {
        throw new TypeError("onabort boom");
      };
      signal.addEventListener("abort", () => (politeRan = true));
      started();
      await new Promise((r) => setTimeout(r, 5000).unref());
      return 1;
    });
    const r = await run(careless);
    await running;
    await r.abort("stop");
    expect(await r.phase()).toBe("aborted");
    expect(politeRan).toBe(true);
    const lines: string[] = [];
    for await (const l of r.logs()) if (l.stream === "stderr") lines.push(l.message);
    expect(lines).toContain('An abort listener of task "rt-run.careless" threw (ignored): Error: listener boom');
    expect(lines).toContain('An abort listener of task "rt-run.careless" threw (ignored): TypeError: onabort boom');
  });
});

describe("caching", () => {
  let executions = 0;
  const cached = env.task({ cache: "auto" }, async function cachedSquare({ x }: { x: number }) {
    executions++;
    return x * x;
  });
  const caller = env.task(async function cacheCaller({ xs }: { xs: number[] }) {
    return Promise.all(xs.map((x) => cached({ x })));
  });

  it("auto: a second identical call is a cache hit and does not execute", async () => {
    executions = 0;
    const r1 = await run(caller, { xs: [1, 2] });
    expect(await r1.outputs()).toEqual([1, 4]);
    const r2 = await run(caller, { xs: [1, 2, 3] });
    expect(await r2.outputs()).toEqual([1, 4, 9]);
    expect(executions).toBe(3);
    const hits = (await r2.details()).root.children.map((c) => c.cacheHit);
    expect(hits).toEqual([true, true, false]);
    expect((await r2.details()).root.children[0]!.attempts).toHaveLength(0);
  });

  it("overwriteCache turns lookups into misses; disableRunCache skips the cache", async () => {
    executions = 0;
    await (await withRunContext({ overwriteCache: true }).run(caller, { xs: [1] })).wait();
    expect(executions).toBe(1);
    await (await withRunContext({ disableRunCache: true }).run(caller, { xs: [1] })).wait();
    expect(executions).toBe(2);
    await (await run(caller, { xs: [1] })).wait();
    expect(executions).toBe(2);
  });

  it("ignoredInputs leave an input out of the key; salt changes it", async () => {
    let n = 0;
    const ig = env.task({ cache: new Cache({ behavior: "auto", ignoredInputs: ["at"] }) }, async function ignoring({ x, at }: { x: number; at: string }) {
      n++;
      return `${x}@${at}`;
    });
    const a = await run(ig, { x: 1, at: "morning" });
    expect(await a.outputs()).toBe("1@morning");
    const b = await run(ig, { x: 1, at: "evening" });
    expect(await b.outputs()).toBe("1@morning");
    expect(n).toBe(1);
    const salted = ig.override({ cache: new Cache({ behavior: "auto", ignoredInputs: ["at"], salt: "v2" }) });
    expect(await (await run(salted, { x: 1, at: "evening" })).outputs()).toBe("1@evening");
  });

  it("override executes every time but writes the entry", async () => {
    let n = 0;
    const ov = env.task({ cache: "override" }, async function overriding({ x }: { x: number }) {
      n++;
      return x + n;
    });
    await (await run(ov, { x: 10 })).wait();
    await (await run(ov, { x: 10 })).wait();
    expect(n).toBe(2);
    const auto = ov.override({ cache: "auto" });
    expect(await (await run(auto, { x: 10 })).outputs()).toBe(12);
    expect(n).toBe(2);
  });

  it("serialize: concurrent identical calls execute once", async () => {
    let n = 0;
    const ser = env.task({ cache: new Cache({ behavior: "auto", serialize: true }) }, async function serialized({ x }: { x: number }) {
      n++;
      await new Promise((r) => setTimeout(r, 100));
      return x * 3;
    });
    const fan = env.task(async function serialFan() {
      return Promise.all([ser({ x: 5 }), ser({ x: 5 }), ser({ x: 5 })]);
    });
    expect(await (await run(fan)).outputs()).toEqual([15, 15, 15]);
    expect(n).toBe(1);
  });
});

describe("group, map, trace, ctx, custom context", () => {
  it("tags actions with the innermost group", async () => {
    const g = env.task(async function grouped() {
      await double({ x: 0 });
      await group("outer", async () => {
        await double({ x: 1 });
        await group("inner", () => double({ x: 2 }));
        await double({ x: 3 });
      });
      return 0;
    });
    const r = await run(g);
    expect(await r.wait()).toBe("succeeded");
    // The calls are sequential, so the children list in call order: ungrouped, outer, inner, outer again.
    expect((await r.details()).root.children.map((c) => c.group ?? null)).toEqual([null, "outer", "inner", "outer"]);
    await expect(group("", () => 1)).rejects.toThrow(/group: name must be a non-empty string/);
  });

  it("map keeps input order, bounds concurrency and returns exceptions in place", async () => {
    let inFlight = 0;
    let peak = 0;
    const item = env.task(async function mapItem({ x }: { x: number }) {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 30 - x * 5));
      inFlight--;
      if (x === 3) throw new Error("three");
      return x * 10;
    });
    const m = env.task(async function mapper() {
      const out = await map(item, [1, 2, 3, 4].map((x) => ({ x })), { concurrency: 2 });
      return out.map((v) => (v instanceof Error ? v.message : v));
    });
    const r = await run(m);
    expect(await r.outputs()).toEqual([10, 20, "three", 40]);
    expect(peak).toBe(2);
    expect((await r.details()).root.children.map((c) => c.group)).toEqual(["mapItem_map", "mapItem_map", "mapItem_map", "mapItem_map"]);
    expect(() => map(item, [], { concurrency: -1 })).toThrow(/concurrency must be an integer >= 0/);
  });

  it("map with returnExceptions: false rejects with the first failure", async () => {
    const item = env.task(async function strictItem({ x }: { x: number }) {
      if (x === 2) throw new Error("two failed");
      return x;
    });
    const m = env.task(async function strictMapper() {
      return map(item, [{ x: 1 }, { x: 2 }, { x: 3 }], { returnExceptions: false }).collect();
    });
    const e = await (await run(m)).outputs().catch((x: unknown) => x);
    expect((e as Error).message).toBe("two failed");
  });

  it("trace replays recorded steps when the attempt is retried", async () => {
    let stepRuns = 0;
    let attempts = 0;
    const step = trace(async function expensiveStep(x: number) {
      stepRuns++;
      return x + 100;
    });
    const traced = env.task({ retries: 1 }, async function traced() {
      attempts++;
      const v = await step(1);
      if (attempts === 1) throw new Error("fail after the step");
      return v;
    });
    expect(await (await run(traced)).outputs()).toBe(101);
    expect(attempts).toBe(2);
    expect(stepRuns).toBe(1);
  });

  it("a task called inside trace() fails with TraceDoesNotAllowNestedTasksError", async () => {
    const bad = trace(async function callsTask() {
      return double({ x: 1 });
    });
    const t = env.task(async function traceNesting() {
      return bad();
    });
    const e = await (await run(t)).outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TraceDoesNotAllowNestedTasksError);
    expect(() => trace(() => 1)).toThrow(/trace: the function has no name/);
  });

  it("ctx() describes the running action and is null outside", async () => {
    expect(ctx()).toBeNull();
    const c = env.task(async function ctxTask() {
      const k = ctx()!;
      return { action: k.actionName, run: k.runName, attempt: k.attempt, mode: k.mode, custom: getCustomContext() };
    });
    const r = await withRunContext({ customContext: { team: "ml" } }).run(c);
    const out = (await r.outputs()) as { action: string; run: string; attempt: number; mode: string; custom: Record<string, string> };
    expect(out).toEqual({ action: "a0", run: r.name, attempt: 0, mode: "local", custom: { team: "ml" } });
  });

  it("customContext() extends the context of child actions", async () => {
    const child = env.task(async function readsContext() {
      return getCustomContext();
    });
    const p = env.task(async function setsContext() {
      return customContext({ stage: "two" }, () => child());
    });
    expect(await (await withRunContext({ customContext: { team: "ml" } }).run(p)).outputs()).toEqual({ team: "ml", stage: "two" });
  });
});

describe("logs and reports", () => {
  it("captures console output per action and attempt", async () => {
    let calls = 0;
    const noisy = env.task({ retries: 1 }, async function noisy() {
      calls++;
      console.log(`attempt ${calls} says hi`);
      console.error("to stderr");
      if (calls === 1) throw new Error("retry me");
      return calls;
    });
    const r = await run(noisy);
    await r.wait();
    const lines: string[] = [];
    for await (const l of r.logs()) lines.push(`${l.attempt}:${l.stream}:${l.message}`);
    expect(lines).toEqual(["0:stdout:attempt 1 says hi", "0:stderr:to stderr", "1:stdout:attempt 2 says hi", "1:stderr:to stderr"]);
    const only1: string[] = [];
    for await (const l of r.logs({ action: "a0", attempt: 1 })) only1.push(l.message);
    expect(only1).toEqual(["attempt 2 says hi", "to stderr"]);
  });

  it("logs({ follow: true }) streams lines while the run goes on and ends with it", async () => {
    // The task prints its next line only once the reader has seen the previous one: lines must arrive while it runs.
    const seenBy: (() => void)[] = [];
    const seenLine = [0, 1, 2].map((i) => new Promise<void>((r) => (seenBy[i] = r)));
    const chatty = env.task(async function chatty() {
      for (let i = 0; i < 3; i++) {
        console.log(`tick ${i}`);
        await seenLine[i];
      }
      return 3;
    });
    const r = await run(chatty);
    const seen: string[] = [];
    const phases: string[] = [];
    for await (const l of r.logs({ follow: true })) {
      seen.push(l.message);
      phases.push(await r.phase());
      seenBy[seen.length - 1]?.();
    }
    expect(seen).toEqual(["tick 0", "tick 1", "tick 2"]);
    expect(phases).toEqual(["running", "running", "running"]);
    expect(await r.phase()).toBe("succeeded");
  }, 15_000); // a follow that only read at the end would keep the task waiting: fail in 15 s, not the default 60

  it("logs() before any attempt started throws LogsNotYetAvailableError", async () => {
    const hold = env.task({ timeout: { maxQueuedTime: 5 } }, async function heldBack() {
      return 1;
    });
    // The root holds one of the two slots and blocker the other until the test releases it, so heldBack waits.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const blocker = env.task(async function blocker() {
      await gate;
      return 1;
    });
    const p = env.task(async function blockParent() {
      return Promise.all([blocker(), hold()]);
    });
    const r = await withRunContext({ maxActionConcurrency: 2 }).run(p);
    const heldRecord = async () => (await r.details()).root.children.find((c) => c.taskName.endsWith("heldBack"));
    let held = await heldRecord();
    for (let turn = 0; !held && turn < 1000; turn++) {
      await new Promise((res) => setImmediate(res));
      held = await heldRecord();
    }
    expect(held, "heldBack to be recorded while it waits for a slot").toBeDefined();
    expect(held!.attempts).toEqual([]);
    const it = r.logs({ action: held!.name })[Symbol.asyncIterator]();
    const e = await it.next().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LogsNotYetAvailableError);
    expect((e as Error).message).toBe(`Logs of run "${r.name}" action "${held!.name}" are not available yet: no attempt has started. Retry later or pass follow: true.`);
    release();
    expect(await r.wait()).toBe("succeeded");
  });

  it("report: true tasks write report.html for the action", async () => {
    const rep = env.task({ report: true }, async function reporting() {
      await report.log("<h1>Hello report</h1>");
      report.getTab("details").log("<p>more</p>");
      return 1;
    });
    const r = await run(rep);
    await r.wait();
    const uri = (await r.details()).root.reportUri!;
    expect(uri).toMatch(/^file:\/\/.*report\.html$/);
    const html = readFileSync(new URL(uri), "utf8");
    expect(html).toContain("<h1>Hello report</h1>");
    expect(html).toContain("details");
  });
});

describe("run-level env vars", () => {
  it("reach process.env of every action and are restored afterwards", async () => {
    const reads = env.task(async function readsEnv() {
      return process.env.FLYTE_TEST_VAR ?? null;
    });
    const r = await withRunContext({ envVars: { FLYTE_TEST_VAR: "hello" } }).run(reads);
    expect(await r.outputs()).toBe("hello");
    expect(process.env.FLYTE_TEST_VAR).toBeUndefined();
  });
});

describe("identical calls", () => {
  it("are distinct actions, and a retried parent replays them instead of running them again", async () => {
    let childRuns = 0;
    let parentAttempts = 0;
    const same = env.task(async function sameInputs({ x }: { x: number }) {
      childRuns++;
      return x + childRuns;
    });
    const repeats = env.task({ retries: 1 }, async function repeats() {
      parentAttempts++;
      const out = await Promise.all([same({ x: 1 }), same({ x: 1 }), same({ x: 1 })]);
      if (parentAttempts === 1) throw new Error("retry the parent");
      return out.sort();
    });
    const r = await run(repeats);
    expect(await r.outputs()).toEqual([2, 3, 4]);
    expect(childRuns).toBe(3);
    const names = (await r.details()).root.children.map((c) => c.name);
    expect(new Set(names).size).toBe(3);
  });
});

describe("wide fan-outs", () => {
  it("let the event loop turn (timers, heartbeats) while thousands of quick children run", async () => {
    const leafy = env.task(async function leafy({ i }: { i: number }) {
      return i;
    });
    const wide = env.task(async function wide({ n }: { n: number }) {
      return (await Promise.all(Array.from({ length: n }, (_, i) => leafy({ i })))).length;
    });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const r = await run(wide, { n: 3000 });
    expect(await r.outputs()).toBe(3000);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(3);
    expect((await r.details()).root.children).toHaveLength(3000);
  });

  it("give every waiting call its own result when two parents fan out at once", async () => {
    // More calls than one turn admits (256), from two attempts whose calls wait in the same admission batches.
    const tagged = env.task(async function tagged({ tag, i }: { tag: string; i: number }) {
      return `${tag}:${i}`;
    });
    const half = env.task(async function half({ tag, n }: { tag: string; n: number }) {
      return Promise.all(Array.from({ length: n }, (_, i) => tagged({ tag, i })));
    });
    const both = env.task(async function both({ n }: { n: number }) {
      const [a, b] = await Promise.all([half({ tag: "a", n }), half({ tag: "b", n })]);
      return { a, b };
    });
    const r = await run(both, { n: 700 });
    const out = (await r.outputs()) as { a: string[]; b: string[] };
    expect(out.a).toEqual(Array.from({ length: 700 }, (_, i) => `a:${i}`));
    expect(out.b).toEqual(Array.from({ length: 700 }, (_, i) => `b:${i}`));
    const d = await r.details();
    expect(d.root.children).toHaveLength(2);
    for (const h of d.root.children) {
      expect(h.children).toHaveLength(700);
      expect(h.children.every((c) => c.phase === "succeeded")).toBe(true);
    }
  });

  it("abort ends thousands of running and waiting calls at once", async () => {
    let started = 0;
    let signalled = 0;
    const slow = env.task(async function slowLeaf({ i }: { i: number }) {
      started++;
      const signal = ctx()!.signal;
      await new Promise((res) => {
        const t = setTimeout(res, 30_000);
        signal.addEventListener("abort", () => (signalled++, clearTimeout(t), res(undefined)), { once: true });
      });
      return i;
    });
    const fan = env.task(async function slowFan({ n }: { n: number }) {
      return (await Promise.all(Array.from({ length: n }, (_, i) => slow({ i })))).length;
    });
    const r = await run(fan, { n: 2000 });
    while (started < 2000) await new Promise((res) => setTimeout(res, 10));
    const t0 = Date.now();
    await r.abort("stop the fan-out");
    expect(await r.wait()).toBe("aborted");
    expect(Date.now() - t0).toBeLessThan(10_000);
    const children = (await r.details()).root.children;
    expect(children).toHaveLength(2000);
    expect(children.every((c) => c.phase === "aborted")).toBe(true);
    expect(signalled).toBe(2000);
  });
});

describe("the store on disk", () => {
  it("keeps everything under <root>/.flyte", () => {
    expect(existsSync(join(root, ".flyte", "flyte.db"))).toBe(true);
    expect(statSync(join(root, ".flyte", "blobs")).isDirectory()).toBe(true);
    expect(readdirSync(join(root, ".flyte"))).toContain("flyte.db");
  });
});
