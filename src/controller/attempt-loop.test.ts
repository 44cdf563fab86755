/**
 * The attempt loop's clock: backoff between retries, maxRuntime, maxQueuedTime and the deadline, driven through
 * the public run() with fake timers. Only setTimeout/clearTimeout and Date are faked; setImmediate stays real, so
 * the runtime's event-loop turns (admission, store commits) run as usual and `until` can wait for them without
 * sleeping. Delays of tens of seconds therefore cost nothing, and each bound is checked to the millisecond.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { TaskTimeoutError } from "../errors.ts";
import { Backoff, RetryStrategy, TaskEnvironment, ctx, init, run, withRunContext } from "../index.ts";

beforeAll(async () => {
  await init({ root: mkdtempSync(join(tmpdir(), "flyte-attempt-loop-")) });
});
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Real event-loop turns until `cond` holds: what the runtime does between timers. Bounded by real time
 * (performance.now is not faked), not by a count of turns, so a loaded machine does not make it give up early.
 */
async function until(cond: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  const end = performance.now() + limitMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what} did not happen within ${limitMs} ms of event-loop turns`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Lets the runtime take `n` real event-loop turns: time for anything that was going to happen without a timer. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * What `p` settles to (a rejection's reason as the value), waiting real turns only: under fake timers a promise
 * that waits for a timer nobody advances would otherwise hang the test until its timeout.
 */
async function settled<T>(p: Promise<T>, what: string): Promise<T | unknown> {
  let out: { v: T | unknown } | undefined;
  p.then((v) => (out = { v }), (e: unknown) => (out = { v: e }));
  await until(() => out !== undefined, what);
  return out!.v;
}

/** A promise that settles only when the attempt's signal aborts (a task that honours ctx().signal). */
const untilAborted = () => {
  const signal = ctx()!.signal;
  return new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true }));
};

const env = new TaskEnvironment({ name: "attempt-loop" });

describe("backoff between retries", () => {
  it("waits base * factor ** n before retry n, measured on the fake clock", async () => {
    const starts: number[] = [];
    const flaky = env.task(
      { retries: new RetryStrategy({ count: 2, backoff: new Backoff({ base: "10s", factor: 3, cap: "1m" }) }) },
      async function backedOff() {
        starts.push(Date.now());
        if (starts.length < 3) throw new Error(`failure ${starts.length}`);
        return starts.length;
      },
    );
    const r = await run(flaky);
    await until(() => starts.length === 1, "the first attempt");
    // One millisecond short of the first delay (10 s), the retry has not started; at 10 s it has.
    await vi.advanceTimersByTimeAsync(9_999);
    await turns(20);
    expect(starts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => starts.length === 2, "the second attempt");
    // The second delay is 30 s (10 s * 3).
    await vi.advanceTimersByTimeAsync(29_999);
    await turns(20);
    expect(starts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => starts.length === 3, "the third attempt");
    expect(await settled(r.outputs(), "the run to end")).toBe(3);
    expect([starts[1]! - starts[0]!, starts[2]! - starts[1]!]).toEqual([10_000, 30_000]);
    expect((await r.details()).root.attempts.map((a) => a.phase)).toEqual(["failed", "failed", "succeeded"]);
  });

  it("a backoff that would end past the deadline fails at once with the deadline error", async () => {
    let calls = 0;
    const t = env.task(
      { retries: new RetryStrategy({ count: 3, backoff: new Backoff({ base: "1m" }) }), timeout: { deadline: "30s" } },
      async function tooLateToRetry() {
        calls++;
        throw new Error("fails");
      },
    );
    const r = await run(t);
    // No timer needs to fire: the loop sees that a 60 s wait cannot fit in a 30 s deadline.
    const e = await settled(r.outputs(), "the run to fail");
    expect(e).toBeInstanceOf(TaskTimeoutError);
    expect((e as TaskTimeoutError).bound).toBe("deadline");
    expect((e as Error).message).toBe('Task "attempt-loop.tooLateToRetry" exceeded its deadline of 30s across all attempts. Raise timeout.deadline or make the task faster.');
    expect(calls).toBe(1);
  });
});

describe("timeouts", () => {
  it("maxRuntime aborts the attempt's signal at exactly its bound, and the retry gets a fresh attempt", async () => {
    const aborted: number[] = [];
    const starts: number[] = [];
    const slow = env.task({ timeout: "5s", retries: 1 }, async function slowAttempt() {
      starts.push(Date.now());
      try {
        return await untilAborted();
      } finally {
        aborted.push(Date.now());
      }
    });
    const r = await run(slow);
    await until(() => starts.length === 1, "the first attempt");
    await vi.advanceTimersByTimeAsync(4_999);
    expect(aborted).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await until(() => starts.length === 2, "the retry");
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await settled(r.wait(), "the run to end")).toBe("timed_out");
    expect([aborted[0]! - starts[0]!, aborted[1]! - starts[1]!]).toEqual([5_000, 5_000]);
    const e = (await settled(r.outputs(), "the run to fail")) as TaskTimeoutError;
    expect(e.bound).toBe("maxRuntime");
    expect(e.message).toMatch(/^Task "attempt-loop.slowAttempt" attempt #1 ran longer than its maxRuntime of 5s and was aborted/);
    expect((await r.details()).root.attempts.map((a) => a.phase)).toEqual(["timed_out", "timed_out"]);
  });

  it("the deadline ends a running attempt and is never retried", async () => {
    let calls = 0;
    const t = env.task({ timeout: { deadline: "20s" }, retries: 5 }, async function pastDeadline() {
      calls++;
      return await untilAborted();
    });
    const r = await run(t);
    await until(() => calls === 1, "the first attempt");
    await vi.advanceTimersByTimeAsync(19_999);
    await turns(20);
    expect(await r.phase()).toBe("running");
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(r.wait(), "the run to end")).toBe("timed_out");
    const e = (await settled(r.outputs(), "the run to fail")) as TaskTimeoutError;
    expect(e.bound).toBe("deadline");
    expect(calls).toBe(1);
  });

  it("maxQueuedTime fails a call that waits longer than its bound for a concurrency slot", async () => {
    let holdStarted = false;
    let release!: () => void;
    const hold = env.task(async function holdSlot() {
      holdStarted = true;
      await new Promise<void>((res) => (release = res));
      return "held";
    });
    const queued = env.task({ timeout: { maxQueuedTime: "2s" } }, async function queuedCall() {
      return "ran";
    });
    const after = env.task(async function afterQueued() {
      return "after";
    });
    const fan = env.task(async function queueFan() {
      const [a, b] = await Promise.allSettled([hold(), queued()]);
      // The waiter that timed out gave its place up: the slot holdSlot frees goes to the next call.
      return [a.status, b.status === "rejected" ? (b.reason as TaskTimeoutError).bound : b.status, await after()];
    });
    // The root holds one of the two slots and holdSlot the other, so queuedCall waits.
    const r = await withRunContext({ maxActionConcurrency: 2 }).run(fan);
    await until(() => holdStarted, "holdSlot to start");
    await vi.advanceTimersByTimeAsync(1_999);
    await turns(20);
    expect(await r.phase()).toBe("running");
    await vi.advanceTimersByTimeAsync(1);
    await turns(20);
    release();
    expect(await settled(r.outputs(), "the run to end")).toEqual(["fulfilled", "maxQueuedTime", "after"]);
  });
});
