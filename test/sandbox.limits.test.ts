/**
 * Sandbox limits: CPU time (timeoutMs, infinite loops included, time awaiting tasks excluded), memory
 * (maxMemory) and stack depth (maxStackDepth) each fail the orchestrator with its own named error that
 * states the limit; the option values themselves are validated at definition.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { TaskEnvironment, run } from "flyte-ts";
import { SandboxError, SandboxMemoryError, SandboxTimeoutError, ValidationError } from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

beforeAll(async () => {
  await freshRuntime("flyte-sandbox-");
});

const env = new TaskEnvironment({ name: "sbx-limits" });
const nap = env.task(async function nap({ ms }: { ms: number }) {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
});

/** Runs a code orchestrator with the given limits and returns what `outputs()` throws (or resolves to). */
async function outcome(code: string, o: { timeoutMs?: number; maxMemory?: number; maxStackDepth?: number } = {}): Promise<unknown> {
  const name = `c${Math.random().toString(36).slice(2, 10)}`;
  const t = env.sandbox.orchestrator(code, { name, inputs: {}, ...o });
  const r = await run(t, {});
  return r.outputs().catch((e: unknown) => e);
}

describe("timeoutMs", () => {
  it("stops a synchronous infinite loop with SandboxTimeoutError naming the limit", async () => {
    const started = Date.now();
    const err = await outcome("while (true) {}", { timeoutMs: 200 });
    expect(err).toBeInstanceOf(SandboxTimeoutError);
    expect((err as SandboxTimeoutError).code).toBe("SandboxTimeout");
    expect((err as Error).message).toMatch(/timeoutMs of 200 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("cannot be caught by the sandboxed code", async () => {
    const err = await outcome("for (;;) { try { while (true) {} } catch (e) { } }", { timeoutMs: 150 });
    expect(err).toBeInstanceOf(SandboxTimeoutError);
  });

  it("stops an asynchronous busy loop (await in a loop never yields to the host)", async () => {
    const err = await outcome("let i = 0; while (true) { await null; i++; }", { timeoutMs: 150 });
    expect(err).toBeInstanceOf(SandboxTimeoutError);
  });

  it("counts only time executing sandbox code, not time awaiting tasks", async () => {
    const out = await outcome("await nap({ ms: 250 }); await nap({ ms: 250 }); 'rested'", { timeoutMs: 100 });
    expect(out).toBe("rested");
  });

  it("defaults to 30 s", async () => {
    const t = env.sandbox.orchestrator("1", { name: "dflt", inputs: {} });
    expect(t.sandbox.timeoutMs).toBe(30_000);
  });
});

describe("aborting", () => {
  it("aborting the run stops a sandbox that is waiting on a task", async () => {
    const waits = env.sandbox.orchestrator("await nap({ ms: 1500 }); 'finished'", { name: "waits", inputs: {} });
    const r = await run(waits, {});
    // Abort once the sandbox is really waiting on its nap (recorded as a running child), not at a guessed time.
    const napping = async () => (await r.details()).root.children.some((c) => c.taskName.endsWith("nap") && c.phase === "running");
    for (const end = Date.now() + 10_000; !(await napping()); ) {
      if (Date.now() > end) throw new Error("the sandbox did not call nap within 10 s");
      await new Promise((res) => setTimeout(res, 10));
    }
    const started = Date.now();
    await r.abort("test abort");
    const err = await r.outputs().catch((e: unknown) => e);
    expect((err as Error).name).toBe("ActionAbortedError");
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("maxMemory", () => {
  const MiB = 1024 * 1024;
  it.each([
    ["a huge array", "new Array(1e8).fill(0).length"],
    ["a growing array of objects", "const a = []; while (true) a.push({ i: a.length, s: 'x' + a.length });"],
    ["a huge string", "let s = 'x'; while (true) s = s + s; s.length"],
    ["a huge typed array", "new Uint8Array(64 * 1024 * 1024).length"],
  ])("stops %s with SandboxMemoryError naming the limit", async (_what, code) => {
    const err = await outcome(code, { maxMemory: 8 * MiB, timeoutMs: 10_000 });
    expect(err).toBeInstanceOf(SandboxMemoryError);
    expect((err as SandboxMemoryError).code).toBe("SandboxMemoryLimit");
    expect((err as Error).message).toContain(`maxMemory of ${8 * MiB} bytes (8 MiB)`);
  });

  it("lets code that stays under the limit allocate freely", async () => {
    expect(await outcome("new Array(100000).fill(1).reduce((a, b) => a + b, 0)", { maxMemory: 8 * MiB })).toBe(100000);
  });

  it("defaults to 50 MiB", () => {
    const t = env.sandbox.orchestrator("1", { name: "dfltMem", inputs: {} });
    expect(t.sandbox.maxMemory).toBe(50 * MiB);
  });
});

describe("maxStackDepth", () => {
  it("stops runaway recursion with SandboxError code SandboxStackOverflow", async () => {
    const err = await outcome("function f(n) { return f(n + 1) + 1; }\nf(0)");
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe("SandboxStackOverflow");
    expect((err as Error).message).toMatch(/maxStackDepth of 256/);
  });

  it("allows about maxStackDepth nested calls", async () => {
    const depth = (n: number) => `let d = 0; function f() { d++; f(); }\ntry { f(); } catch (e) {}\nd`;
    const at64 = (await outcome(depth(0), { maxStackDepth: 64 })) as number;
    const at512 = (await outcome(depth(0), { maxStackDepth: 512 })) as number;
    expect(at64).toBeGreaterThanOrEqual(64);
    expect(at512).toBeGreaterThanOrEqual(512);
    expect(at512).toBeLessThan(4 * 512);
  });

  it("also bounds async recursion", async () => {
    const err = await outcome("async function f() { return await f(); }\nawait f()", { maxStackDepth: 64 });
    expect((err as SandboxError).code).toBe("SandboxStackOverflow");
  });
});

describe("option validation", () => {
  it.each([
    [{ timeoutMs: 0 }, /timeoutMs must be a positive number/],
    [{ timeoutMs: "5s" }, /timeoutMs must be a positive number/],
    [{ maxMemory: 1000 }, /maxMemory must be an integer number of bytes between/],
    [{ maxStackDepth: 100_000 }, /maxStackDepth must be an integer between 16 and 512/],
    [{ typeCheck: "yes" }, /typeCheck must be true or false/],
    [{ timeout: 5 }, /Unknown option "timeout"/],
    [{ tasks: ["add"] }, /tasks must contain tasks made with env.task/],
  ])("rejects %o", (o, message) => {
    expect(() => env.sandbox.orchestrator(o as never, async function bad() {})).toThrow(ValidationError);
    expect(() => env.sandbox.orchestrator(o as never, async function bad2() {})).toThrow(message);
  });

  it("code-string form requires inputs with schemas", () => {
    expect(() => env.sandbox.orchestrator("1", {} as never)).toThrow(/inputs is required/);
    expect(() => env.sandbox.orchestrator("1", { name: "q1", inputs: { x: 1 } } as never)).toThrow(/input "x" must be a schema/);
    expect(() => env.sandbox.orchestrator("1", { name: "q2", inputs: { "not-an-id": z.number() } })).toThrow(/cannot be a JavaScript variable/);
    expect(() => env.sandbox.orchestrator("1", { name: "q3", inputs: { class: z.number() } })).toThrow(/cannot be a JavaScript variable/);
  });
});
