/**
 * env.sandbox.orchestrator: the three forms produce real tasks that run as actions, and tasks called from
 * inside the sandbox become child actions (concurrently with Promise.all, or through flyteMap).
 */
import { beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { TaskEnvironment, run } from "flyte-ts";
import { RuntimeUserError, ValidationError } from "flyte-ts/errors";
import { CodeTaskTemplate, SandboxedTaskTemplate } from "../src/sandbox/sandboxed-task-template.ts";
import { freshRuntime } from "./helpers/runtime.ts";

// Globals the sandbox provides to function-mode orchestrators (type declarations only).
declare function flyteMap(task: string, items: object[], o?: { concurrency?: number; returnExceptions?: boolean }): Promise<unknown[]>;

beforeAll(async () => {
  await freshRuntime("flyte-sandbox-");
});

const env = new TaskEnvironment({ name: "sbx-forms" });
const add = env.task(async function add({ x, y }: { x: number; y: number }) {
  return x + y;
});
let slowInFlight = 0;
let slowMaxInFlight = 0;
const slow = env.task(async function slow({ i }: { i: number }) {
  slowInFlight++;
  slowMaxInFlight = Math.max(slowMaxInFlight, slowInFlight);
  await new Promise((r) => setTimeout(r, 30));
  slowInFlight--;
  return i * 10;
});
const boom = env.task(async function boom({ msg }: { msg: string }) {
  throw new TypeError(msg);
});
let flakyCalls = 0;
const flaky = env.task(async function flaky() {
  flakyCalls++;
  if (flakyCalls === 1) throw new Error("first call fails");
  return "ok";
});

const other = new TaskEnvironment({ name: "sbx-forms-other" });
const mul = other.task(async function mul({ x, y }: { x: number; y: number }) {
  return x * y;
});

const bare = env.sandbox.orchestrator(async function bare({ n }: { n: number }) {
  const a = await add({ x: n, y: 1 });
  return a * 2;
});

const withOptions = env.sandbox.orchestrator({ timeoutMs: 5_000, tasks: [mul] }, async function withOptions({ n }: { n: number }) {
  const sums = await Promise.all([1, 2, 3].map((i) => add({ x: n, y: i })));
  return mul({ x: sums[0]!, y: sums[2]! });
});

const decorated = env.sandbox.orchestrator({ name: "decorated", maxMemory: 16 * 1024 * 1024 })(async function ({ xs }: { xs: number[] }) {
  let total = 0;
  for (const x of xs) total = await add({ x: total, y: x });
  return { total, count: xs.length };
});

const fromCode = env.sandbox.orchestrator("const r = await add({ x, y });\nawait mul({ x: r, y: 2 })", {
  name: "fromCode",
  inputs: { x: z.number(), y: z.number() },
  output: z.number(),
  tasks: [mul],
});

describe("the three forms", () => {
  it("bare form: a SandboxedTaskTemplate of type sandboxed-javascript, registered in the environment", async () => {
    expect(bare).toBeInstanceOf(SandboxedTaskTemplate);
    expect(bare.taskType).toBe("sandboxed-javascript");
    expect(bare.name).toBe("sbx-forms.bare");
    expect(env.tasks.get("sbx-forms.bare")).toBe(bare);
    expect(bare.sandbox).toEqual({ timeoutMs: 30_000, maxMemory: 50 * 1024 * 1024, maxStackDepth: 256, typeCheck: true });
    const r = await run(bare, { n: 4 });
    expect(await r.outputs()).toBe(10);
    const d = await r.details();
    expect(d.root.taskName).toBe("sbx-forms.bare");
    expect(d.root.children.map((c) => [c.taskName, c.phase])).toEqual([["sbx-forms.add", "succeeded"]]);
  });

  it("options + fn form: limits recorded, extra tasks callable, concurrent calls through Promise.all", async () => {
    expect(withOptions.sandbox.timeoutMs).toBe(5_000);
    const r = await run(withOptions, { n: 10 });
    expect(await r.outputs()).toBe(11 * 13);
    const d = await r.details();
    expect(d.root.children.map((c) => c.taskName).sort()).toEqual(["sbx-forms-other.mul", "sbx-forms.add", "sbx-forms.add", "sbx-forms.add"]);
    expect(d.root.children.every((c) => c.phase === "succeeded")).toBe(true);
  });

  it("options → decorator form, with an anonymous function named by options", async () => {
    expect(decorated.name).toBe("sbx-forms.decorated");
    expect(decorated.sandbox.maxMemory).toBe(16 * 1024 * 1024);
    const r = await run(decorated, { xs: [1, 2, 3, 4] });
    expect(await r.outputs()).toEqual({ total: 10, count: 4 });
    expect((await r.details()).root.children).toHaveLength(4);
  });

  it("code-string form: inputs bound as variables, last expression is the output, validated by the output schema", async () => {
    expect(fromCode).toBeInstanceOf(CodeTaskTemplate);
    expect(fromCode.taskType).toBe("sandboxed-javascript");
    const r = await run(fromCode, { x: 2, y: 3 });
    expect(await r.outputs()).toBe(10);
    const d = await r.details();
    expect(d.root.children.map((c) => c.taskName)).toEqual(["sbx-forms.add", "sbx-forms-other.mul"]);
  });

  it("code-string form: default name, explicit return, no trailing expression → undefined, shadowing an input", async () => {
    const e2 = new TaskEnvironment({ name: "sbx-forms-code" });
    const dflt = e2.sandbox.orchestrator("let x = a + 1;\nif (x > 2) { return 'big'; }\nx", { inputs: { a: z.number() } });
    expect(dflt.name).toBe("sbx-forms-code.sandboxed-code");
    expect(await (await run(dflt, { a: 5 })).outputs()).toBe("big");
    expect(await (await run(dflt, { a: 0 })).outputs()).toBe(1);
    const none = e2.sandbox.orchestrator("const y = a * 2;", { name: "none", inputs: z.object({ a: z.number() }) });
    expect(await (await run(none, { a: 1 })).outputs()).toBeUndefined();
    const shadow = e2.sandbox.orchestrator("const a = 41;\na + 1", { name: "shadow", inputs: { a: z.number() } });
    expect(await (await run(shadow, { a: 0 })).outputs()).toBe(42);
  });

  it("code-string inputs are validated by their schemas before the sandbox runs", async () => {
    const r = await run(fromCode, { x: "2" as unknown as number, y: 3 });
    await expect(r.outputs()).rejects.toThrow(/input "x" is invalid/);
  });

  it("forward() calls the function directly (function mode) and is refused in code mode", async () => {
    expect(await bare.forward({ n: 1 })).toBe(4); // add() outside a run calls its function directly
    expect(() => fromCode.forward({ x: 1, y: 2 })).toThrow(ValidationError);
  });

  it("outside a run, calling the orchestrator still executes it in the sandbox", async () => {
    expect(await bare({ n: 1 })).toBe(4);
    expect(await fromCode({ x: 1, y: 1 })).toBe(4);
    // Inside the sandbox Date.now is withheld, so it must have run there, not as the plain function.
    const probe = env.sandbox.orchestrator(async function probe() {
      return Date.now();
    });
    await expect(probe()).rejects.toThrow('"Date.now" is not available in the sandbox');
  });
});

describe("types", () => {
  it("infer inputs and output from the function, or from the code-string schemas", () => {
    expectTypeOf(bare).toEqualTypeOf<SandboxedTaskTemplate<{ n: number }, number>>();
    expectTypeOf(decorated).toEqualTypeOf<SandboxedTaskTemplate<{ xs: number[] }, { total: number; count: number }>>();
    expectTypeOf(fromCode).toEqualTypeOf<CodeTaskTemplate<{ x: number; y: number }, number>>();
    expectTypeOf(env.sandbox.orchestrator("1", { name: "typesOnly", inputs: z.object({ s: z.string() }) })).toEqualTypeOf<CodeTaskTemplate<{ s: string }, undefined>>();
  });
});

describe("task calls from inside the sandbox", () => {
  it("run concurrently: Promise.all over task calls overlaps them", async () => {
    slowMaxInFlight = 0;
    const fan = env.sandbox.orchestrator(async function fan({ n }: { n: number }) {
      const out = await Promise.all(Array.from({ length: n }, (_, i) => slow({ i })));
      return out.reduce((a, b) => a + b, 0);
    });
    const started = Date.now();
    const r = await run(fan, { n: 8 });
    expect(await r.outputs()).toBe(280);
    expect(slowMaxInFlight).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(8 * 30 + 2_000);
    expect((await r.details()).root.children).toHaveLength(8);
  });

  it("calls made in one step leave together, each with its inputs as they were when it was called", async () => {
    const batch = env.sandbox.orchestrator(async function batch({ n }: { n: number }) {
      const inputs = { x: 1, y: 0 };
      const calls: Promise<number>[] = [];
      for (let i = 0; i < n; i++) {
        inputs.y = i; // mutated after each call: the call already captured its value
        calls.push(add(inputs));
      }
      // A getter that calls a task while its object is being checked: that call is checked on its own, and
      // the outer value (holding a promise) is refused.
      const tricky = {
        get x() {
          void add({ x: 0, y: 0 });
          return Promise.resolve(1);
        },
        y: 1,
      };
      const refused = await add(tricky as never).then(() => "accepted", (e: Error) => `${e.name}: ${e.message}`);
      return { sums: await Promise.all(calls), refused };
    });
    const r = await run(batch, { n: 300 });
    const out = (await r.outputs()) as { sums: number[]; refused: string };
    expect(out.sums).toEqual(Array.from({ length: 300 }, (_, i) => 1 + i));
    expect(out.refused).toMatch(/RestrictedTypeError: the inputs of task "add" at x is a Promise, which cannot cross the sandbox boundary/);
  });

  it("flyteMap: one child per item in input order, grouped, concurrency honoured, errors in place", async () => {
    slowMaxInFlight = 0;
    const mapper = env.sandbox.orchestrator(async function mapper({ n }: { n: number }) {
      const values = await flyteMap("slow", Array.from({ length: n }, (_, i) => ({ i })), { concurrency: 2 });
      const mixed = await flyteMap("boom", [{ msg: "a" }, { msg: "b" }]);
      return { values, errors: mixed.map((e) => [(e as Error).name, (e as Error).message, (e as Error & { code: string }).code]) };
    });
    const r = await run(mapper, { n: 5 });
    const out = await r.outputs();
    expect(out.values).toEqual([0, 10, 20, 30, 40]);
    expect(out.errors).toEqual([["RuntimeUserError", "a", "TypeError"], ["RuntimeUserError", "b", "TypeError"]]);
    expect(slowMaxInFlight).toBe(2);
    const d = await r.details();
    expect(d.root.children.filter((c) => c.group === "slow_map")).toHaveLength(5);
    expect(d.root.children.filter((c) => c.group === "boom_map")).toHaveLength(2);
  });

  it("a failed child rejects inside the sandbox (catchable); uncaught it fails the orchestrator with the child's error", async () => {
    const catches = env.sandbox.orchestrator(async function catches() {
      try {
        await boom({ msg: "bad" });
        return "not reached";
      } catch (e) {
        return `${(e as Error).name}:${(e as { code?: string }).code}:${(e as Error).message}`;
      }
    });
    expect(await (await run(catches)).outputs()).toBe("RuntimeUserError:TypeError:bad");
    const uncaught = env.sandbox.orchestrator(async function uncaught() {
      return await boom({ msg: "worse" });
    });
    const r = await run(uncaught);
    const err = await r.outputs().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeUserError);
    expect(err).toMatchObject({ code: "TypeError", message: "worse" });
    expect((await r.details()).root.children[0]!.phase).toBe("failed");
  });

  it("retries: a failed attempt runs again in a fresh sandbox", async () => {
    flakyCalls = 0;
    const retried = env.sandbox.orchestrator({ retries: 1 }, async function retried() {
      return await flaky();
    });
    const r = await run(retried);
    expect(await r.outputs()).toBe("ok");
    expect((await r.details()).root.attempts).toHaveLength(2);
  });

  it("cache: a cached code orchestrator is reused on the second run", async () => {
    const cached = env.sandbox.orchestrator("await add({ x: n, y: n })", { name: "cachedCode", inputs: { n: z.number() }, cache: "auto" });
    const first = await run(cached, { n: 21 });
    expect(await first.outputs()).toBe(42);
    const second = await run(cached, { n: 21 });
    expect(await second.outputs()).toBe(42);
    expect((await second.details()).root.cacheHit).toBe(true);
  });

  it("console output is captured to the action log", async () => {
    const logs = env.sandbox.orchestrator(async function logs({ n }: { n: number }) {
      console.log("sandbox says", n, { ok: true });
      console.error("and warns");
      return n;
    });
    const r = await run(logs, { n: 7 });
    await r.outputs();
    const lines: string[] = [];
    for await (const l of r.logs()) lines.push(`${l.stream}:${l.message}`);
    expect(lines).toContain('stdout:sandbox says 7 {"ok":true}');
    expect(lines).toContain("stderr:and warns");
  });

  it("many sandboxes run side by side in one process, each with its own limits", async () => {
    const spin = env.sandbox.orchestrator({ timeoutMs: 100 }, async function spin() {
      while (true) {
        /* never ends */
      }
    });
    const runs = await Promise.all([...Array.from({ length: 12 }, (_, n) => run(bare, { n })), run(spin)]);
    const outs = await Promise.all(runs.map((r) => r.outputs().catch((e: Error) => e.name)));
    expect(outs).toEqual([...Array.from({ length: 12 }, (_, n) => (n + 1) * 2), "SandboxTimeoutError"]);
  });

  it("tasks defined after the orchestrator are callable (the environment is read at run time)", async () => {
    const e3 = new TaskEnvironment({ name: "sbx-forms-late" });
    const early = e3.sandbox.orchestrator("await late({})", { name: "early", inputs: {} });
    e3.task(async function late() {
      return "late";
    });
    expect(await (await run(early, {})).outputs()).toBe("late");
  });
});
