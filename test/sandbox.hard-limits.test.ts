/**
 * Hard sandbox limits (issue #13 item 5): the orchestrator runs on a worker thread, so a single long native
 * operation cannot overshoot timeoutMs and succeed, an endless loop never blocks the host's event loop, and
 * an abort stops it at once; what leaves the sandbox (error text, values) is size-capped; allocations
 * QuickJS refuses by size and deep JSON.parse map to the memory and stack limit errors.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TaskEnvironment, run } from "flyte-ts";
import { RuntimeUserError, SandboxError, SandboxMemoryError, SandboxTimeoutError } from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

beforeAll(async () => {
  await freshRuntime("flyte-sandbox-hard-");
});

const env = new TaskEnvironment({ name: "sbx-hard" });
const echo = env.task(async function echo(inputs: Record<string, unknown>) {
  return inputs;
});
void echo;

let seq = 0;
async function outcome(code: string, o: { timeoutMs?: number; maxMemory?: number } = {}): Promise<unknown> {
  const t = env.sandbox.orchestrator(code, { name: `hard${seq++}`, inputs: {}, ...o });
  const r = await run(t, {});
  return r.outputs().catch((e: unknown) => e);
}

/** A native operation QuickJS runs without any interrupt check: several seconds on the development machine. */
const LONG_NATIVE = "String(3n ** 600000n).length";

describe("timeoutMs is a hard limit", () => {
  it("a single long native operation is stopped at the deadline instead of finishing and succeeding", async () => {
    expect(await outcome("1")).toBe(1); // the first attempt in a process waits for a worker thread to start
    const started = Date.now();
    const err = await outcome(LONG_NATIVE, { timeoutMs: 200 });
    expect(err).toBeInstanceOf(SandboxTimeoutError);
    expect((err as Error).message).toMatch(/timeoutMs of 200 ms/);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("an endless loop of long native operations does not block the host's event loop (timers keep firing)", async () => {
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 10);
    try {
      const err = await outcome(`while (true) ${LONG_NATIVE};`, { timeoutMs: 1_000 });
      expect(err).toBeInstanceOf(SandboxTimeoutError);
    } finally {
      clearInterval(timer);
    }
    expect(maxGap).toBeLessThan(400);
  });

  it("aborting the run stops a long native operation at once", async () => {
    const t = env.sandbox.orchestrator(LONG_NATIVE, { name: "abortNative", inputs: {}, timeoutMs: 60_000 });
    const r = await run(t, {});
    await new Promise((res) => setTimeout(res, 300));
    const started = Date.now();
    await r.abort("test abort");
    const err = await r.outputs().catch((e: unknown) => e);
    expect((err as Error).name).toBe("ActionAbortedError");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("the next attempt after a terminated one runs normally", async () => {
    expect(await outcome(LONG_NATIVE, { timeoutMs: 100 })).toBeInstanceOf(SandboxTimeoutError);
    expect(await outcome("[1, 2, 3].map((x) => x * 2)")).toEqual([2, 4, 6]);
  });
});

describe("what leaves the sandbox is size-capped", () => {
  it("a 20 MiB error message reaches the host cut to 16 KiB, saying so", async () => {
    const err = await outcome("throw new Error('x'.repeat(20 * 1024 * 1024))", { maxMemory: 100 * 1024 * 1024 });
    expect(err).toBeInstanceOf(RuntimeUserError);
    const message = (err as Error).message;
    expect(message.length).toBeLessThan(17_000);
    expect(message).toMatch(/… \[\d+ more characters cut\]/);
  });

  it("an output over 10 MiB of JSON is a SandboxError naming the limit", async () => {
    const err = await outcome("'x'.repeat(11 * 1024 * 1024)");
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe("SandboxValueTooLarge");
    expect((err as Error).message).toMatch(/the output is \d+ characters of JSON, more than the 10485760 \(10 MiB\) a value may carry out of the sandbox/);
  });

  it("task inputs over the cap fail the call inside the sandbox, where the code can catch it", async () => {
    const out = await outcome("let r;\ntry { await echo({ s: 'x'.repeat(11 * 1024 * 1024) }); r = 'sent'; } catch (e) { r = e.name + ': ' + e.message.slice(0, 40); }\nr");
    expect(out).toMatch(/^SandboxValueTooLarge: the inputs of task "echo" is \d+ c/);
  });
});

describe("allocations refused by size and deep parsing map to the limit errors", () => {
  it.each([
    ["new ArrayBuffer(2 ** 31)", "new ArrayBuffer(2 ** 31).byteLength"],
    ["a huge BigInt", "(2n ** 100000000n) > 1n"],
    ["a string past the engine's length limit", "'x'.repeat(2 ** 30).length"],
  ])("%s is a SandboxMemoryError", async (_what, code) => {
    const err = await outcome(code);
    expect(err).toBeInstanceOf(SandboxMemoryError);
    expect((err as SandboxMemoryError).code).toBe("SandboxMemoryLimit");
  });

  it("a deeply nested JSON.parse is a SandboxStackOverflow", async () => {
    const err = await outcome("JSON.parse('['.repeat(100000) + ']'.repeat(100000)).length");
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe("SandboxStackOverflow");
  });
});
